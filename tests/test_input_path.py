"""The lean input path (issue 17): only a JPEG's square decoded, no resize at the same
size, shuffles of uint8, and no autotuning thread to wait for between epochs."""

import io
import os
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasolr.data import images, pipeline
from tests.conftest import write_labelled_folder


def _encoded(array: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, quality=92)
    return buffer.getvalue()


def _whole_then_cropped(encoded: bytes, size: int) -> np.ndarray:
    """The reference: decode everything, cut the central square, resize."""
    full = tf.io.decode_image(encoded, channels=3, expand_animations=False).numpy()
    height, width = full.shape[:2]
    top, left, side = images.square_crop_box(height, width)
    square = full[top:top + side, left:left + side].astype(np.float32) / 255.0
    if side == size:
        return square
    return np.clip(tf.image.resize(square, [size, size], antialias=True).numpy(), 0, 1)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("size", [40, 24])
def test_load_square_gives_the_pixels_of_a_whole_decode(fmt, size):
    rng = np.random.default_rng(1)
    array = (rng.random((52, 40, 3)) * 255).astype(np.uint8)     # a portrait, like CelebA
    encoded = _encoded(array, fmt)
    got = images.load_square(tf.constant(encoded), size).numpy()
    assert got.shape == (size, size, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, _whole_then_cropped(encoded, size))


def test_no_resize_when_the_square_already_has_the_size():
    array = np.arange(30 * 20 * 3, dtype=np.uint8).reshape(30, 20, 3)
    got = images.load_square(tf.constant(_encoded(array, "PNG")), 20).numpy()
    np.testing.assert_array_equal(got, array[5:25].astype(np.float32) / 255.0)


def test_batches_shuffle_uint8_and_give_the_same_floats_as_the_elements():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (12, 8, 8, 3)).astype(np.float32) / 255.0   # a cached split
    labels = np.eye(12, 3, dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices({"image": pixels, "labels": labels})
    batches = pipeline.classifier_batches(ds, 4, seed=0, shuffle_buffer=12)
    x, y = (np.concatenate(parts) for parts in zip(*[(a.numpy(), b.numpy())
                                                     for a, b in batches], strict=True))
    floats = images.unit_images(tf.constant(x)).numpy()
    order = [int(np.flatnonzero((pixels == image).all(axis=(1, 2, 3)))[0]) for image in floats]
    assert sorted(order) == list(range(12)) and order != list(range(12))   # shuffled, none lost
    assert x.dtype == np.uint8                    # floats only inside the compiled step
    np.testing.assert_array_equal(floats, pixels[order])
    np.testing.assert_array_equal(y, labels[order])
    pairs = next(iter(pipeline.pair_batches(ds, 3, seed=0, shuffle_buffer=12)))
    assert pairs.shape == (3, 2, 8, 8, 3) and pairs.dtype == tf.uint8


def test_every_dataset_fit_reads_has_autotuning_off():
    ds = tf.data.Dataset.from_tensor_slices({"image": np.zeros((4, 8, 8, 3), np.float32),
                                             "labels": np.zeros((4, 2), np.float32)})
    for batched in (pipeline.classifier_batches(ds, 2), pipeline.pair_batches(ds, 1),
                    pipeline.example_batches(ds, 2)):
        assert batched.options().autotune.enabled is False


@pytest.mark.parametrize("size", [40, 24])
def test_load_square_as_uint8_is_the_float_path_rounded(size):
    rng = np.random.default_rng(3)
    encoded = _encoded((rng.random((52, 40, 3)) * 255).astype(np.uint8), "JPEG")
    floats = images.load_square(tf.constant(encoded), size).numpy()
    raw = images.load_square(tf.constant(encoded), size, tf.uint8).numpy()
    assert raw.dtype == np.uint8 and raw.shape == (size, size, 3)
    np.testing.assert_array_equal(raw, np.round(floats * 255).astype(np.uint8))


def test_a_uint8_split_is_the_cached_float_split(tmp_path):
    from kerasolr import config as cfg

    data = cfg.tiny().data
    floats = pipeline.take(pipeline.load_split(data, "validation", cache=True), 6)
    raw = pipeline.take(pipeline.load_split(data, "validation", uint8=True), 6)
    assert raw["image"].dtype == np.uint8
    np.testing.assert_array_equal(raw["image"].astype(np.float32) / 255.0, floats["image"])
    np.testing.assert_array_equal(raw["labels"], floats["labels"])


def test_image_files_without_a_cache_are_shuffled_before_decoding(tmp_path):
    # No decoded image waits in a shuffle buffer: the file list is shuffled,
    # anew every epoch, and every file is read once per epoch.
    from kerasolr.config import DataConfig

    write_labelled_folder(tmp_path, 10, (20, 16, 3), seed=4, labels=("Smiling",))
    data = DataConfig(dataset="folder", root=str(tmp_path), image_size=16, cache="none",
                      train_fraction=0.8, val_fraction=0.1)
    files, buffer = pipeline.training_split(data, str(tmp_path / "cache"), seed=0)
    assert buffer == 0 and isinstance(files, pipeline.FileRecords)
    ds = files.decoded()
    by_id = {int(i): image for i, image in zip(*(pipeline.take(pipeline.load_split(
        data, "train", uint8=True), 100)[key] for key in ("id", "image")), strict=True)}
    epochs = [[int(e["id"]) for e in ds] for _ in range(2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(by_id)
    assert epochs[0] != epochs[1]                                     # shuffled anew
    for element in ds:
        np.testing.assert_array_equal(element["image"].numpy(), by_id[int(element["id"])])
    cached, buffer = pipeline.training_split(
        DataConfig(**{**data.__dict__, "cache": "memory"}), str(tmp_path / "cache"), seed=0)
    assert buffer == pipeline.shuffle_buffer(data)
    with pytest.raises(ValueError, match="shuffle_seed"):
        pipeline.load_split(data, "train", cache=True, shuffle_seed=0)


def test_path_array_is_the_same_bytes_from_any_iterable_across_its_chunks():
    # 4,096 paths per chunk: 9,000 paths of growing length cross two chunk
    # boundaries, and the array's width is that of the longest path.
    names = [f"/data/{'d' * (i // 1000)}/{i:06d}.jpg" for i in range(9000)]
    expected = [os.fsencode(name) for name in names]
    for given in (names, iter(names), (name for name in names), np.asarray(names)):
        array = images.path_array(given)
        assert array.dtype == np.dtype(f"S{len(expected[-1])}")
        assert array.tolist() == expected
    encoded = np.asarray(expected)
    assert images.path_array(encoded) is encoded            # already bytes: no copy
    assert images.path_array([]).shape == (0,)
    assert images.path_array(["/data/é.jpg"]).tolist() == [os.fsencode("/data/é.jpg")]
    assert images.path_array(expected[:3]).tolist() == expected[:3]    # bytes stay bytes
    assert images.path_array([pathlib.Path(names[1000])]).tolist() == [expected[1000]]
