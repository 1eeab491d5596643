"""OLR losses: plain tensor functions first, then a thin `keras.losses.Loss`."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def pair_dot_products(e1, e2):
    """Row-wise dot products of two embeddings.

    Args:
        e1: `(batch, num_labels, k)` embeddings of the first images.
        e2: `(batch, num_labels, k)` embeddings of the second images.

    Returns:
        `(batch, num_labels)`: `u_l = <e1_l, e2_l>`.

    Reference: paper section 3 (the vector u).
    """
    return ops.sum(e1 * e2, axis=-1)


def joint_probabilities(p1, p2):
    """Element-wise product of two images' label probabilities, `(batch, L)`."""
    return p1 * p2


def pair_mse(joint, pair_embeddings):
    """Per-example MSE between `u` and the joint probability vector.

    Args:
        joint: `(batch, num_labels)` targets `p1 * p2`.
        pair_embeddings: `(batch, 2, num_labels, k)` embeddings of both images.

    Returns:
        `(batch,)` mean over labels of `(u - joint)^2`.
    """
    u = pair_dot_products(pair_embeddings[:, 0], pair_embeddings[:, 1])
    return ops.mean(ops.square(u - ops.cast(joint, u.dtype)), axis=-1)


@keras.saving.register_keras_serializable(package="kerasolr")
class PairDotProductLoss(keras.losses.Loss):
    """MSE between the pair dot products and the joint probabilities.

    `y_true`: `(batch, L)` joint probabilities; `y_pred`: `(batch, 2, L, k)`.
    """

    def __init__(self, name="pair_dot_product_mse", reduction="sum_over_batch_size", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        return pair_mse(y_true, y_pred)


def ssim_per_channel(y_true, y_pred, max_val: float = 1.0, filter_size: int = 11):
    """SSIM computed separately on each colour channel (SSIM ignores chrominance).

    Args:
        y_true: `(batch, height, width, channels)` reference images.
        y_pred: `(batch, height, width, channels)` images to compare.
        max_val: Dynamic range of the images.
        filter_size: Gaussian window side; clipped to the smaller image side so
            small images (e.g. 16x16) still get a valid window.

    Returns:
        `(batch, channels)` SSIM values (1 for identical images).

    Reference: paper section 4.4, eq. 1.
    """
    y_true = tf.convert_to_tensor(y_true, tf.float32)
    y_pred = tf.convert_to_tensor(y_pred, tf.float32)
    size = min(filter_size, int(y_true.shape[1]), int(y_true.shape[2]))
    # One call for all channels: (batch, h, w, c) -> (batch * c, h, w, 1).
    channels = int(y_true.shape[-1])

    def fold(x):
        x = tf.transpose(x, [0, 3, 1, 2])
        return tf.reshape(x, [-1, x.shape[2], x.shape[3], 1])

    ssim = tf.image.ssim(fold(y_true), fold(y_pred), max_val=max_val, filter_size=size)
    return tf.reshape(ssim, [-1, channels])


def rescale_mse(y_true, rescaled):
    """Per-image MSE between targets in [0, 1] and min-max rescaled outputs, `(batch,)`.

    Reference: paper section 4.4, eq. 3 (the MSE term, applied after `Rescale`).
    """
    return ops.mean(ops.square(ops.cast(y_true, rescaled.dtype) - rescaled), axis=(1, 2, 3))


def reconstruction_loss(y_true, raw, rescaled, alpha: float = 0.5, max_val: float = 1.0,
                        filter_size: int = 11):
    """`alpha * (1 - SSIM(x, raw)) + (1 - alpha) * MSE(x, rescaled)`, per image `(batch,)`.

    The paper writes the SSIM term as SSIM itself; as a loss to minimise it is
    `1 - SSIM` (mean over channels).

    Args:
        y_true: `(batch, h, w, c)` target images in [0, 1].
        raw: `(batch, h, w, c)` the decoder's raw output (`Conv2D_out`).
        rescaled: `(batch, h, w, c)` `Rescale(raw)`.
        alpha: Weight of the SSIM term (paper: 0.5).
        max_val: SSIM dynamic range.
        filter_size: SSIM window side (clipped to the image).

    Reference: paper section 4.4, eq. 3.
    """
    ssim = ops.mean(ssim_per_channel(y_true, raw, max_val, filter_size), axis=-1)
    return alpha * (1.0 - ssim) + (1.0 - alpha) * rescale_mse(y_true, rescaled)
