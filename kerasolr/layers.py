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


def _forward_gradient_conv(padding: str):
    """`conv(x, kernel)`, a stride-1 2-D convolution whose input gradient is a
    forward convolution of the flipped, transposed kernel (see
    `ForwardGradientConv2D`); the kernel's gradient is TensorFlow's own."""

    @tf.custom_gradient
    def conv(x, kernel):
        def gradient(dy):
            flipped = tf.transpose(kernel[::-1, ::-1], (0, 1, 3, 2))
            if padding == "VALID":
                edge = int(kernel.shape[0]) - 1
                dx = tf.nn.conv2d(tf.pad(dy, [[0, 0], [edge, edge], [edge, edge], [0, 0]]),
                                  flipped, 1, "VALID")
            else:
                dx = tf.nn.conv2d(dy, flipped, 1, "SAME")
            dkernel = tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(kernel), out_backprop=dy,
                strides=[1, 1, 1, 1], padding=padding)
            return dx, dkernel

        return tf.nn.conv2d(x, kernel, 1, padding), gradient

    return conv


_CONVOLUTIONS = {padding: _forward_gradient_conv(padding) for padding in ("SAME", "VALID")}


@keras.saving.register_keras_serializable(package="kerasolr")
class ForwardGradientConv2D(keras.layers.Conv2D):
    """Keras's `Conv2D`, its input gradient computed as a forward convolution.

    The gradient of a stride-1 convolution with respect to its input is the
    convolution of the output gradient with the kernel flipped in space and
    its channel axes swapped (over the output gradient padded by `k - 1` for
    `valid`). TensorFlow computes it with `Conv2DBackpropInput`, which on
    CPUs ran 2.0-3.5x slower than the same gradient as a forward convolution
    (BENCHMARKS.md, "Convolutions' input gradient"); this layer computes it
    with the forward one. Same weights, arguments, saved config and results up
    to float32 rounding; the kernel's gradient is TensorFlow's own.

    Used for square odd kernels, stride 1, no dilation, one group,
    channels-last; any other convolution runs Keras's own.

    Args: those of `keras.layers.Conv2D`.
    """

    def uses_forward_gradient(self) -> bool:
        """Whether this convolution computes its input gradient as a forward one."""
        size = self.kernel_size
        return (size[0] == size[1] and size[0] % 2 == 1 and tuple(self.strides) == (1, 1)
                and tuple(self.dilation_rate) == (1, 1) and self.groups == 1
                and self.data_format == "channels_last" and self.padding in ("same", "valid"))

    def convolution_op(self, inputs, kernel):
        if not self.uses_forward_gradient():
            return super().convolution_op(inputs, kernel)
        return _CONVOLUTIONS[self.padding.upper()](tf.convert_to_tensor(inputs),
                                                   tf.convert_to_tensor(kernel))
