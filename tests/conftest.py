"""Hypothesis profiles: deterministic by default, more examples in CI."""

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("default", max_examples=60, **_COMMON)
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
