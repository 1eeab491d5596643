"""`tf.data` pipelines: splits, classifier batches, random image pairs.

Every loader yields unbatched elements
`{"image": float32 (S, S, 3) in [0, 1], "labels": float32 (L,), "clean_labels": float32 (L,),
"id": int64}`; the functions here turn that into what each model trains on.
"""

from __future__ import annotations

import tensorflow as tf

from kerasolr.config import DataConfig
from kerasolr.data import synthfaces

SPLITS = ("train", "test")


def label_names(data: DataConfig) -> tuple[str, ...]:
    """The label names a data config selects, in order."""
    if data.dataset == "synthfaces":
        return synthfaces.validate_attributes(data.attributes)
    raise ValueError(f"unknown dataset {data.dataset!r}")


def load_split(data: DataConfig, split: str, cache: bool = False) -> tf.data.Dataset:
    """Loads one split as unbatched elements.

    Args:
        data: The data config.
        split: `"train"` or `"test"`. Label noise applies to `"train"` only.
        cache: Keep the decoded split in memory (as uint8) after the first pass.

    Returns:
        A `tf.data.Dataset` of element dicts, in index order.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if data.dataset != "synthfaces":
        raise ValueError(f"unknown dataset {data.dataset!r}")
    if split == "train":
        start, stop, noise = 0, data.num_train, data.label_noise
    else:
        start, stop, noise = data.num_train, data.num_train + data.num_test, 0.0
    ds = synthfaces.make_dataset(start, stop, image_size=data.image_size, seed=data.seed,
                                 label_noise=noise, attributes=data.attributes)
    if cache:
        ds = ds.map(_to_uint8, num_parallel_calls=tf.data.AUTOTUNE).cache()
        ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def _to_uint8(element):
    element = dict(element)
    element["image"] = tf.cast(tf.round(element["image"] * 255.0), tf.uint8)
    return element


def _to_float(element):
    element = dict(element)
    element["image"] = tf.cast(element["image"], tf.float32) / 255.0
    return element


def classifier_batches(ds: tf.data.Dataset, batch_size: int, seed: int | None = None,
                       shuffle_buffer: int = 0) -> tf.data.Dataset:
    """`(images, labels)` batches for the classifier.

    Args:
        ds: Unbatched element dicts.
        batch_size: Images per batch.
        seed: Shuffle seed.
        shuffle_buffer: Shuffle buffer size; 0 keeps the order.

    Returns:
        Batches of `((batch, S, S, 3), (batch, L))`.
    """
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda e: (e["image"], e["labels"]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def pair_batches(ds: tf.data.Dataset, batch_pairs: int, seed: int | None = None,
                 shuffle_buffer: int = 0) -> tf.data.Dataset:
    """Random pairs of images, `(batch_pairs, 2, S, S, 3)` per batch.

    Images are shuffled (reshuffled every epoch) and consecutive images form a
    pair, so each epoch uses every image once, in a new random pairing.

    Args:
        ds: Unbatched element dicts.
        batch_pairs: Pairs per batch.
        seed: Shuffle seed.
        shuffle_buffer: Shuffle buffer size; 0 keeps the order.

    Returns:
        Batches of pairs; a last incomplete batch is dropped.
    """
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(lambda e: e["image"], num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(2 * batch_pairs, drop_remainder=True)
    ds = ds.map(lambda x: tf.reshape(x, [batch_pairs, 2, *x.shape[1:]]),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def example_batches(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Element dicts batched in order (for embedding extraction)."""
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
