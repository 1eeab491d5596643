"""Serialisable kerasolr layers."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="kerasolr")
class LabelGroupPooling(keras.layers.Layer):
    """Global average pooling of L groups of k feature maps into an (L, k) embedding.

    The label-specific layer before it has `num_labels * k` channels; channel
    `l * k + j` is feature map `j` of label `l`. Each map is averaged over space
    and the result reshaped so that row `l` of the output is label `l`'s vector.

    Input shape: `(batch, height, width, num_labels * k)`.
    Output shape: `(batch, num_labels, k)`.

    Args:
        num_labels: L, the number of labels (groups).
        k: Feature maps per group, the embedding size of each label.

    Reference: paper section 3, Fig. 1.
    """

    def __init__(self, num_labels: int, k: int, **kwargs):
        super().__init__(**kwargs)
        if num_labels < 1 or k < 1:
            raise ValueError(f"num_labels and k must be >= 1, got num_labels={num_labels}, k={k}")
        self.num_labels = int(num_labels)
        self.k = int(k)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is not None and channels != self.num_labels * self.k:
            raise ValueError(
                f"LabelGroupPooling expects num_labels * k = {self.num_labels * self.k} "
                f"channels, got {channels}")
        super().build(input_shape)

    def call(self, inputs):
        pooled = ops.mean(inputs, axis=(1, 2))
        return ops.reshape(pooled, (-1, self.num_labels, self.k))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_labels, self.k)

    def get_config(self):
        config = super().get_config()
        config.update({"num_labels": self.num_labels, "k": self.k})
        return config


@keras.saving.register_keras_serializable(package="kerasolr")
class Rescale(keras.layers.Layer):
    """Maps each image to [0, 1] by its own minimum and maximum.

    `y = (x - min(x)) / (max(x) - min(x))`, with min and max taken over all
    pixels and channels of one image; a constant image maps to zeros.

    Input shape: `(batch, height, width, channels)`; output: the same.

    Args:
        epsilon: Added to the range so a constant image does not divide by 0.

    Reference: paper section 4.4, eq. 2.
    """

    def __init__(self, epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def call(self, inputs):
        low = ops.min(inputs, axis=(1, 2, 3), keepdims=True)
        high = ops.max(inputs, axis=(1, 2, 3), keepdims=True)
        return (inputs - low) / (high - low + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="kerasolr")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras's `BatchNormalization`, computed by TensorFlow's fused kernel where it can be.

    Keras 3 normalises with separate element-wise ops (moments, then scale and
    shift), each a pass over the activations and another in the backward
    pass; TensorFlow's `FusedBatchNormV3` does the forward in one kernel and
    the backward in one more. In the demo's training steps on a 2-core CPU
    that is 318 -> 208 ms for the classifier and 182 -> 140 ms for the
    Siamese step (BENCHMARKS.md, "Batch normalization"). Same weights, same
    arguments, same results up to float32 rounding: the batch statistics,
    the biased batch variance in the moving average, the output in the
    layer's compute dtype after float32 arithmetic (as Keras does under mixed
    precision).

    The fused kernel is used for 4-D channels-last inputs without a mask or
    renormalization, when the statistics are those of one replica (one
    device, or `synchronized=False`). Otherwise, in particular a synchronized
    layer under several replicas, Keras's own `call` runs, so the global
    batch's statistics are kept.

    Args: those of `keras.layers.BatchNormalization`.
    """

    def _fused(self, inputs, mask) -> bool:
        if mask is not None or self.renorm or len(inputs.shape) != 4:
            return False
        if self.axis not in (3, -1):
            return False
        return not (self.synchronized
                    and tf.distribute.get_strategy().num_replicas_in_sync > 1)

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        ones = tf.ones_like(self.moving_mean, tf.float32)
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else ones
        beta = tf.cast(self.beta, tf.float32) if self.center else 0.0 * ones
        if training and self.trainable:
            y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=0.0 * ones, variance=ones,
                epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
                is_training=True)
            # The kernel returns the unbiased (n - 1) variance for the moving
            # average; Keras averages the biased one it normalised with.
            n = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
            variance = variance * (n - 1.0) / n
            self.moving_mean.assign(
                self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=gamma, offset=beta, mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon,
                data_format="NHWC", is_training=False)[0]
        return ops.cast(y, self.compute_dtype)
