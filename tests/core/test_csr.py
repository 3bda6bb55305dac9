"""The CSR assembly under every matrix: one unfolded entry per (output, tap) read."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import convmat
from convmat._core.csr import build_unfolded_coo
from convmat._core.plan import make_plan
from helpers import BOUNDARIES, MODES, valid_ok


@given(
    mode=st.sampled_from(MODES),
    boundary=st.sampled_from(BOUNDARIES),
    n=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    data=st.data(),
)
def test_unfolded_entries_sum_to_the_matrix(mode, boundary, n, data):
    """One entry per (output, tap) read: summed where a boundary folds taps together,
    they are conv_matrix's entries, in 1-D, 2-D and 3-D."""
    m = data.draw(st.lists(st.integers(1, 4), min_size=len(n), max_size=len(n)))
    if mode == "valid" and not valid_ok(tuple(n), tuple(m)):
        mode = "same"
    k = np.arange(1, int(np.prod(m)) + 1, dtype=np.int64).reshape(m)
    plan = make_plan(tuple(n), tuple(m), mode, boundary)
    coo = build_unfolded_coo(k, plan)
    assert coo.shape == plan.shape
    assert coo.row.dtype.kind == "i"
    assert coo.col.dtype.kind == "i"
    dense = np.zeros(plan.shape, dtype=np.int64)
    np.add.at(dense, (coo.row, coo.col), coo.data)
    np.testing.assert_array_equal(dense, convmat.conv_matrix(k, tuple(n), mode, boundary))
