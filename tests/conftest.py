"""Hypothesis profiles, and caches emptied around every test.

Deterministic by default, more examples in CI, fewer under mutation testing
(``make mutation``) and in CI's pass without the extras (``make test-core``,
whose point is that nothing there needs them). The shape-keyed caches (axis
maps, layer maps, the engine cache of the one-shot functions) are cleared
before each test, so that no test passes on a result computed by another
one, which matters when a mutant replaces the code that filled the cache.
"""

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from convmat._core import index as _index
from convmat._engines import cache as _plans
from convmat.nn import _layer

_COMMON = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("default", max_examples=60, **_COMMON)
settings.register_profile("ci", max_examples=200, **_COMMON)
# the second CI pass, without the extras: what it checks is that nothing needs them
settings.register_profile("quick", max_examples=10, **_COMMON)
# a mutant is killed by the first failing example: no shrinking of it
settings.register_profile(
    "mutation", max_examples=10, phases=[Phase.explicit, Phase.generate], **_COMMON
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    _index.axis_map.cache_clear()
    _layer._layer_axis.cache_clear()
    _plans.clear()
