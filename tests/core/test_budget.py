"""The memory guard: sizes from shapes, refused before anything large exists; the budget obeyed."""

import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest
import scipy.signal as ss

import convmat
from convmat import nn
from convmat._core.budget import human_bytes

SMALL_PEAK = 8 * 2**20  # far below any per-axis map of the refused shapes


def _refused_with_small_peak(call: Callable[[], object]) -> str:
    """Run `call`, which must refuse with MatrixTooLargeError; return the message."""
    tracemalloc.start()
    try:
        with pytest.raises(convmat.MatrixTooLargeError) as info:
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < SMALL_PEAK, peak
    return str(info.value)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc", "coo"])
def test_huge_2d_refused_before_any_map(fmt):
    msg = _refused_with_small_peak(
        lambda: convmat.conv_matrix(np.ones((5, 5)), (5_000_000, 5_000_000), format=fmt)
    )
    assert "(25000040000016, 25000000000000)" in msg


@pytest.mark.parametrize("fmt", ["dense", "csr", "coo"])
def test_huge_1d_is_matrix_too_large_not_bare_memory_error(fmt):
    msg = _refused_with_small_peak(lambda: convmat.conv_matrix(np.ones(1), (2**40,), format=fmt))
    assert f"{2**40:,}" in msg or "1099511627776" in msg


def test_huge_nd_refused():
    _refused_with_small_peak(
        lambda: convmat.conv_matrix(np.ones((3, 3, 3)), (10**5, 10**5, 10**5), format="csr")
    )


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_huge_layer_refused(fmt):
    msg = _refused_with_small_peak(
        lambda: nn.conv2d_matrix(np.ones((4, 3, 3, 3)), (3, 200_000, 200_000), format=fmt)
    )
    assert "max_dense_bytes=" not in msg


def test_plan_of_a_huge_axis_costs_nothing_until_its_maps_are_asked_for():
    from convmat._core.plan import make_plan

    plan = make_plan((2**40,), (3,), "full", "fill")
    tracemalloc.start()
    try:
        axis = plan.maps[0]
        assert (axis.length, axis.input_run, axis.reads, axis.folded) == (
            2**40 + 2,
            slice(2, 2**40 + 2),
            1,
            False,
        )
        assert plan.nnz_estimate == 3 * 2**40
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    msg = _refused_with_small_peak(lambda: axis.raw)
    assert "method='shift' or 'fft'" in msg


class TestBudgetObeyed:
    def setup_method(self):
        self.previous = convmat.set_max_dense_bytes(1000)

    def teardown_method(self):
        convmat.set_max_dense_bytes(self.previous)

    def test_auto_never_picks_dense_over_the_budget(self):
        x, k = np.ones((4, 5)), np.ones((3, 2))
        np.testing.assert_allclose(convmat.conv2d(x, k), ss.convolve2d(x, k), rtol=1e-15)
        op = convmat.ConvOperator(k, (4, 5))
        assert op.method_for(1) != "dense"
        np.testing.assert_allclose(op(x), ss.convolve2d(x, k), rtol=1e-15)

    def test_operator_message_names_its_own_arguments(self):
        with pytest.raises(convmat.MatrixTooLargeError) as info:
            convmat.ConvOperator(np.ones((3, 3)), (20, 20), method="dense")
        msg = str(info.value)
        assert "method='sparse'" in msg
        assert "format=" not in msg
        assert "max_dense_bytes=" not in msg

    def test_layer_message_names_its_own_arguments(self):
        with pytest.raises(convmat.MatrixTooLargeError) as info:
            nn.conv2d_matrix(np.ones((2, 1, 3, 3)), (1, 10, 10), format="dense")
        msg = str(info.value)
        assert 'format="csr"' in msg
        assert "max_dense_bytes=" not in msg

    def test_toeplitz_blocks_refused_over_the_budget(self):
        with pytest.raises(convmat.MatrixTooLargeError, match="set_max_dense_bytes"):
            convmat.toeplitz_blocks(np.ones((3, 3)), (40, 40))

    def test_choice_follows_a_budget_raised_later(self):
        op = convmat.ConvOperator(np.ones((2, 2)), (6, 6))
        x = np.ones((1, 6, 6))
        before = op(x)
        convmat.set_max_dense_bytes(None)
        np.testing.assert_allclose(op(x), before, rtol=1e-15)


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [
        (0, "0 B"),
        (10, "10 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (2048, "2.0 KiB"),
        (3 * 2**20, "3.0 MiB"),
        (5 * 2**30, "5.0 GiB"),
        (2**41, "2.0 TiB"),
        (2**50, "1.0 PiB"),
        (2**61, "2.0 EiB"),
    ],
)
def test_human_bytes(nbytes, text):
    assert human_bytes(nbytes) == text


def test_dense_fits_up_to_exactly_the_budget():
    from convmat._core.budget import dense_fits
    from convmat._core.plan import make_plan

    plan = make_plan((4, 5), (3, 2), "full", "fill")
    need = plan.shape[0] * plan.shape[1] * 8
    previous = convmat.set_max_dense_bytes(need)
    try:
        assert dense_fits(plan, np.dtype(np.float64))
        convmat.set_max_dense_bytes(need - 1)
        assert not dense_fits(plan, np.dtype(np.float64))
    finally:
        convmat.set_max_dense_bytes(previous)


def test_dense_operator_refused_when_the_budget_shrinks_later():
    op = convmat.ConvOperator(np.ones((3, 3)), (20, 20), method="dense")
    previous = convmat.set_max_dense_bytes(1000)
    try:
        with pytest.raises(convmat.MatrixTooLargeError, match="method='sparse'"):
            op(np.ones((20, 20)))
    finally:
        convmat.set_max_dense_bytes(previous)


class TestBlockedBuild:
    @pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
    @pytest.mark.parametrize("mode", ["full", "same", "valid"])
    def test_blocks_of_rows_give_the_same_matrix(self, monkeypatch, mode, boundary):
        from convmat._core import csr as _build
        from convmat._core.plan import make_plan

        rng = np.random.default_rng(0)
        for shape, k in [
            ((40,), rng.integers(-9, 9, 5)),
            ((7, 9), rng.integers(-9, 9, (3, 4))),
            ((5, 4, 6), rng.standard_normal((2, 3, 2))),
        ]:
            whole = convmat.conv_matrix(k, shape, mode, boundary, format="csr")
            monkeypatch.setattr(_build, "BLOCK_BYTES", 1)  # one row of the first axis a block
            assert len(list(_build.row_blocks(make_plan(shape, k.shape, mode, boundary)))) > 1
            blocked = convmat.conv_matrix(k, shape, mode, boundary, format="csr")
            monkeypatch.undo()
            assert blocked.shape == whole.shape
            np.testing.assert_array_equal(blocked.indptr, whole.indptr)
            np.testing.assert_array_equal(blocked.indices, whole.indices)
            np.testing.assert_allclose(blocked.data, whole.data, rtol=1e-15)

    def test_a_long_signal_builds_its_matrix_within_a_small_multiple_of_it(self):
        from convmat._core import csr as _build

        tracemalloc.start()
        try:
            csr = convmat.conv_matrix(np.ones(31), (300_000,), "same", format="csr")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        size = csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes
        # in one piece the maps and padded entries of the (300000, 31) map took 4.1x the
        # matrix at its peak; in blocks of 64 MiB, the matrix and one block
        assert peak < 1.2 * size + 2 * _build.BLOCK_BYTES


def test_the_index_maps_of_an_axis_too_large_to_build_are_refused_with_sizes(monkeypatch):
    from convmat._core.budget import check_axis_map_fits

    monkeypatch.setattr("convmat._core.budget.machine_memory", lambda: 2**30)
    check_axis_map_fits(1000, 100)  # 6.4 MB: built
    need = 64 * 10**6 * 100
    with pytest.raises(
        convmat.MatrixTooLargeError,
        match=rf"^the index maps of one axis \(1,000,000 outputs by 100 taps\) need about "
        rf"{need:,} bytes \(6\.0 GiB\) to build, more than half of this machine's "
        r"1,073,741,824 bytes; a matrix this large cannot be built here: use a smaller input "
        r"or kernel, or apply the convolution with method='shift' or 'fft', which need no "
        r"matrix \(convmat\.ConvOperator\(\.\.\., method='fft'\) is a LinearOperator\)$",
    ):
        check_axis_map_fits(10**6, 100)


# -- the working-set budget ----------------------------------------------------------------
@pytest.fixture
def budget():
    """Set the working-set budget inside a test; the default comes back afterwards."""
    previous = convmat.set_max_working_bytes(None)
    yield convmat.set_max_working_bytes
    convmat.set_max_working_bytes(None)
    assert previous == convmat.get_max_working_bytes()


def test_the_working_budget_is_set_read_and_restored(budget):
    from convmat._core.budget import machine_memory

    default = convmat.get_max_working_bytes()
    assert default == machine_memory() // 2
    assert budget(12345) == default
    assert convmat.get_max_working_bytes() == 12345
    assert budget(np.int64(7)) == 12345
    assert budget(None) == 7
    assert convmat.get_max_working_bytes() == default


@pytest.mark.parametrize(
    ("value", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("1", TypeError)]
)
def test_a_bad_working_budget_is_refused_by_name(budget, value, error):
    with pytest.raises(error, match=r"`max_working_bytes` must be a non-negative integer"):
        budget(value)


CALLS = {
    "conv2d": lambda x: convmat.conv2d(x, np.ones((3, 3)), "same"),
    "convolve": lambda x: convmat.convolve(x, np.ones((3, 3)), "same"),
    "correlate": lambda x: convmat.correlate(x, np.ones((3, 3)), "same"),
    "conv_transpose2d": lambda x: convmat.conv_transpose2d(x, np.ones((3, 3)), "same"),
    "fftconvolve": lambda x: convmat.fftconvolve(x, np.ones((3, 3)), "same"),
    "operator": lambda x: convmat.ConvOperator(np.ones((3, 3)), x.shape, "same") @ x.ravel(),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_a_budget_below_the_result_is_refused_at_once(budget, name):
    x = np.ones((2000, 2000))  # 32 MB: its copy and result alone exceed 1 MB
    budget(2**20)
    start = time.perf_counter()
    msg = _refused_with_small_peak(lambda: CALLS[name](x))
    assert time.perf_counter() - start < 1.0
    assert "set_max_working_bytes" in msg
    assert "1,048,576 bytes" in msg
