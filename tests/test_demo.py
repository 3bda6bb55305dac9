"""The demo: the classic example as one matmul, checked against scipy."""

import numpy as np

from convmat.demo import run_demo


def test_demo_prints_every_step_and_agrees():
    text, ok = run_demo()
    assert ok
    for part in (
        "Toeplitz block T0",
        "Toeplitz block T1",
        "block layout",
        "doubly blocked",
        "vectorised input",
        "scipy.signal.convolve2d(I, F)",
        "equal to scipy: True",
        "30x70 filter",
    ):
        assert part in text
    # the full result of the classic example
    assert "[[ 10  40  70  60]\n [ 70 230 330 240]\n [120 310 380 240]]" in text


def test_demo_second_example_depends_on_seed():
    a, _ = run_demo(seed=1)
    b, _ = run_demo(seed=2)
    assert a.splitlines()[-1] != b.splitlines()[-1] or a != b
    assert np.all([ok for _, ok in (run_demo(seed=s) for s in range(3))])
