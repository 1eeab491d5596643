"""Image augmentations used by the edit judge (pure tensor functions)."""

from __future__ import annotations

import tensorflow as tf


def gaussian_blur(images, sigma, radius: int = 4):
    """Blurs `(batch, h, w, c)` images with a Gaussian of std `sigma` pixels.

    Separable, `SAME` padding by edge reflection; `sigma` is a scalar tensor.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    sigma = tf.maximum(tf.cast(sigma, tf.float32), 1e-3)
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    window = tf.exp(-x ** 2 / (2.0 * sigma ** 2))
    window /= tf.reduce_sum(window)
    channels = images.shape[-1]
    along_h = tf.tile(tf.reshape(window, [-1, 1, 1, 1]), [1, 1, channels, 1])
    along_w = tf.tile(tf.reshape(window, [1, -1, 1, 1]), [1, 1, channels, 1])
    padded = tf.pad(images, [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    out = tf.nn.depthwise_conv2d(padded, along_h, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, along_w, [1, 1, 1, 1], "VALID")


def random_blur(images, rate: float = 0.5, min_sigma: float = 0.5, max_sigma: float = 2.0,
                seed: int | None = None):
    """Blurs a random `rate` of the images, with one sigma drawn per batch in
    `[min_sigma, max_sigma]`, so a classifier trained on them judges
    attributes, not sharpness (decoded images are smoother than real ones)."""
    images = tf.convert_to_tensor(images, tf.float32)
    sigma = tf.random.uniform([], min_sigma, max_sigma, seed=seed)
    chosen = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], seed=seed) < rate
    return tf.where(chosen, gaussian_blur(images, sigma), images)


def random_flip(images, seed: int | None = None):
    """Mirrors a random half of `(batch, h, w, c)` images left to right (face
    attributes do not change with the side they are on)."""
    images = tf.convert_to_tensor(images, tf.float32)
    chosen = tf.random.uniform([tf.shape(images)[0], 1, 1, 1], seed=seed) < 0.5
    return tf.where(chosen, tf.reverse(images, axis=[2]), images)
