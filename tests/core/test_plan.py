"""The plan of a matrix: shapes, mode and boundary as fields, the key caches use."""

from __future__ import annotations

import pytest

from convmat._core.plan import checked_plan, make_plan


def test_a_plan_carries_its_mode_boundary_and_centring():
    plan = make_plan((5, 6), (2, 3), "same", "symmetric", corr=True)
    assert (plan.mode, plan.boundary, plan.corr) == ("same", "symm", True)
    assert plan.output_shape == (5, 6)
    assert plan.shape == (30, 30)


def test_the_key_tells_plans_apart_and_equal_plans_alike():
    """Caches key engines by the plan: what changes the matrix changes the key."""
    base = make_plan((5, 6), (2, 3), "same", "fill")
    assert base.key == make_plan((5, 6), (2, 3), "same", "pad").key
    others = [
        make_plan((5, 7), (2, 3), "same", "fill"),
        make_plan((5, 6), (3, 3), "same", "fill"),
        make_plan((5, 6), (2, 3), "full", "fill"),
        make_plan((5, 6), (2, 3), "same", "wrap"),
        make_plan((5, 6), (2, 3), "same", "fill", corr=True),
    ]
    assert len({base.key, *(p.key for p in others)}) == 1 + len(others)


def test_checked_plan_refuses_before_it_plans():
    with pytest.raises(ValueError, match="`mode` must be one of"):
        checked_plan([[1, 2]], (3, 4), "middle", "fill")
    with pytest.raises(ValueError, match="boundary"):
        checked_plan([[1, 2]], (3, 4), "full", "edge")
