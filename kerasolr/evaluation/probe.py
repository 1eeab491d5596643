"""The linear probe of paper section 4.1: one Dense layer of L sigmoids on flattened embeddings."""

from __future__ import annotations

import keras
import numpy as np


def build_probe(input_dim: int, num_labels: int) -> keras.Model:
    """`(batch, input_dim) -> (batch, L)` sigmoid probabilities."""
    inputs = keras.Input((input_dim,), name="embedding")
    outputs = keras.layers.Dense(num_labels, activation="sigmoid", name="probe")(inputs)
    return keras.Model(inputs, outputs, name="linear_probe")


def train_probe(features, labels, epochs: int = 30, batch_size: int = 256,
                learning_rate: float = 3e-3, seed: int = 0, verbose: int = 0) -> keras.Model:
    """Trains the linear probe with BCE on `(n, ...)` features (flattened).

    Features are used as they are (no standardisation), as in the paper.

    Args:
        features: `(n, L, k)` embeddings or any `(n, ...)` features.
        labels: `(n, L)` 0/1 training labels.
        epochs: Training epochs.
        batch_size: Batch size.
        learning_rate: Adam learning rate.
        seed: Seed of the initial weights and shuffling.
        verbose: Keras verbosity.

    Returns:
        The trained probe.

    Reference: paper section 4.1.
    """
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    labels = np.asarray(labels, np.float32)
    keras.utils.set_random_seed(seed)
    probe = build_probe(features.shape[1], labels.shape[1])
    probe.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    probe.fit(features, labels, epochs=epochs, batch_size=batch_size, shuffle=True,
              verbose=verbose)
    return probe


def probe_predictions(probe: keras.Model, features) -> np.ndarray:
    """`(n, L)` probabilities of a trained probe."""
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    return probe.predict(features, batch_size=1024, verbose=0)
