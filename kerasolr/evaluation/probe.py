"""The linear probe of paper section 4.1: one Dense layer of L sigmoids on flattened embeddings."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf

from kerasolr.embeddings import NpzArray

CHUNK_BYTES = 4 << 20      # rows read at a time
SHUFFLE_BYTES = 32 << 20   # rows shuffled together: a uniform shuffle up to 32 MB of features


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
            As `train_probe` (`epochs` is the most it trains); `features` may
            also be an on-disk `kerasolr.embeddings.NpzArray`, read a chunk
            at a time (`training_batches`).
        validation: `(features, labels)` of the validation split, or `None`
            (train all `epochs`).
        patience: Epochs without improvement before stopping.

    Returns:
        `(probe, epochs)`: the probe and the epoch its weights come from.
    """
    if not isinstance(features, NpzArray):
        features = np.asarray(features)
    labels = np.asarray(labels, np.float32)
    keras.utils.set_random_seed(seed)
    batches, dim = training_batches(features, labels, batch_size, seed)
    probe = build_probe(dim, labels.shape[1])
    probe.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    callbacks, validation_data = [], None
    if validation is not None:
        val_features, val_labels = validation
        validation_data = (np.asarray(val_features, np.float32).reshape(len(val_features), -1),
                           np.asarray(val_labels, np.float32))
        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience,
                                             restore_best_weights=True)
        callbacks.append(stop)
    history = probe.fit(batches, epochs=epochs, validation_data=validation_data,
                        callbacks=callbacks, verbose=verbose)
    if validation is None:
        return probe, epochs
    return probe, int(np.argmin(history.history["val_loss"])) + 1


def training_batches(features, labels, batch_size: int, seed: int
                     ) -> tuple[tf.data.Dataset, int]:
    """Shuffled `(features, labels)` batches of every epoch, and the feature
    width. Rows are read `CHUNK_BYTES` at a time, the chunks in a new seeded
    order each epoch; `SHUFFLE_BYTES` of them at a time (with the rows left
    over from the last batch before) are shuffled together and cut into
    batches, so every row comes once an epoch, the whole split is shuffled
    uniformly up to that size, and only the last batch is partial.

    `features` is an `(n, ...)` array or an on-disk `kerasolr.embeddings.NpzArray`
    (the same rows give the same batches): a split's embeddings need not be in
    memory to train the probe (200,000 of the demo's are 200 MB).
    """
    n = len(features)
    dim = int(np.prod(features.shape[1:], dtype=np.int64))
    row_bytes = 4 * dim
    chunk = max(1, CHUNK_BYTES // row_bytes)
    group = max(1, SHUFFLE_BYTES // (chunk * row_bytes))     # chunks shuffled together
    chunks = -(-n // chunk)
    epochs = itertools.count()       # each pass over the dataset is an epoch

    def read(index):
        start = int(index) * chunk
        rows = np.asarray(features[start:start + chunk], np.float32).reshape(-1, dim)
        return rows, labels[start:start + chunk]

    def epoch():
        rng = np.random.default_rng((seed, next(epochs)))
        order = rng.permutation(chunks)
        x = np.zeros((0, dim), np.float32)
        y = np.zeros((0, labels.shape[1]), np.float32)
        for first in range(0, chunks, group):
            read_rows = [read(index) for index in order[first:first + group]]
            x = np.concatenate([x] + [r[0] for r in read_rows])
            y = np.concatenate([y] + [r[1] for r in read_rows])
            shuffle = rng.permutation(len(x))
            x, y = x[shuffle], y[shuffle]
            last = first + group >= chunks
            whole = len(x) if last else len(x) // batch_size * batch_size
            yield x[:whole], y[:whole]           # cut into batches in the graph
            x, y = x[whole:], y[whole:]

    signature = (tf.TensorSpec((None, dim), tf.float32),
                 tf.TensorSpec((None, labels.shape[1]), tf.float32))
    batches = (tf.data.Dataset.from_generator(epoch, output_signature=signature)
               .flat_map(lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size))
               # Only the last batch is partial: Keras is told the steps of an epoch.
               .apply(tf.data.experimental.assert_cardinality(-(-n // batch_size)))
               .prefetch(2))
    return batches, dim


def probe_predictions(probe: keras.Model, features) -> np.ndarray:
    """`(n, L)` probabilities of a trained probe."""
    features = np.asarray(features, np.float32).reshape(len(features), -1)
    return probe.predict(features, batch_size=1024, verbose=0)
