import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr.layers import Rescale
from kerasolr.losses import reconstruction_loss, rescale_mse, ssim_per_channel
from tests.conftest import assert_config_roundtrip


def _images(seed=0, shape=(2, 16, 16, 3)):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def test_ssim_of_an_image_with_itself_is_one_per_channel():
    x = _images()
    np.testing.assert_allclose(ssim_per_channel(x, x).numpy(), np.ones((2, 3)), atol=1e-5)


def test_ssim_is_per_channel():
    x = _images(1)
    y = x.copy()
    y[..., 1] = _images(2)[..., 1]  # only the green channel differs
    s = ssim_per_channel(x, y).numpy()
    np.testing.assert_allclose(s[:, [0, 2]], 1.0, atol=1e-5)
    assert (s[:, 1] < 0.5).all()


def test_rescale_spans_zero_to_one_per_image():
    x = np.stack([_images(3)[0] * 5 - 2, _images(4)[0] * 0.1 + 7])
    y = keras.ops.convert_to_numpy(Rescale()(x))
    np.testing.assert_allclose(y.min(axis=(1, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.max(axis=(1, 2, 3)), 1.0, atol=1e-5)
    # An affine map of an image in [0, 1] is undone exactly.
    x01 = _images(5)
    x01 = (x01 - x01.min(axis=(1, 2, 3), keepdims=True)) / np.ptp(x01, axis=(1, 2, 3),
                                                                  keepdims=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(Rescale()(3 * x01 - 1)), x01,
                               atol=1e-5)
    assert_config_roundtrip(Rescale(epsilon=1e-6))


def test_reconstruction_loss_known_answers():
    x = _images(6)
    x = (x - x.min(axis=(1, 2, 3), keepdims=True)) / np.ptp(x, axis=(1, 2, 3), keepdims=True)
    perfect = keras.ops.convert_to_numpy(reconstruction_loss(x, x, x))
    np.testing.assert_allclose(perfect, 0.0, atol=1e-5)
    zeros = np.zeros_like(x)
    mse_only = keras.ops.convert_to_numpy(reconstruction_loss(x, x, zeros, alpha=0.0))
    np.testing.assert_allclose(mse_only, (x**2).mean(axis=(1, 2, 3)), rtol=1e-5)
    assert keras.ops.convert_to_numpy(rescale_mse(x, zeros)) == pytest.approx(
        (x**2).mean(axis=(1, 2, 3)), rel=1e-5)


@pytest.mark.parametrize("size,filter_size", [(16, 11), (12, 7), (8, 11)])
def test_ssim_matches_tf_image_ssim_on_each_channel(size, filter_size):
    rng = np.random.default_rng(size)
    x = rng.uniform(size=(3, size, size, 3)).astype("float32")
    y = np.clip(0.7 * x + 0.3 * rng.uniform(size=x.shape), 0, 1).astype("float32")
    window = min(filter_size, size)
    reference = np.stack([tf.image.ssim(x[..., c:c + 1], y[..., c:c + 1], max_val=1.0,
                                        filter_size=window).numpy() for c in range(3)], -1)
    np.testing.assert_allclose(ssim_per_channel(x, y, 1.0, filter_size), reference, atol=1e-4)
    # Unbounded values with another range (the raw decoder output).
    np.testing.assert_allclose(
        ssim_per_channel(x, 3 * y - 1, 2.0, filter_size),
        np.stack([tf.image.ssim(x[..., c:c + 1], 3 * y[..., c:c + 1] - 1, max_val=2.0,
                                filter_size=window).numpy() for c in range(3)], -1), atol=1e-4)
