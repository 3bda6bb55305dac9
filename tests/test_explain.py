"""explain and parse_matrix: the printed structure is the matrix conv_matrix builds."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convmat
from convmat.explain import explain, parse_matrix


def _printed_matrix(text: str) -> np.ndarray:
    lines = (
        text.split("matrix A (blocks separated):\n")[1].split("\n\n", maxsplit=1)[0].splitlines()
    )
    rows = [line.replace("|", " ").split() for line in lines if not line.startswith("-")]
    return np.array(rows, dtype=np.int64)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm", "nearest", "mirror"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_printed_matrix_and_counts_match_conv_matrix(mode, boundary):
    k = np.array([[1, 2, 3], [4, 5, 6]])
    text = explain(k, (4, 5), mode, boundary)
    a = convmat.conv_matrix(k, (4, 5), mode, boundary)
    np.testing.assert_array_equal(_printed_matrix(text), a)
    csr = convmat.conv_matrix(k, (4, 5), mode, boundary, format="csr")
    assert f"nnz: {csr.nnz} of {a.size} entries" in text
    assert f"dense {a.nbytes:,} (int64)" in text
    for j in range(2):
        assert f"T{j} (kernel row {j}: {k[j].tolist()}):" in text


def test_layout_names_folded_blocks():
    text = explain([[1], [2], [3]], (3, 2), "same", "symm")
    assert "T1+T2" in text


def test_image_shows_product_beside_scipy():
    text = explain([[1, 2], [3, 4]], (2, 3), image=[[1, 2, 3], [4, 5, 6]])
    assert "[[ 1  4  7  6]\n [ 7 23 33 24]\n [12 31 38 24]]" in text
    assert text.rstrip().endswith("equal: True")


def test_large_matrix_not_printed():
    text = explain(np.ones((3, 3)), (20, 20))
    assert "not printed" in text
    assert "convmat plot" in text


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "rows of numbers"),
        ("1 2; 3", "different lengths"),
        ("1 x", "not a number"),
        ("1 inf", "finite"),
    ],
)
def test_parse_matrix_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_matrix(text, "--kernel")


def test_parse_matrix_floats():
    np.testing.assert_array_equal(parse_matrix("0.5 1; 2 3e1"), [[0.5, 1.0], [2.0, 30.0]])


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_large_case_shows_corners_and_elided_layout_of_the_real_blocks(boundary):
    k = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    text = explain(k, (70, 70), "same", boundary)
    blocks, placement, _ = convmat.toeplitz_blocks(k, (70, 70), "same", boundary)
    for j in range(3):
        part = text.split(f"T{j} (kernel row {j}")[1].split("\n", 2)[2]
        printed = part.split("]]")[0].replace("[", " ").replace("]", " ").split()
        np.testing.assert_array_equal(np.array(printed, dtype=np.int64), blocks[j][:8, :8].ravel())
    layout = text.split("folded sum):\n")[1].split("\n\n")[0].splitlines()
    assert layout[0].split()[:5] == ["p0", "p1", "p2", "p3", "..."]
    assert layout[5] == "..."
    for line in layout[1:5] + layout[6:]:
        o = int(line.split()[0][1:])
        cells = line.split()[1:]
        shown = [*range(4), None, *range(66, 70)]
        for p, cell in zip(shown, cells, strict=True):
            if p is None:
                assert cell == "..."
                continue
            expected = "+".join(f"T{j}" for j in np.flatnonzero(placement[:, o, p])) or "."
            assert cell == expected
    assert "not printed" in text


def test_integer_too_large_for_int64_refused():
    with pytest.raises(ValueError, match="outside the int64 range"):
        parse_matrix("1 99999999999999999999", "--kernel")
    np.testing.assert_array_equal(parse_matrix(f"{2**63 - 1} {-(2**63)}"), [[2**63 - 1, -(2**63)]])


def test_non_finite_results_compare_as_identical():
    text = explain([[1e300, 1e300]], (1, 2), image=[[1e300, -1e300]])
    assert text.rstrip().endswith("equal: True")


def test_an_integer_product_beyond_int64_is_never_printed_wrapped():
    text = explain([[2**62, 1]], (1, 2), image=[[4, 1]])
    assert "outside the int64 range" in text
    assert "equal: False" in text
    shown = text.split("A @ x.ravel(), reshaped:\n")[1].split("\n\n")[0]
    assert shown.startswith("  outside the int64 range")
    assert "[" not in shown  # no wrapped values printed
    with pytest.raises(convmat.ResultOverflowError):
        convmat.conv2d(np.array([[4, 1]]), np.array([[2**62, 1]]))


@given(
    k=st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=3),
    x=st.lists(st.integers(-8, 8), min_size=1, max_size=3),
)
def test_the_printed_integer_product_is_exact_or_absent(k, x):
    text = explain([k], (1, len(x)), image=[x])
    exact = np.convolve(np.array(x, dtype=object), np.array(k, dtype=object))
    if all(-(2**63) <= v < 2**63 for v in exact):
        shown = text.split("A @ x.ravel(), reshaped:\n")[1].split("\n\n")[0]
        assert shown == np.array2string(np.array([exact.tolist()], dtype=np.int64))
        assert text.rstrip().endswith("equal: True")  # int64 sums are exact modulo 2**64
    else:
        assert "outside the int64 range" in text
