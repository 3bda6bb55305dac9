"""explain and parse_matrix: the printed structure is the matrix conv_matrix builds."""

import numpy as np
import pytest

import convmat
from convmat.explain import explain, parse_matrix


def _printed_matrix(text: str) -> np.ndarray:
    lines = (
        text.split("matrix A (blocks separated):\n")[1].split("\n\n", maxsplit=1)[0].splitlines()
    )
    rows = [line.replace("|", " ").split() for line in lines if not line.startswith("-")]
    return np.array(rows, dtype=np.int64)


@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
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
