"""Image files: crop box, streaming loader, every kind of bad file named (generated JPEGs)."""

import os

import numpy as np
import pytest
from PIL import Image

from kerasolr.data.images import check_or_skip, image_dataset, scan_images, square_crop_box


def test_square_crop_box_matches_the_papers_rows():
    assert square_crop_box(218, 178) == (20, 0, 178)     # rows [20, 198)
    assert square_crop_box(109, 89) == (10, 0, 89)       # the half-resolution subset
    assert square_crop_box(64, 64) == (0, 0, 64)


def _jpeg(path, height, width, colour=(200, 30, 30)):
    Image.new("RGB", (width, height), colour).save(path, quality=95)
    return str(path)


def test_loader_crops_resizes_and_keeps_labels(tmp_path):
    # A 40x30 image: red top 5 rows (cut by the crop), green middle, blue bottom 5 (cut).
    pixels = np.zeros((40, 30, 3), np.uint8)
    pixels[:5] = (255, 0, 0)
    pixels[5:35] = (0, 255, 0)
    pixels[35:] = (0, 0, 255)
    path = str(tmp_path / "a.png")
    Image.fromarray(pixels).save(path)
    elements = list(image_dataset([path], [[1.0, 0.0]], 16).as_numpy_iterator())
    image = elements[0]["image"]
    assert image.shape == (16, 16, 3)
    np.testing.assert_allclose(image[..., 1], 1.0, atol=1e-3)      # only the green square
    np.testing.assert_array_equal(elements[0]["labels"], [1.0, 0.0])
    assert elements[0]["id"] == 0


def test_scan_names_every_kind_of_bad_file(tmp_path):
    good = _jpeg(tmp_path / "good.jpg", 40, 30)
    small = _jpeg(tmp_path / "small.jpg", 10, 12)
    truncated = tmp_path / "truncated.jpg"
    data = open(_jpeg(tmp_path / "full.jpg", 40, 30), "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"this is not a jpeg")
    missing = str(tmp_path / "missing.jpg")
    paths = [good, small, str(truncated), str(corrupt), missing]
    report = scan_images(paths, min_size=16)
    np.testing.assert_array_equal(report.good, [0])
    reasons = dict(report.bad)
    assert reasons[small] == "image is 12x10, smaller than the 16x16 crop"
    assert reasons[str(truncated)].startswith("not a decodable image")
    assert reasons[str(corrupt)].startswith("not a decodable image")
    assert reasons[missing] == "missing file"
    with pytest.raises(ValueError) as err:
        check_or_skip(report, skip_bad=False)
    assert "small.jpg: image is 12x10" in str(err.value) and "(and 3 more bad files)" in str(
        err.value) and "\n" not in str(err.value)
    logged = []
    np.testing.assert_array_equal(check_or_skip(report, True, logged.append), [0])
    assert logged[0].startswith("skipping 4 bad image(s)")
    assert os.path.basename(missing) in logged[0]
