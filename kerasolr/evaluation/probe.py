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
    """Trains the linear probe with BCE on `(n, ...)` features (flattened) for
    a fixed number of epochs; `fit_probe` chooses them on validation.

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
    return fit_probe(features, labels, epochs, batch_size, learning_rate, seed, verbose)[0]


def fit_probe(features, labels, epochs: int = 30, batch_size: int = 256,
              learning_rate: float = 3e-3, seed: int = 0, verbose: int = 0,
              validation=None, patience: int = 5) -> tuple[keras.Model, int]:
    """`train_probe`, and with `validation` its epochs chosen there: training
    stops once the validation loss has not improved for `patience` epochs
    (at most `epochs`) and the weights of the best epoch are kept.

    Args:
        features, labels, epochs, batch_size, learning_rate, seed, verbose:
            As `train_probe` (`epochs` is the most it trains).
        validation: `(features, labels)` of the validation split, or `None`
            (train all `epochs`).
        patience: Epochs without improvement before stopping.

    Returns:
        `(probe, epochs)`: the probe and the epoch its weights come from.
    """
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    labels = np.asarray(labels, np.float32)
    keras.utils.set_random_seed(seed)
    probe = build_probe(features.shape[1], labels.shape[1])
    probe.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    callbacks, validation_data = [], None
    if validation is not None:
        val_features, val_labels = validation
        validation_data = (np.asarray(val_features, np.float32).reshape(len(val_features), -1),
                           np.asarray(val_labels, np.float32))
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                             restore_best_weights=True)
        callbacks.append(stop)
    history = probe.fit(features, labels, epochs=epochs, batch_size=batch_size, shuffle=True,
                        validation_data=validation_data, callbacks=callbacks, verbose=verbose)
    if validation is None:
        return probe, epochs
    return probe, int(np.argmin(history.history["val_loss"])) + 1


def probe_predictions(probe: keras.Model, features) -> np.ndarray:
    """`(n, L)` probabilities of a trained probe."""
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    return probe.predict(features, batch_size=1024, verbose=0)
