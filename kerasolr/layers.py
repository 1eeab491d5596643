"""Serialisable kerasolr layers."""

from __future__ import annotations

import keras
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
