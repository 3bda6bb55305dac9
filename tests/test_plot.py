"""plot_matrix writes a PNG of the expected size; the colours follow the taps."""

import numpy as np
import pytest

from convmat.plot import MAX_SIDE, figure_pixels, plot_matrix

mpimg = pytest.importorskip("matplotlib.image", reason="matplotlib is the [plot] extra")


@pytest.mark.parametrize(
    ("kernel", "shape", "mode", "boundary"),
    [
        ([[1, 2], [3, 4]], (2, 3), "full", "fill"),
        ([[1, 2, 3], [4, 5, 6]], (6, 7), "same", "symm"),
        (np.arange(25.0).reshape(5, 5), (12, 12), "same", "wrap"),  # colour scale
    ],
    ids=["small", "folded", "many-taps"],
)
def test_png_written_with_expected_size(tmp_path, kernel, shape, mode, boundary):
    path = plot_matrix(kernel, shape, mode, boundary, output=tmp_path / "m.png")
    image = mpimg.imread(path)
    k = np.asarray(kernel)
    rows = (shape[0] + (k.shape[0] - 1 if mode == "full" else 0)) * (
        shape[1] + (k.shape[1] - 1 if mode == "full" else 0)
    )
    width, height = figure_pixels(rows, shape[0] * shape[1])
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.05  # not blank


def test_pixels_cover_every_row_of_a_large_matrix():
    width, height = figure_pixels(3000, 2800)
    assert height >= 3000
    assert width >= 2800


def test_too_large_refused(tmp_path):
    with pytest.raises(ValueError, match=str(MAX_SIDE)):
        plot_matrix(np.ones((3, 3)), (100, 100), output=tmp_path / "m.png")


def test_complex_refused(tmp_path):
    with pytest.raises(TypeError, match="real"):
        plot_matrix(np.ones((2, 2), complex), (3, 3), output=tmp_path / "m.png")
