"""The cost model: counts from shapes, and choices that follow from them."""

import numpy as np

from convmat import set_max_working_bytes
from convmat._core.plan import make_plan
from convmat._engines.cost import (
    DENSE_LIMIT,
    choose_method,
    fits,
    fix_up_bound_units,
    fix_up_box_units,
    fix_up_units,
    method_costs,
    retry_units,
    working_bytes,
)
from convmat._engines.engine import Engine


def _engine(k, n, mode="same"):
    return Engine(np.asarray(k), make_plan(n, np.shape(k), mode, "fill"))


def test_integer_engines_offer_exact_methods_only():
    costs = method_costs(_engine(np.ones((3, 3), np.int64), (32, 32)), 4, amortized=True)
    assert set(costs) == {"sparse", "shift"}


def test_dense_offered_only_within_its_limit():
    small = method_costs(_engine(np.ones((3, 3)), (16, 16)), 1, amortized=True)
    assert "dense" in small
    big = method_costs(_engine(np.ones((3, 3)), (200, 200)), 1, amortized=True)
    assert DENSE_LIMIT < 200**4 * 8
    assert "dense" not in big


def test_sparse_cost_grows_with_batch_and_kernel():
    e = _engine(np.ones((5, 5)), (64, 64))
    one = method_costs(e, 1, amortized=True)["sparse"]
    many = method_costs(e, 10, amortized=True)["sparse"]
    # the matrix is streamed once per call and the batch split over the cores
    assert one < many < 10 * one
    bigger = method_costs(_engine(np.ones((9, 9)), (64, 64)), 1, amortized=True)["sparse"]
    assert bigger > 2 * one


def test_building_is_charged_for_one_shot_calls():
    e = _engine(np.ones((5, 5)), (64, 64))
    assert (
        method_costs(e, 1, amortized=False)["sparse"] > method_costs(e, 1, amortized=True)["sparse"]
    )


def test_large_kernels_go_to_fft_and_sparse_kernels_to_shift():
    rank_two = np.random.default_rng(0).random((31, 31))  # a box would run as two passes
    assert choose_method(_engine(rank_two, (512, 512)), 1, amortized=True, rtol=1e-10) == "fft"
    spiky = np.zeros((7, 7))
    spiky[3, 3] = 1.0
    spiky[0, 0] = -1.0
    assert choose_method(_engine(spiky, (128, 128)), 16, amortized=True) == "shift"


def test_banded_offered_for_float_batches_of_2d_kernels_only():
    two_d = _engine(np.ones((3, 3)), (64, 64))
    assert "banded" in method_costs(two_d, 8, amortized=True)
    assert "banded" not in method_costs(two_d, 1, amortized=True)  # one image: too small a GEMM
    assert "banded" not in method_costs(
        _engine(np.ones((3, 3), np.int64), (64, 64)), 8, amortized=True
    )
    assert "banded" not in method_costs(
        _engine(np.ones((3, 3, 3)), (16, 16, 16)), 8, amortized=True
    )


def test_banded_pays_for_streaming_once_rows_outgrow_the_cache():
    small = method_costs(_engine(np.ones((7, 7)), (32, 32)), 64, amortized=True)
    large = method_costs(_engine(np.ones((7, 7)), (512, 512)), 64, amortized=True)
    # measured (2 CPUs, OpenBLAS): the banded GEMM at 4.7x the CSR product's time on 32²
    # images, 1.0x on 512²; the model charges streaming only on the large ones
    assert small["banded"] > small["sparse"]
    assert large["banded"] / large["sparse"] > 1.1 * small["banded"] / small["sparse"]


def test_fix_ups_and_retries_are_priced():
    e = _engine(np.ones((31, 31)), (512, 512))
    middle = np.array([256 * 512 + 256])  # reads every tap
    one = fix_up_units(e, middle)
    assert one > 0
    assert fix_up_units(e, np.repeat(middle, 10)) > 5 * one
    full = _engine(np.ones((31, 31)), (512, 512), "full")
    assert (
        full.certificate.direct_at_work(np.array([0]))[0] == 1
    )  # the corner of 'full' reads one tap
    assert fix_up_units(full, np.array([0])) < one
    # the bound from the count alone holds over the outputs' own price
    corners = np.array([0, 1, 2, 542, 543, 1084])
    assert fix_up_bound_units(full, corners.size) >= fix_up_units(full, corners)
    assert fix_up_bound_units(e, 10) >= fix_up_units(e, np.repeat(middle, 10))
    # every row at once, from the count alone or from the boxes of taps
    np.testing.assert_array_equal(
        fix_up_bound_units(full, np.array([1, 6])),
        [fix_up_bound_units(full, 1), fix_up_bound_units(full, 6)],
    )
    failing = np.zeros((3, full.plan.shape[0]), dtype=bool)
    failing[0, corners] = True
    failing[2, [0, 256 * 542 + 256]] = True
    boxed = fix_up_box_units(full, failing)
    assert boxed is not None
    assert boxed[1] == 0  # nothing to sum
    assert boxed[0] <= fix_up_bound_units(full, corners.size)
    assert boxed[2] == fix_up_units(full, np.array([0, 256 * 542 + 256]))
    assert boxed[0] == fix_up_units(full, corners)
    wrap = Engine(np.ones((31, 31)), make_plan((64, 64), (31, 31), "same", "wrap"))
    assert fix_up_box_units(wrap, np.ones((1, 64 * 64), dtype=bool)) is None
    double = retry_units(e, np.dtype(np.float64))
    assert retry_units(e, np.dtype(np.float32)) < double
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2:
        assert retry_units(e, np.dtype(np.longdouble)) > 4 * double
    assert retry_units(e, None) > double  # a direct sum of 961 taps costs more than a transform


def test_the_certified_fft_is_priced_by_its_precision():
    e = _engine(np.ones((31, 31)), (512, 512))
    loose = method_costs(e, 1, amortized=True, rtol=1e-10)["fft"]
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2:
        assert method_costs(e, 1, amortized=True, rtol=0.0)["fft"] > 3 * loose


def _gaussian(m):
    g = np.exp(-((np.arange(m) - m // 2) ** 2) / (2 * (m / 6) ** 2))
    return np.outer(g, g) / np.outer(g, g).sum()


def test_the_ring_that_reads_mostly_padding_is_priced_with_the_fft():
    """A Gaussian's tails are tiny: in 'full' mode the outer ring reads only them, the FFT's
    rounding exceeds what those outputs allow, and their direct sums cost more than the
    transforms. Measured 2026-12-07 (2 CPUs, OpenBLAS), one 128² image, 31² Gaussian:
    the FFT and its ring 13.9x ``fftconvolve``, the separable passes 1.6x to 1.7x."""
    e = _engine(_gaussian(31), (128, 128), "full")
    thin = e.certificate.thin_outputs(0.01)
    assert thin is not None
    assert thin.size > 1000
    costs = method_costs(e, 1, amortized=True, rtol=1e-10)
    assert costs["fft"] > fix_up_units(e, e.certificate.thin_outputs(1e-3))
    assert choose_method(e, 1, amortized=True, rtol=1e-10) == "shift"
    # the same kernel in 'same' mode reads at least a quarter of itself: no ring to price
    same = _engine(_gaussian(31), (128, 128))
    assert same.certificate.thin_outputs(0.01).size == 0


def test_the_predicted_ring_is_the_ring_summed_directly(monkeypatch):
    """The outputs the cost model expects to sum directly (data of even magnitude) are
    those the certificate leaves, within a factor of 1.5, for normal and uniform data."""
    from convmat._engines import apply, certificate
    from convmat._engines.cost import _THIN_MARGIN

    e = _engine(_gaussian(31), (128, 128), "full")
    summed = []
    real = certificate.Certificate.direct_at

    def counted(self, x, rows, outputs):
        summed.append(outputs.size)
        return real(self, x, rows, outputs)

    monkeypatch.setattr(certificate.Certificate, "direct_at", counted)
    rng = np.random.default_rng(4)
    for x in (rng.standard_normal((1, 128 * 128)), rng.random((1, 128 * 128))):
        apply.apply(x, e, np.dtype(np.float64), method="fft", certify=True, rtol=1e-10)
    cert = e.certificate
    tol = cert.tolerance(1e-10, float(np.finfo(np.float64).eps), transpose=False)
    unit = float(np.finfo(cert.fft_precision(tol, transpose=False)).eps) / 2
    need = (
        certificate.rounding_factor(unit, e.fft_size)
        * np.sqrt(e.fft_reads)
        * cert.kernel_norm2
        / cert.kernel_norm1
        / (0.5 * tol)
    )
    predicted = cert.thin_outputs(min(1.0, _THIN_MARGIN * need)).size
    assert len(summed) == 2
    for count in summed:
        assert predicted / 1.5 <= count <= predicted * 1.5


def test_small_images_take_the_method_measured_fastest():
    # measured 2026-12-07 (2 CPUs, OpenBLAS, `make calibrate` and a sweep of 72 cases)
    rng = np.random.default_rng(3)
    k31 = rng.standard_normal((31, 31))
    # one 32² image, 31² kernel, 'same': dense 74 µs, the certified FFT 339 µs
    assert choose_method(_engine(k31, (32, 32)), 1, amortized=True, rtol=1e-10) == "dense"
    # 64 images of 32², 7² float32, 'full': sparse 0.72 ms, shift 2.0 ms
    k7 = rng.standard_normal((7, 7)).astype(np.float32)
    assert choose_method(_engine(k7, (32, 32), "full"), 64, amortized=True) == "sparse"
    # one 16² image, 3²: the CSR product's light path 16 µs, dense 29 µs
    assert choose_method(_engine(np.ones((3, 3)), (16, 16)), 1, amortized=True) == "sparse"
    # one 32² image, 31² normal kernel, 'full', float64: the certified FFT 1.3e6 to 1.6e6
    # units (2026-12-08, `make calibrate`), its bound of |x| and direct sums included;
    # the CSR product 1.0e6 to 1.1e6, dense 0.7e6 to 1.3e6
    full = _engine(k31, (32, 32), "full")
    assert choose_method(full, 1, amortized=True, rtol=1e-10) in ("dense", "sparse")


def test_the_certified_fft_prices_the_calls_of_its_later_steps_once_a_call(monkeypatch):
    """The bound of |x| and the direct sums cost hundreds of numpy calls where they run:
    on signed float64 data at the default rtol both run on a 32² image in 'full' mode
    (the ring), once a call whatever the batch; float32 data under float64 transforms
    need neither."""
    from convmat._engines import cost

    rng = np.random.default_rng(5)
    k = rng.standard_normal((31, 31))
    later = (cost._BOUND_CALLS + cost._DIRECT_AT_CALLS) * cost.CALL_UNITS

    def fft_price(e, batch, rtol, calls):
        monkeypatch.setattr(cost, "_BOUND_CALLS", calls[0])
        monkeypatch.setattr(cost, "_DIRECT_AT_CALLS", calls[1])
        return cost._certified_fft_cost(e, batch, rtol, amortized=True)

    wide = _engine(k, (32, 32), "full")
    calls = (cost._BOUND_CALLS, cost._DIRECT_AT_CALLS)
    for batch in (1, 8):
        extra = fft_price(wide, batch, 1e-10, calls) - fft_price(wide, batch, 1e-10, (0, 0))
        np.testing.assert_allclose(extra, later, rtol=1e-9)
    # no ring: the direct sums as likely as some output of the batch is left by the
    # first bound (a few of a 16² image's 256 for a 3² kernel)
    small = _engine(k[:3, :3], (16, 16))
    one, many = (
        fft_price(small, b, 1e-10, calls) - fft_price(small, b, 1e-10, (0, 0)) for b in (1, 64)
    )
    assert 0.5 * later / 3 < one < many < later
    assert many - one > 0.1 * calls[1] * cost.CALL_UNITS
    single = _engine(k.astype(np.float32), (32, 32), "full")
    extra = fft_price(single, 1, 0.0, calls) - fft_price(single, 1, 0.0, (0, 0))
    assert 0 <= extra < 0.05 * cost.CALL_UNITS  # a twentieth of one call


def test_batched_products_are_priced_per_image_and_per_call():
    e = _engine(np.ones((7, 7)), (32, 32))
    sparse = [method_costs(e, b, amortized=True)["sparse"] / b for b in (8, 64)]
    assert sparse[1] < sparse[0]  # each call's pass over the stored entries, shared
    dense = [method_costs(e, b, amortized=True)["dense"] / b for b in (1, 64)]
    assert dense[1] < dense[0] / 4  # one image streams the matrix; a batch is a GEMM
    single = _engine(np.ones((7, 7), np.float32), (32, 32))
    assert (
        method_costs(single, 64, amortized=True)["dense"]
        < 0.6 * (method_costs(e, 64, amortized=True)["dense"])
    )


def test_a_transpose_is_fitted_to_its_own_working_set():
    e = _engine(np.ones((5, 5)), (64, 64), "full")
    b = 8
    need = {}
    for transpose in (False, True):
        fixed, per_image = working_bytes(e, "shift", transpose=transpose)
        n_out = e.plan.shape[1] if transpose else e.plan.shape[0]
        need[transpose] = fixed + b * (per_image + n_out * e.dtype.itemsize)
    assert need[True] != need[False]  # the transpose holds a window-sized sum per image
    set_max_working_bytes((need[True] + need[False]) // 2)
    try:
        smaller = min(need, key=need.__getitem__)
        assert fits(e, "shift", b, transpose=smaller)
        assert not fits(e, "shift", b, transpose=not smaller)
    finally:
        set_max_working_bytes(None)
