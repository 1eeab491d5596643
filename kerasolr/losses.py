"""OLR losses: plain tensor functions first, then a thin `keras.losses.Loss`."""

from __future__ import annotations

import keras
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
