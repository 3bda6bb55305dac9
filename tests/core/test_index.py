"""Per-axis index maps: the structure every matrix is built from."""

import numpy as np
import pytest

from convmat._core.index import axis_map, output_length


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize(("n", "m"), [(5, 3), (3, 5), (1, 7), (6, 6), (4, 1)])
def test_map_is_consistent(n, m, mode, boundary):
    mp = axis_map(n, m, mode, boundary)
    assert mp.raw.shape == (output_length(n, m, mode), m)
    assert ((mp.raw >= -1) & (mp.raw < n)).all()
    for o in range(mp.length):
        inside = mp.raw[o][mp.raw[o] >= 0]
        cols = mp.cols[o, : mp.counts[o]]
        np.testing.assert_array_equal(cols, np.unique(inside))
        for j in range(m):
            if mp.raw[o, j] >= 0:
                assert mp.cols[o, mp.slot[o, j]] == mp.raw[o, j]
            else:
                assert mp.slot[o, j] == -1
    assert mp.folded == any(len(np.unique(r[r >= 0])) != (r >= 0).sum() for r in mp.raw)


def test_symm_folds_and_fill_does_not():
    assert axis_map(5, 3, "same", "symm").folded
    assert not axis_map(5, 3, "same", "fill").folded
    assert not axis_map(5, 3, "same", "wrap").folded
    assert axis_map(2, 5, "same", "wrap").folded


def test_valid_ignores_boundary():
    a = axis_map(6, 3, "valid", "symm")
    b = axis_map(6, 3, "valid", "fill")
    np.testing.assert_array_equal(a.raw, b.raw)


def test_cached_and_read_only():
    a = axis_map(7, 3, "full", "fill")
    assert a is axis_map(7, 3, "full", "fill")
    with pytest.raises(ValueError, match="read-only"):
        a.raw[0, 0] = 5


@pytest.mark.parametrize(
    ("n", "m", "mode", "boundary", "reads"),
    [
        (5, 3, "full", "fill", 1),
        (2, 2, "full", "wrap", 2),
        (1, 5, "full", "wrap", 5),
        (3, 3, "same", "symm", 2),
    ],
)
def test_reads_counts_outputs_per_input_and_tap(n, m, mode, boundary, reads):
    mp = axis_map(n, m, mode, boundary)
    expected = max(
        int(np.bincount(mp.raw[:, j][mp.raw[:, j] >= 0]).max(initial=1)) for j in range(m)
    )
    assert mp.reads == expected == reads


def _reads_from_raw(raw: np.ndarray) -> int:
    return max(
        (int(np.bincount(raw[:, j][raw[:, j] >= 0]).max(initial=1)) for j in range(raw.shape[1])),
        default=1,
    )


@pytest.mark.parametrize("corr", [False, True])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_shape_derived_properties_match_the_maps(mode, boundary, corr):
    # folded, reads and the nonzeros come from the window in O(n + m); the maps are
    # the brute-force reference
    pad = {"fill": "constant", "wrap": "wrap", "symm": "symmetric"}
    for n in range(1, 10):
        for m in range(1, 12):
            mp = axis_map(n, m, mode, boundary, corr)
            ref = mp.raw
            full = np.pad(np.arange(n), m - 1, mode=pad["fill" if mode == "valid" else boundary])
            if boundary == "fill" or mode == "valid":
                full = np.pad(np.arange(n), m - 1, constant_values=-1)
            np.testing.assert_array_equal(mp.window, full[mp.start : mp.start + mp.span])
            assert mp.reads == _reads_from_raw(ref), (n, m)
            folded = any(len(np.unique(r[r >= 0])) != (r >= 0).sum() for r in ref)
            assert mp.folded == folded, (n, m)
            if mp.input_run is not None:
                assert mp.nnz_estimate == mp.nnz == int((ref >= 0).sum())
            else:
                assert mp.nnz_estimate >= mp.nnz


def test_rows_are_the_rows_of_the_map():
    mp = axis_map(7, 4, "same", "symm")
    picks = np.array([6, 0, 3, 3])
    np.testing.assert_array_equal(mp.rows(picks), mp.raw[picks])


def test_long_wrap_counts_every_return():
    # a kernel 40 times the input: each input comes back under one tap 40 times or so
    mp = axis_map(3, 120, "full", "wrap")
    assert mp.reads == _reads_from_raw(mp.raw) > 30


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_zero_padded_maps_without_sorting_equal_the_sorted_ones(mode):
    for n in range(1, 9):
        for m in range(1, 9):
            mp = axis_map(n, m, mode, "fill")
            slow = mp._sorted_structure()
            for name in ("cols", "counts", "slot", "taps"):
                np.testing.assert_array_equal(getattr(mp, name), getattr(slow, name), name)
            assert mp.folded == slow.folded is False


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_a_block_of_rows_is_those_rows_of_the_map(mode, boundary):
    for n, m in [(9, 4), (4, 9), (12, 1), (3, 7)]:
        mp = axis_map(n, m, mode, boundary)
        for lo, hi in [(0, 1), (1, mp.length), (mp.length // 2, mp.length)]:
            if lo >= hi:
                continue
            sub = mp.block(lo, hi)
            np.testing.assert_array_equal(sub.raw, mp.raw[lo:hi])
            np.testing.assert_array_equal(sub.counts, mp.counts[lo:hi])
            np.testing.assert_array_equal(sub.slot, mp.slot[lo:hi])
            for name in ("cols", "taps"):
                np.testing.assert_array_equal(
                    getattr(sub, name)[:, : sub.width],
                    getattr(mp, name)[lo:hi, : sub.width],
                    name,
                )
