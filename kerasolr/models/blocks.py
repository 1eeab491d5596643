"""The convolutional trunk shared by the classifier and the encoder."""

from __future__ import annotations

import keras

from kerasolr.layers import ForwardGradientConv2D, FusedBatchNormalization

BN_MOMENTUM = 0.9


def norm_layer(name: str) -> keras.layers.Layer:
    """The batch normalization of every kerasolr network: synchronized across
    replicas, moving statistics with momentum `BN_MOMENTUM`, computed by the
    fused kernel on one replica (`FusedBatchNormalization`)."""
    return FusedBatchNormalization(momentum=BN_MOMENTUM, synchronized=True, name=name)


def conv_layer(filters: int, kernel_size: int, **kwargs) -> keras.layers.Layer:
    """The convolution of every kerasolr network: Keras's `Conv2D` (same
    arguments) with its input gradient computed as a forward convolution
    (`ForwardGradientConv2D`, faster on CPUs)."""
    return ForwardGradientConv2D(filters, kernel_size, **kwargs)


def conv_trunk(x, filters, name: str):
    """Blocks of Conv3x3 -> BatchNorm -> ReLU -> MaxPool2x2.

    BatchNormalization is `synchronized`, so under a multi-replica strategy the
    batch statistics are those of the global batch and N replicas compute the
    same update as one device. Its moving statistics use momentum 0.9, not
    Keras' 0.99: with ~100 steps an epoch the slower average lags the weights
    so far that a classifier at 0.9999 training accuracy scored 0.935 at
    inference on clean held-out images (measured; see BENCHMARKS.md).

    Args:
        x: `(batch, height, width, channels)` symbolic input.
        filters: Filters per block; each block halves the spatial size.
        name: Prefix of the layer names.

    Returns:
        `(batch, height / 2**len(filters), width / 2**len(filters), filters[-1])`.
    """
    for i, f in enumerate(filters):
        x = conv_layer(f, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = norm_layer(f"{name}_bn{i}")(x)
        x = keras.layers.ReLU(name=f"{name}_relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"{name}_pool{i}")(x)
    return x
