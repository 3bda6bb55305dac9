"""The blocked geometry: extensions against numpy's pad, chunk arithmetic, the fold."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from convmat import conv2d, correlate2d
from convmat._core.halo import axis_halo, fold_targets, output_chunks, window_chunks
from helpers import geometries

_PAD = {"wrap": "wrap", "symm": "symmetric"}


def _partition(n: int) -> st.SearchStrategy[tuple[int, ...]]:
    """Chunk sizes summing to `n`, every one positive."""
    return st.lists(st.integers(1, n), min_size=1, max_size=n).map(
        lambda cuts: _cut(n, sorted({c for c in cuts if c < n}))
    )


def _cut(n: int, cuts: list[int]) -> tuple[int, ...]:
    edges = [0, *cuts, n]
    return tuple(b - a for a, b in itertools.pairwise(edges))


@given(geometries(side=9), st.booleans())
def test_window_is_the_input_extended_and_valid_gives_the_output(geom, corr) -> None:
    """The window's 'valid' convolution is the mode's output, with `source` its extension."""
    mode, boundary, (n0, n1), kshape = geom
    rng = np.random.default_rng(0)
    x = rng.integers(-9, 9, (n0, n1))
    k = rng.integers(-9, 9, kshape)
    halos = [
        axis_halo(n, m, mode, boundary, corr=corr) for n, m in zip((n0, n1), kshape, strict=True)
    ]
    window = x
    for axis, h in enumerate(halos):
        assert h.before >= 0
        assert h.after >= 0
        assert h.left + h.right == h.m - 1
        assert h.span == h.length + h.m - 1
        index = np.concatenate([h.source[: h.before], np.arange(h.n), h.source[h.before :]])
        window = np.take(
            np.pad(window, [(0, 1) if d == axis else (0, 0) for d in (0, 1)]),
            np.where(index < 0, h.n, index),
            axis=axis,
        )
    fn = correlate2d if corr else conv2d
    np.testing.assert_array_equal(fn(window, k, "valid"), fn(x, k, mode, boundary))


@pytest.mark.parametrize("boundary", ["wrap", "symm"])
@given(n=st.integers(1, 12), m=st.integers(1, 12), mode=st.sampled_from(["full", "same"]))
def test_source_is_numpys_padding(boundary, n, m, mode) -> None:
    h = axis_halo(n, m, mode, boundary, corr=False)
    padded = np.pad(np.arange(n), (h.before, h.after), mode=_PAD[boundary])
    np.testing.assert_array_equal(h.source, np.delete(padded, np.s_[h.before : h.before + n]))


@given(
    st.integers(1, 30).flatmap(lambda n: st.tuples(st.just(n), _partition(n))),
    st.integers(1, 7),
    st.sampled_from(["full", "same", "valid"]),
)
def test_output_chunks_add_up_to_the_output(nc, m, mode) -> None:
    n, chunks = nc
    if mode == "valid" and n < m:
        n, chunks = m, (*chunks[:-1], chunks[-1] + m - n)
    h = axis_halo(n, m, mode, "fill", corr=False)
    window = window_chunks(chunks, h)
    assert sum(window) == h.span
    if min(window) > max(h.left, h.right):
        out = output_chunks(window, h)
        assert sum(out) == h.length
        assert min(out) >= 1
        if mode == "same":
            assert out == chunks


def test_same_mode_borrows_what_it_extends() -> None:
    h = axis_halo(10, 4, "same", "fill", corr=False)
    assert (h.before, h.after, h.left, h.right) == (2, 1, 2, 1)
    h = axis_halo(10, 4, "same", "fill", corr=True)
    assert (h.before, h.after, h.left, h.right) == (1, 2, 1, 2)
    h = axis_halo(10, 5, "full", "fill", corr=False)
    assert (h.before, h.after, h.left, h.right) == (4, 4, 2, 2)
    assert output_chunks((8, 6), h) == (6, 4)


@pytest.mark.parametrize("boundary", ["wrap", "symm"])
@given(n=st.integers(1, 14), m=st.integers(1, 9), mode=st.sampled_from(["full", "same"]))
def test_fold_is_the_transpose_of_the_extension(boundary, n, m, mode) -> None:
    """Folding the extension's values back equals the transpose of the copy it made."""
    h = axis_halo(n, m, mode, boundary, corr=False)
    ext = h.before + h.after
    copy = np.zeros((ext, n), dtype=np.int64)  # extension position <- input
    copy[np.arange(ext), h.source] = 1
    edge, matrix = fold_targets(h)
    if edge == n:
        np.testing.assert_array_equal(matrix, copy.T)
    else:
        assert 2 * edge <= n
        np.testing.assert_array_equal(matrix[:edge], copy.T[:edge])
        np.testing.assert_array_equal(matrix[edge:], copy.T[n - edge :])
        assert not copy.T[edge : n - edge].any()


def test_fill_has_nothing_to_fold() -> None:
    h = axis_halo(10, 3, "full", "fill", corr=False)
    assert (h.source == -1).all()
    _, matrix = fold_targets(h)
    assert not matrix.any()
