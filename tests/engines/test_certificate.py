"""The FFT's rounding bound and the direct sums of the outputs it leaves.

The bound (docs: "The FFT's rounding bound") is checked against products in
long double, for every mode and boundary, prime and odd sizes, real and complex
data, dynamic ranges up to 1e30, forward and transpose, whole and in overlap-save
blocks; the fix-ups (strips of the ring, groups of boxes, gathers) against the
matrix's rows.
"""

import math

import numpy as np
import pytest

import convmat
from convmat._core.plan import make_plan
from convmat._engines import certificate
from convmat._engines.cache import engine_for
from convmat._engines.certificate import (
    CALL_UNITS,
    DIRECT_AT_UNITS,
    FORWARD_CONSTANT,
    INVERSE_CONSTANT,
    rounding_factor,
)
from convmat._engines.engine import Engine
from helpers import BOUNDARIES, MODES

LONG = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps / 2


def _data(rng: np.random.Generator, shape: tuple[int, ...], spread: float, complex_: bool):
    """Normal values times 10**uniform(-spread, spread): a dynamic range of 10**(2 spread)."""
    x = rng.standard_normal(shape) * 10.0 ** rng.uniform(-spread, spread, shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape) * 10.0 ** rng.uniform(-spread, spread, shape)
    return x


def _exact(
    k: np.ndarray, shape: tuple[int, ...], mode: str, boundary: str
) -> np.ndarray:  # the matrix in long double: each entry a sum of a few taps
    wide = np.clongdouble if k.dtype.kind == "c" else np.longdouble
    return np.asarray(convmat.conv_matrix(k.astype(wide), shape, mode, boundary))


def test_the_factor_is_the_proof_s_expression():
    u = 2.0**-53
    log = math.log2(1000)
    a, b, r = FORWARD_CONSTANT * u * log, INVERSE_CONSTANT * u * log, math.sqrt(5) * u
    expected = 2 * a + a * a + r * (1 + a) ** 2 + b * (1 + r) * (1 + a) ** 2
    assert rounding_factor(u, 1000) == pytest.approx(expected, rel=1e-15)
    assert rounding_factor(u, 1) == rounding_factor(u, 2)  # log2 counted from 1
    # about 24 u log2(N), the constant the docs state
    assert 24 * u * log < rounding_factor(u, 1000) < (24 * log + 2.5) * u * 1.001


@pytest.mark.skipif(not LONG, reason="the reference needs a long double wider than float64")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("boundary", BOUNDARIES)
@pytest.mark.parametrize(
    ("shape", "kshape"), [((13,), (5,)), ((7, 11), (3, 4)), ((5, 3, 7), (2, 3, 3))]
)
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("spread", [0.0, 6.0, 15.0])
def test_the_bound_holds_at_every_output(mode, boundary, shape, kshape, complex_, spread):
    if mode == "valid" and any(m > n for n, m in zip(shape, kshape, strict=True)):
        pytest.skip("'valid' needs the kernel to fit")
    rng = np.random.default_rng(len(shape) * 7 + int(spread) + complex_)
    k = _data(rng, kshape, spread / 3, complex_)
    plan = make_plan(shape, kshape, mode, boundary)
    engine = Engine(k, plan)
    a = _exact(k, shape, mode, boundary)
    x = _data(rng, (3, math.prod(shape)), spread, complex_)
    y = _data(rng, (3, plan.shape[0]), spread, complex_)
    f64 = np.dtype(np.float64)
    for transpose, data, exact in (
        (False, x, x.astype(a.dtype) @ a.T),
        (True, y, y.astype(a.dtype) @ a),
    ):
        got = engine.fft(data, transpose=transpose, precision=f64)
        bound = engine.certificate.rounding_bound(data, transpose=transpose, precision=f64)
        err = np.abs(got.astype(a.dtype) - exact).astype(np.float64)
        assert (err <= bound).all(), float((err / bound).max())


@pytest.mark.skipif(not LONG, reason="the reference needs a long double wider than float64")
def test_the_bound_holds_block_by_block():
    # overlap-save blocks along the first axis, each bounded by its own norm: a bright
    # block does not spoil the bound of a dark one
    rng = np.random.default_rng(5)
    k = rng.standard_normal((9, 2))
    shape = (24000, 2)
    plan = make_plan(shape, k.shape, "same", "symm")
    engine = Engine(k, plan)
    assert engine.blocking is not None
    assert engine.fft_count > 2
    x = rng.standard_normal((2, *shape))
    x[:, :200] *= 1e12  # bright rows at the top
    # the reference: the symmetric extension, summed tap by tap in long double
    ext = np.pad(x.astype(np.longdouble), [(0, 0), (4, 4), (1, 0)], mode="symmetric")
    exact = sum(
        k[i, j] * ext[:, 8 - i : 8 - i + shape[0], 1 - j : 1 - j + shape[1]]
        for i in range(9)
        for j in range(2)
    )
    f64 = np.dtype(np.float64)
    flat = x.reshape(2, -1)
    got = engine.fft(flat, transpose=False, precision=f64)
    bound = engine.certificate.rounding_bound(flat, transpose=False, precision=f64)
    err = np.abs(got - exact.reshape(2, -1)).astype(np.float64)
    assert (err <= bound).all()
    assert bound[:, -1].max() < 1e-6 * bound[:, 0].min()  # the last block is bounded alone


def test_float32_transforms_are_bounded_too():
    rng = np.random.default_rng(6)
    k = rng.standard_normal((5, 5))
    plan = make_plan((40, 33), k.shape, "full", "fill")
    engine = Engine(k, plan)
    x = rng.standard_normal((2, 40 * 33))
    a = np.asarray(convmat.conv_matrix(k, (40, 33), "full"))
    f32 = np.dtype(np.float32)
    got = engine.fft(x, transpose=False, precision=f32)
    err = np.abs(got - x @ a.T)
    bound = engine.certificate.rounding_bound(x, transpose=False, precision=f32)
    assert (err <= bound).all()
    assert err.max() > 1e-3 * bound.max()  # a bound that float64 rounding alone could not pass


def test_the_l2_form_is_tighter_than_the_l1_form_for_broad_kernels():
    # a 31x31 Gaussian: ||k||_1 / ||k||_2 is about 17, so the bound in ||k||_2 is about
    # 17 / 4.8 times smaller than 5 u log2(N) ||k||_1 ||x||_2
    t = np.arange(31) - 15
    g = np.exp(-(t**2) / 50.0)
    engine = Engine(np.outer(g, g), make_plan((64, 64), (31, 31), "full", "fill"))
    assert engine.certificate.kernel_norm1 / engine.certificate.kernel_norm2 > 17
    x = np.ones((1, 64 * 64))
    bound = engine.certificate.rounding_bound(x, transpose=False, precision=np.dtype(np.float64))
    u = 2.0**-53
    l1_form = 5 * u * math.log2(engine.fft_size) * engine.certificate.kernel_norm1 * 64.0
    assert bound.max() < l1_form / 3


def test_kernel_norms_are_upper_bounds_in_any_range():
    for scale in (1e-300, 1.0, 1e300):
        k = np.full((3, 3), scale)
        engine = Engine(k, make_plan((8, 8), (3, 3), "same", "fill"))
        assert engine.certificate.kernel_norm2 >= 3 * scale
        assert engine.certificate.kernel_norm2 <= 3 * scale * (1 + 1e-13)
        assert engine.certificate.kernel_norm1 >= 9 * scale
    zero = Engine(np.zeros((2, 2)), make_plan((4, 4), (2, 2), "same", "fill"))
    assert zero.certificate.kernel_norm1 == zero.certificate.kernel_norm2 == 0.0


# -- the fix-ups ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
@pytest.mark.parametrize(
    ("shape", "kshape", "mode", "corr"),
    [
        ((50,), (7,), "full", False),
        ((50,), (8,), "same", False),
        ((3,), (8,), "full", False),  # a kernel longer than the input
        ((20, 17), (5, 4), "full", False),
        ((20, 17), (5, 4), "same", False),
        ((20, 17), (4, 6), "same", True),  # correlate2d's centring
        ((4, 30), (6, 3), "full", False),
    ],
)
def test_fix_ups_of_the_ring_are_the_matrix_rows(dtype, shape, kshape, mode, corr):
    rng = np.random.default_rng(7)
    k = rng.standard_normal(kshape).astype(dtype)
    plan = make_plan(shape, kshape, mode, "fill", corr=corr)
    engine = engine_for(k, plan, np.dtype(dtype))
    a = convmat.conv_matrix(k, shape, mode)
    if corr:  # the plan of correlate2d's centring: its matrix is the reference
        from convmat._core.csr import build_csr

        a = build_csr(k, plan).toarray()
    x = rng.standard_normal((3, math.prod(shape))).astype(dtype)
    # every output that reads the padding, in two images, plus a few inside
    reads_padding = np.flatnonzero((np.abs(a) > 0).sum(axis=1) < (np.abs(k) > 0).sum())
    rows = np.repeat([0, 2], reads_padding.size)
    outputs = np.concatenate([reads_padding, reads_padding])
    inner = np.setdiff1d(np.arange(plan.shape[0]), reads_padding)[:3]
    rows = np.concatenate([rows, np.ones(inner.size, dtype=np.int64)])
    outputs = np.concatenate([outputs, inner])
    strips = engine.certificate._ring_strips(reads_padding)
    if reads_padding.size >= 16 and math.prod(kshape) > 8:
        assert strips, "the ring is served by strips"
    got = engine.certificate.direct_at(x, rows, outputs)
    expected = (x @ a.T)[rows, outputs]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * np.abs(expected).max())


@pytest.mark.parametrize("mode", ["full", "same"])
def test_the_ring_s_strips_are_decided_for_a_batch_as_for_each_image(mode):
    # a batch of images, each with its own share of the ring (none, a few, all of it):
    # the strips decided at once are those decided image by image, and their sums exact
    rng = np.random.default_rng(14)
    k = rng.standard_normal((9, 7))
    plan = make_plan((40, 30), k.shape, mode, "fill")
    engine = Engine(k, plan)
    every = np.arange(plan.shape[0])
    ring = every[engine.certificate.box_sizes(every) < k.size]
    picks = [ring, ring[: ring.size // 3], ring[::7][:10], np.zeros(0, np.int64), ring[1::2]]
    rows = np.concatenate([np.full(p.size, i) for i, p in enumerate(picks)])
    outputs = np.concatenate(picks)
    batched = engine.certificate._ring_strips_of(rows, outputs)
    one_by_one = [
        (i, *strip) for i, p in enumerate(picks) for strip in engine.certificate._ring_strips(p)
    ]
    assert batched == one_by_one
    assert {image for image, *_ in batched} >= {0}  # the whole ring is served by strips
    x = rng.standard_normal((len(picks), 1200))
    a = convmat.conv_matrix(k, (40, 30), mode)
    np.testing.assert_allclose(
        engine.certificate.direct_at(x, rows, outputs), (x @ a.T)[rows, outputs], rtol=1e-12
    )


def test_strips_are_not_weighed_for_outputs_whose_boxes_cost_less_than_deciding(monkeypatch):
    # twenty outputs of the outer row of 'full' mode, a row of 31 taps each: 620 products
    # by their boxes, less than the decision's calls; no strip is priced, the sums exact
    rng = np.random.default_rng(15)
    k = rng.standard_normal((31, 31))
    plan = make_plan((128, 128), k.shape, "full", "fill")
    engine = Engine(k, plan)
    outputs = np.arange(40, 60)
    assert int(engine.certificate.box_sizes(outputs).sum()) == 620
    priced = []
    monkeypatch.setattr(
        certificate.Certificate, "_strip_work", lambda self, *strip: priced.append(strip)
    )
    assert engine.certificate._ring_strips(outputs) == []
    assert priced == []
    assert DIRECT_AT_UNITS * 620 < certificate.STRIP_DECISION_CALLS * CALL_UNITS
    x = rng.standard_normal((1, 128 * 128))
    a = convmat.conv_matrix(k, (128, 128), "full", format="csr")[outputs]
    rows = np.zeros(outputs.size, dtype=np.int64)
    np.testing.assert_allclose(engine.certificate.direct_at(x, rows, outputs), a @ x[0], rtol=1e-12)


def test_boxes_are_gathered_as_one_ragged_run():
    # a few corner outputs of 'full' mode: each sums only its own box of taps
    rng = np.random.default_rng(8)
    k = rng.standard_normal((9, 9))
    plan = make_plan((30, 30), k.shape, "full", "fill")
    engine = Engine(k, plan)
    width = plan.output_shape[1]
    outputs = np.array([0, 1, width, width + 1, 2 * width + 2, 20 * width + 20])
    assert engine.certificate._ring_strips(outputs) == []  # too few for strips
    products, calls = engine.certificate.direct_at_work(outputs)
    assert products == 1 + 2 + 2 + 4 + 9 + 81
    assert calls == 8 + 6 * 2  # one block, whatever the boxes' shapes
    x = rng.standard_normal((2, 900))
    a = convmat.conv_matrix(k, (30, 30), "full")
    rows = np.array([0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(
        engine.certificate.direct_at(x, rows, outputs), (x @ a.T)[rows, outputs], rtol=1e-12
    )


@pytest.mark.parametrize("block", [1, 5, 81, 100])
def test_ragged_blocks_split_between_outputs(monkeypatch, block):
    # blocks of the ragged gather end between two outputs' boxes; a box larger than a
    # block is a block of its own
    monkeypatch.setattr(certificate, "DIRECT_AT_RAGGED", block)
    rng = np.random.default_rng(9)
    k = rng.standard_normal((9, 7))
    plan = make_plan((30, 20), k.shape, "full", "fill")
    engine = Engine(k, plan)
    width = plan.output_shape[1]
    outputs = np.array([0, 1, width, 3 * width + 2, 20 * width + 10, 2, width - 1])
    total = int(engine.certificate._boxes(outputs)[0].sum())
    products, calls = engine.certificate.direct_at_work(outputs)
    assert products == total
    assert calls >= (8 + 6 * 2) * -(-total // block)
    x = rng.standard_normal((3, 600))
    a = convmat.conv_matrix(k, (30, 20), "full")
    rows = np.array([2, 1, 0, 1, 0, 2, 2])
    np.testing.assert_allclose(
        engine.certificate.direct_at(x, rows, outputs), (x @ a.T)[rows, outputs], rtol=1e-12
    )


def test_many_ring_outputs_are_summed_by_their_boxes_a_group_at_a_time(monkeypatch):
    # more outputs than one group of direct_at, across images: each group by its boxes
    # (the ring of 'full' mode reads a row or a column of taps), none by every tap; the
    # ring's strips, which would serve these, set aside
    monkeypatch.setattr(certificate, "DIRECT_AT_BOXES", 64)
    monkeypatch.setattr(certificate.Certificate, "_ring_strips", lambda self, outputs: [])
    rng = np.random.default_rng(12)
    k = rng.standard_normal((9, 9))
    plan = make_plan((40, 40), k.shape, "full", "fill")
    engine = Engine(k, plan)
    width = plan.output_shape[1]
    ring = np.concatenate([np.arange(width), np.arange(width) * width])  # first row, column
    rows = np.repeat(np.arange(3), ring.size)
    outputs = np.tile(ring, 3)
    gathered = []
    real = certificate.Certificate._direct_at_taps

    def counted(self, *args):
        gathered.append(args[1].size)
        return real(self, *args)

    monkeypatch.setattr(certificate.Certificate, "_direct_at_taps", counted)
    x = rng.standard_normal((3, 1600))
    a = convmat.conv_matrix(k, (40, 40), "full")
    np.testing.assert_allclose(
        engine.certificate.direct_at(x, rows, outputs), (x @ a.T)[rows, outputs], rtol=1e-12
    )
    assert gathered == []
    # the price counts the boxes group by group too
    products, _ = engine.certificate.direct_at_work(ring)
    assert products == int(engine.certificate.box_sizes(ring).sum())
    # and the outputs deep inside, whose boxes hold every tap, are gathered
    middle = np.full(70, 20 * width + 20)
    np.testing.assert_allclose(
        engine.certificate.direct_at(x, np.zeros(70, dtype=int), middle),
        (x @ a.T)[0, middle],
        rtol=1e-12,
    )
    assert sum(gathered) == 70


def test_corners_alone_are_summed_not_bounded_by_another_transform(monkeypatch):
    # nonnegative data in 'full' mode: |y| certifies every output but the corners, which
    # read a handful of taps each; their boxes cost less than a transform of |x|
    rng = np.random.default_rng(10)
    k = rng.uniform(size=(31, 31))
    x = rng.uniform(size=(1, 128 * 128))
    plan = make_plan((128, 128), k.shape, "full", "fill")
    engine = Engine(k, plan)
    y = engine.fft(x, transpose=False, precision=np.dtype(np.float64))
    calls = []
    real_fft = Engine.fft

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("absolute", False))
        return real_fft(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "fft", counted)
    tol = engine.certificate.tolerance(1e-10, float(np.finfo(np.float64).eps), transpose=False)
    ok = engine.certificate.fft_certified(
        x, y, transpose=False, tol=tol, precision=np.dtype(np.float64)
    )
    assert calls == []  # no transform of |x|
    failing = np.flatnonzero(~ok[0])
    assert 0 < failing.size <= certificate.BOXED_WORTH
    coords = np.unravel_index(failing, plan.output_shape)
    near = [np.minimum(c, n - 1 - c) for c, n in zip(coords, plan.output_shape, strict=True)]
    assert (np.minimum(*near) < 30).all()  # each reads the padding along some axis
    # and a row with many failing outputs inside still gets the transform
    ok[0, : 4 * certificate.BOXED_WORTH] = False
    assert engine.certificate._worth_a_bound(ok).all()


@pytest.mark.parametrize("boundary", ["fill", "symm"])
def test_the_certificate_in_chunks_decides_as_in_one_pass(monkeypatch, boundary):
    # the comparisons with the thresholds and the squares behind the norms, a chunk at a
    # time (down to one block's outputs, one input row): the same outputs certified
    rng = np.random.default_rng(13)
    k = rng.standard_normal((9, 5))
    plan = make_plan((4000, 16), k.shape, "same", boundary)
    engine = Engine(k, plan)
    assert engine.blocking is not None
    x = rng.standard_normal((2, 4000 * 16)) * 10.0 ** rng.uniform(-8, 8, (2, 4000 * 16))
    y = engine.fft(x, transpose=False, precision=np.dtype(np.float64))
    tol = engine.certificate.tolerance(1e-12, float(np.finfo(np.float64).eps), transpose=False)

    def decide() -> tuple[np.ndarray, np.ndarray]:
        ok = engine.certificate.fft_certified(
            x, y, transpose=False, tol=tol, precision=np.dtype(np.float64)
        )
        return ok, engine.certificate._fft_norms(np.abs(x), np.abs(x).max(axis=1), transpose=False)

    whole_ok, whole_norms = decide()
    assert 0 < whole_ok.mean() < 1  # some outputs certified, some not: the test can tell
    monkeypatch.setattr(certificate, "CHUNK_ENTRIES", 1)
    chunked_ok, chunked_norms = decide()
    np.testing.assert_array_equal(chunked_ok, whole_ok)
    # the same sums, up to the order numpy's reductions add them in (an ulp)
    np.testing.assert_allclose(chunked_norms, whole_norms, rtol=1e-14)


@pytest.mark.parametrize(
    ("shape", "kshape", "mode", "corr"),
    [
        ((40,), (9,), "full", False),
        ((20, 17), (7, 5), "full", False),
        ((20, 17), (6, 5), "same", True),
        ((9, 8, 7), (4, 3, 5), "full", False),
        ((3, 30), (8, 3), "full", False),  # a kernel taller than the input
    ],
)
@pytest.mark.parametrize("share", [0.0, 0.01, 0.2, 0.7, 1.0])
def test_thin_outputs_are_those_whose_inside_taps_hold_little(shape, kshape, mode, corr, share):
    rng = np.random.default_rng(14)
    k = rng.standard_normal(kshape) * np.exp(rng.uniform(-4, 0, kshape))
    plan = make_plan(shape, kshape, mode, "fill", corr=corr)
    engine = Engine(k, plan)
    from convmat._core.taps import inside_sum

    inside = np.asarray(inside_sum(np.abs(k), plan)).ravel() / np.abs(k).sum()
    got = engine.certificate.thin_outputs(share)
    expected = np.flatnonzero(inside < share)
    # a share on the edge of a box's sum may round either way
    edge = np.flatnonzero(np.abs(inside - share) <= 1e-12)
    np.testing.assert_array_equal(np.setdiff1d(got, edge), np.setdiff1d(expected, edge))
    assert engine.certificate.thin_outputs(share) is got  # kept per share


def test_thin_outputs_need_zero_padding_and_a_ring_of_bounded_size(monkeypatch):
    k = np.ones((5, 5))
    for boundary in ("wrap", "symm"):  # every output reads every tap
        engine = Engine(k, make_plan((20, 20), k.shape, "full", boundary))
        assert engine.certificate.thin_outputs(0.5).size == 0
    monkeypatch.setattr(certificate, "THIN_ENTRIES", 50)
    engine = Engine(k, make_plan((20, 20), k.shape, "full", "fill"))
    assert engine.certificate.thin_outputs(0.5) is None  # 8 x 24 ring rows: not looked at
