import numpy as np
import pytest
from PIL import Image

from kerasolr import plots

RED, BLUE = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])


def _solid(color, size=4):
    return np.ones((size, size, 3)) * color


def _grid_2x3(red_at=(1, 2)):
    rows = [[_solid(BLUE) for _ in range(3)] for _ in range(2)]
    rows[red_at[0]][red_at[1]] = _solid(RED)
    return rows


def _red_mask(image):
    return np.all(image == [255, 0, 0], axis=-1)


def test_image_grid_without_titles_puts_cells_at_known_pixels():
    out = plots.image_grid(_grid_2x3(), scale=2)
    assert out.dtype == np.uint8 and out.shape == (2 + 2 * 10, 2 + 3 * 10, 3)
    # Cell (1, 2) of 8x8 pixels starts at row 2 + 1 * (8 + 2) = 12, col 2 + 2 * 10 = 22.
    np.testing.assert_array_equal(out[12:20, 22:30], 255 * np.ones((8, 8, 3)) * RED)
    assert _red_mask(out).sum() == 64
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])  # margin
    np.testing.assert_array_equal(out[12, 21], [255, 255, 255])  # gap left of the red cell


def test_image_grid_upscales_with_nearest_neighbour_and_clips():
    image = np.zeros((2, 2, 3))
    image[0, 1] = [2.0, -1.0, 0.5]  # clipped to (1, 0, 0.5)
    out = plots.image_grid([[image]], scale=3)
    np.testing.assert_array_equal(out[2:5, 5:8], np.broadcast_to([255, 0, 128], (3, 3, 3)))
    np.testing.assert_array_equal(out[2:5, 2:5], np.zeros((3, 3, 3)))


def test_image_grid_with_titles_keeps_the_images_unresampled():
    out = plots.image_grid(_grid_2x3(), row_titles=["a", "<b>"], col_titles=["x", "y", "z"],
                           title="grid", scale=2)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[-1] == 3
    assert out.shape[0] > 22 and out.shape[1] > 32
    rows, cols = np.nonzero(_red_mask(out))
    assert len(rows) == 64 and np.ptp(rows) == 7 and np.ptp(cols) == 7


def test_image_grid_short_rows_leave_blank_cells():
    out = plots.image_grid([[_solid(RED), _solid(RED)], [_solid(BLUE)]], scale=1)
    np.testing.assert_array_equal(out[8:12, 8:12], np.full((4, 4, 3), 255))


def test_image_grid_validates_inputs():
    with pytest.raises(ValueError, match="row 1, col 0 has shape \\(8, 8, 3\\)"):
        plots.image_grid([[_solid(RED)], [_solid(RED, 8)]])
    with pytest.raises(ValueError, match="at least one row"):
        plots.image_grid([])
    with pytest.raises(ValueError, match="row 1 is empty"):
        plots.image_grid([[_solid(RED)], []])
    with pytest.raises(ValueError, match="row 0, col 0 has shape \\(4, 4\\)"):
        plots.image_grid([[np.zeros((4, 4))]])
    with pytest.raises(ValueError, match="col_titles"):
        plots.image_grid(_grid_2x3(), col_titles=["x"])


def test_save_png_roundtrip_is_exact_and_atomic(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / "new" / "dir" / "x.png"
    plots.save_png(image, str(path))
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert not (tmp_path / "new" / "dir" / "x.png.partial").exists()
    assert path.read_bytes() == plots.png_bytes(image)
    with pytest.raises(ValueError, match="uint8"):
        plots.save_png(image.astype(np.float32), str(path))


def test_correlation_heatmaps_depend_on_the_values():
    names = ["A", "B", "C"]
    identity = plots.correlation_heatmaps({"id": np.eye(3)}, names)
    negative = plots.correlation_heatmaps({"id": -np.eye(3)}, names)
    assert identity.dtype == np.uint8 and identity.ndim == 3 and identity.shape[-1] == 3
    assert identity.shape == negative.shape and not np.array_equal(identity, negative)
    # Diverging map: +1 is red, -1 is blue.
    red = (identity[..., 0] > 90) & (identity[..., 2] < 60)
    blue = (negative[..., 2] > 90) & (negative[..., 0] < 60)
    assert red.sum() > 1000 and blue.sum() > 1000


def test_correlation_heatmaps_draw_nan_grey_and_panels_side_by_side():
    names = ["A", "B", "C"]
    clean = np.eye(3)
    with_nan = clean.copy()
    with_nan[0, 1] = with_nan[1, 0] = np.nan

    def grey(image):  # uniform mid grey, the NaN colour
        return int(np.all(np.abs(image.astype(int) - 178) <= 1, axis=-1).sum())

    assert grey(plots.correlation_heatmaps({"m": with_nan}, names)) > grey(
        plots.correlation_heatmaps({"m": clean}, names)) + 500
    one = plots.correlation_heatmaps({"a": clean}, names)
    two = plots.correlation_heatmaps([clean, clean], names, titles=["a", "b"])
    assert two.shape[1] > one.shape[1]
    with pytest.raises(ValueError, match="'bad' has shape \\(2, 2\\)"):
        plots.correlation_heatmaps({"bad": np.eye(2)}, names)


def test_strip_indices_keep_first_and_last_evenly_spaced():
    chosen = plots.strip_indices(25, 10)
    assert len(chosen) == 10 and chosen[0] == 0 and chosen[-1] == 24
    assert np.all(np.diff(chosen) >= 2) and np.all(np.diff(chosen) <= 3)
    np.testing.assert_array_equal(plots.strip_indices(4, 10), [0, 1, 2, 3])
    np.testing.assert_array_equal(plots.strip_indices(11, 10), [0, 1, 2, 3, 4, 6, 7, 8, 9, 10])
    with pytest.raises(ValueError, match="max_images"):
        plots.strip_indices(5, 1)


def test_pca_strip_shows_the_chosen_images_in_order():
    n = 25
    # Image i is uniform grey level i / 24; the strip keeps 10 of them.
    images = np.linspace(0, 1, n)[:, None, None, None] * np.ones((n, 4, 4, 3))
    out = plots.pca_strip(images, np.linspace(-1, 1, n), title="PC1", max_images=10)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[-1] == 3
    plain = plots.image_grid([list(images[plots.strip_indices(n, 10)])])
    assert plain.shape[1] == 2 + 10 * 10  # ten 8-pixel cells
    with pytest.raises(ValueError, match="25 images but 3 projections"):
        plots.pca_strip(images, [0.0, 1.0, 2.0])


def test_image_grid_widens_for_a_long_title_and_keeps_the_image():
    out = plots.image_grid([[_solid(RED)]], title="a title much wider than one small image")
    assert out.shape[1] > 100
    rows, cols = np.nonzero(_red_mask(out))
    assert len(rows) == 64 and np.ptp(rows) == 7 and np.ptp(cols) == 7
