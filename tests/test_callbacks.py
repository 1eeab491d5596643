import glob
import io
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasolr.callbacks import VisualCheck


def _tiny_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _fit(model, callback, epochs=4):
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 2), dtype=np.float32), rng.random((8, 1), dtype=np.float32)
    model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, callbacks=[callback])


def _weights_figure(model):
    """A 4x4 image whose brightness follows the first weight (changes with training)."""
    level = np.clip(128 + 100 * model.layers[0].kernel.numpy()[0, 0], 0, 255)
    return np.full((4, 4, 3), level, np.uint8)


def _wide_figure(model):
    """A fixed 3x5 image with distinct pixels, so width and height cannot be swapped."""
    return np.arange(45, dtype=np.uint8).reshape(3, 5, 3) * 5


def _image_summaries(log_dir):
    """Event files -> sorted [(tag, step, (width, height), decoded uint8 image)]."""
    found = []
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "images":
                    width, height, png = value.tensor.string_val
                    image = np.asarray(Image.open(io.BytesIO(png)))
                    found.append((value.tag, event.step, (int(width), int(height)), image))
    return sorted(found, key=lambda item: item[:2])


def test_visual_check_saves_every_second_epoch(tmp_path):
    out = tmp_path / "figures"
    model = _tiny_model()
    seen = []

    def probe(m):
        seen.append(m)
        return _weights_figure(m)

    _fit(model, VisualCheck({"weights": probe, "zeros": lambda m: np.zeros((3, 5, 3), np.uint8)},
                            str(out), every=2))
    files = sorted(os.listdir(out))
    assert files == ["weights_epoch002.png", "weights_epoch004.png", "weights_latest.png",
                     "zeros_epoch002.png", "zeros_epoch004.png", "zeros_latest.png"]
    assert seen == [model, model]
    assert (out / "weights_latest.png").read_bytes() == (out / "weights_epoch004.png").read_bytes()


def test_visual_check_logs_images_to_tensorboard(tmp_path):
    log_dir = tmp_path / "logs"
    check = VisualCheck({"weights": _wide_figure, "other": _weights_figure},
                        str(tmp_path / "figures"), every=2, log_dir=str(log_dir))
    _fit(_tiny_model(), check)
    assert check.writer is None  # closed at the end of training
    summaries = _image_summaries(str(log_dir))
    assert [(tag, step) for tag, step, _, _ in summaries] == [
        ("other", 2), ("other", 4), ("weights", 2), ("weights", 4)]
    tag, step, size, image = summaries[-1]
    assert size == (5, 3)
    np.testing.assert_array_equal(image, _wide_figure(None))
    latest = np.asarray(Image.open(tmp_path / "figures" / "weights_latest.png"))
    np.testing.assert_array_equal(latest, _wide_figure(None))


def test_visual_check_validates(tmp_path):
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        VisualCheck({}, str(tmp_path), every=0)
    with pytest.raises(ValueError, match="file name"):
        VisualCheck({"a/b": _weights_figure}, str(tmp_path))
    check = VisualCheck({"floaty": lambda m: np.zeros((4, 4, 3), np.float32)}, str(tmp_path))
    with pytest.raises(ValueError, match="figure 'floaty' must return a uint8"):
        _fit(_tiny_model(), check, epochs=1)
    check = VisualCheck({"gray": lambda m: np.zeros((4, 4), np.uint8)}, str(tmp_path))
    with pytest.raises(ValueError, match="'gray'.*shape \\(4, 4\\)"):
        _fit(_tiny_model(), check, epochs=1)
