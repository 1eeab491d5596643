"""The run's composed figures: shapes and content from arrays, no models."""

import numpy as np

from kerasolr import figures


def _images(n, value, size=8):
    return np.full((n, size, size, 3), value, np.float32)


def test_reconstruction_grid_has_one_row_per_source():
    two = figures.reconstruction_grid(_images(3, 0.2), {"OLR": _images(3, 0.8)})
    three = figures.reconstruction_grid(_images(3, 0.2), {"OLR": _images(3, 0.8),
                                                           "autoencoder": _images(3, 0.5)})
    assert two.dtype == np.uint8 and two.shape[-1] == 3
    assert three.shape[0] > two.shape[0]


def test_edit_grid_has_one_column_per_edit():
    one = figures.edit_grid(_images(2, 0.1), _images(2, 0.5), {"+A": _images(2, 0.9)})
    two = figures.edit_grid(_images(2, 0.1), _images(2, 0.5), {"+A": _images(2, 0.9),
                                                               "-B": _images(2, 0.0)})
    assert two.shape[1] > one.shape[1]


def test_generation_grid_rows_follow_label_sets():
    sets = np.array([[1, 0], [0, 1], [0, 0]])
    grid = figures.generation_grid(_images(6, 0.5), sets, ["A", "B"], per_row=2)
    fewer = figures.generation_grid(_images(4, 0.5), sets[:2], ["A", "B"], per_row=2)
    assert grid.shape[0] > fewer.shape[0]


def test_slerp_grid():
    grid = figures.slerp_grid(np.zeros((2, 5, 8, 8, 3)), ["A: a -> b", "B: a -> b"])
    assert grid.dtype == np.uint8 and grid.ndim == 3
