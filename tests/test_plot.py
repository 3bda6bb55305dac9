"""plot_matrix writes a PNG of the expected size; the colours follow the taps."""

import numpy as np
import pytest

import convmat
from convmat.plot import MAX_SIDE, figure_pixels, plot_matrix


@pytest.fixture
def mpimg():
    """matplotlib's image reader: the tests that draw need the [plot] extra."""
    return pytest.importorskip("matplotlib.image", reason="matplotlib is the [plot] extra")


@pytest.mark.parametrize(
    ("kernel", "shape", "mode", "boundary"),
    [
        ([[1, 2], [3, 4]], (2, 3), "full", "fill"),
        ([[1, 2, 3], [4, 5, 6]], (6, 7), "same", "symm"),
        (np.arange(25.0).reshape(5, 5), (12, 12), "same", "wrap"),  # colour scale
    ],
    ids=["small", "folded", "many-taps"],
)
def test_png_written_with_expected_size(tmp_path, mpimg, kernel, shape, mode, boundary):
    path = plot_matrix(kernel, shape, mode, boundary, output=tmp_path / "m.png")
    image = mpimg.imread(path)
    k = np.asarray(kernel)
    rows = (shape[0] + (k.shape[0] - 1 if mode == "full" else 0)) * (
        shape[1] + (k.shape[1] - 1 if mode == "full" else 0)
    )
    width, height = figure_pixels(rows, shape[0] * shape[1])
    assert image.shape[:2] == (height, width)
    assert image[..., :3].std() > 0.05  # not blank


def test_pixels_cover_every_row_of_a_large_matrix_when_the_size_allows():
    width, height = figure_pixels(3000, 2800, size=4000)
    assert height >= 3000
    assert width >= 2800


def test_too_large_refused(tmp_path, mpimg):
    with pytest.raises(ValueError, match=str(MAX_SIDE)):
        plot_matrix(np.ones((3, 3)), (100, 100), output=tmp_path / "m.png")


def test_complex_refused(tmp_path, mpimg):
    with pytest.raises(TypeError, match="real"):
        plot_matrix(np.ones((2, 2), complex), (3, 3), output=tmp_path / "m.png")


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"mode": "middle"}, ValueError, "`mode`"),
        ({"boundary": "edge"}, ValueError, "`boundary`"),
        ({"size": 10}, ValueError, "`size` must be between 600 and 10000 pixels, got 10"),
        ({"size": 1600.0}, TypeError, "`size` must be an int"),
        ({"output": "m.jpg"}, ValueError, "suffix"),
    ],
    ids=["mode", "boundary", "size", "size-float", "suffix"],
)
def test_arguments_are_checked_before_matplotlib_is_imported(monkeypatch, kwargs, exc, match):
    """A bad argument is named even where matplotlib is not installed (or is broken)."""
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import fails
    args = {"mode": "same", "boundary": "fill", "output": "m.png", **kwargs}
    with pytest.raises(exc, match=match):
        plot_matrix(
            [[1, 2], [3, 4]],
            (4, 4),
            args["mode"],
            args["boundary"],
            output=args["output"],
            size=args.get("size", 1600),
        )


@pytest.mark.parametrize("boundary", ["nearest", "mirror"])
def test_a_large_matrix_is_drawn_at_the_size_asked_for(tmp_path, mpimg, boundary):
    """A 64 x 64 image's 'same' matrix (4096 x 4096) fits the default 1600 pixels, a
    block of entries to a pixel; `size` sets the longer side."""
    path = plot_matrix([[1, 2], [3, 4]], (64, 64), "same", boundary, output=tmp_path / "m.png")
    assert mpimg.imread(path).shape[:2] == (1200, 1600)
    path = plot_matrix(
        [[1, 2], [3, 4]], (64, 64), "same", boundary, output=tmp_path / "s.png", size=800
    )
    assert mpimg.imread(path).shape[:2] == (600, 800)
    assert convmat.conv_matrix([[1, 2], [3, 4]], (64, 64), "same", boundary).shape == (4096, 4096)


def test_small_matrices_keep_a_pixel_per_entry():
    assert figure_pixels(12, 6) == (1200, 900)
    assert figure_pixels(1000, 1100) == (1600, 1200)  # 1600 x 1200 holds them
    assert figure_pixels(1000, 1100, size=2000) == (1600, 1200)
    assert figure_pixels(3000, 2800, size=4000) == (3300, 3200)
