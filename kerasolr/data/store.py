"""A preprocessed image store: every split of an image-file dataset decoded
once, as uint8 squares at the model's size, for later runs and workers to
read without decoding (`kerasolr prepare`, then `--set data.store=STORE`).

Layout of a store folder (written as `STORE.partial/`, renamed when whole):

    manifest.json          the data config it was made from, label names, counts
    train.images           raw uint8, (n, S, S, 3) row after row (a numpy memmap)
    train.npz              paths (bytes), labels (n, L) float32, ids (n,) int64
    validation.* test.*    the same for the other splits

A run reads a store only for the data config it was made from: every field
that decides which images and pixels a split holds (`KEY_FIELDS`) must match,
or the run stops before any work with one line naming the field. Images are
read by position (`np.memmap`, so the operating system's page cache, not the
process, holds them), a batch of rows at a time; under a multi-worker
strategy each worker reads only its own rows (`pipeline.worker_rows`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import tensorflow as tf

from kerasolr.config import DataConfig

FORMAT = 1
MANIFEST = "manifest.json"
DATASETS = ("celeba", "folder")
# The data fields that decide what a store holds (`store` and `cache` do not).
KEY_FIELDS = ("dataset", "root", "image_size", "attributes", "seed", "split_mode",
              "train_fraction", "val_fraction", "num_train", "num_val", "num_test", "skip_bad")
READ_ROWS = 64               # rows gathered by one read
_MANIFESTS: dict = {}
_IMAGES: dict = {}


def _key(data: DataConfig) -> dict:
    key = {name: getattr(data, name) for name in KEY_FIELDS}
    key["root"] = os.path.abspath(data.root) if data.root else None
    key["attributes"] = None if data.attributes is None else list(data.attributes)
    return key


def manifest(data: DataConfig) -> dict:
    """The manifest of `data.store`, checked against `data` (read once per process).

    Raises:
        FileNotFoundError: No whole store there.
        ValueError: It was made from another data config (one line naming the field).
    """
    cache_key = (data.store, json.dumps(_key(data), sort_keys=True))
    if cache_key in _MANIFESTS:
        return _MANIFESTS[cache_key]
    path = os.path.join(data.store, MANIFEST)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data.store={data.store}: no store there (`kerasolr prepare "
                                f"--out {data.store}` with the run's data settings writes one)")
    with open(path) as f:
        written = json.load(f)
    if written.get("format") != FORMAT:
        raise ValueError(f"{path}: store format {written.get('format')!r}, this kerasolr "
                         f"reads format {FORMAT}; prepare it again")
    for name, value in _key(data).items():
        if written["data"].get(name) != value:
            raise ValueError(f"data.store={data.store} was prepared with data.{name}="
                             f"{written['data'].get(name)!r}, this run has {value!r}; "
                             "prepare a store for these settings")
    _MANIFESTS[cache_key] = written
    return written


def split_arrays(data: DataConfig, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paths (bytes), labels and ids of one split, as the store recorded them."""
    manifest(data)
    with np.load(os.path.join(data.store, f"{split}.npz")) as arrays:
        return arrays["paths"], arrays["labels"], arrays["ids"]


def split_images(data: DataConfig, split: str) -> np.ndarray:
    """The `(n, S, S, 3)` uint8 images of one split, memory-mapped read-only."""
    count = manifest(data)["splits"][split]
    key = (os.path.abspath(data.store), split)
    if key not in _IMAGES:
        path = os.path.join(data.store, f"{split}.images")
        size = data.image_size
        expected = count * size * size * 3
        if os.path.getsize(path) != expected:
            raise ValueError(f"{path}: {os.path.getsize(path)} bytes, expected {expected} "
                             f"({count} images of {size}x{size}x3); prepare the store again")
        _IMAGES[key] = np.memmap(path, np.uint8, "r", shape=(count, size, size, 3))
    return _IMAGES[key]


def _reader(data: DataConfig, split: str):
    """A graph function from a vector of positions to their uint8 images."""
    stored = split_images(data, split)
    size = data.image_size

    def read(positions):
        # Sorted reads are sequential on disk; the rows go back in the order asked.
        order = np.argsort(positions, kind="stable")
        rows = np.empty((len(positions), size, size, 3), np.uint8)
        rows[order] = stored[positions[order]]
        return rows

    def images(positions):
        rows = tf.numpy_function(read, [positions], tf.uint8, stateful=False)
        rows.set_shape([None, size, size, 3])
        return rows

    return images


def split_dataset(data: DataConfig, split: str, labels, ids) -> tf.data.Dataset:
    """One split in order as the standard unbatched elements, uint8 images
    (`labels`, `ids`: the split's, from `split_arrays`)."""
    return read_records(data, split, records(labels, ids))


def records(labels, ids, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """A split's rows as undecoded records `{"position", "labels", "id"}`
    (shuffled anew every pass with `shuffle_seed`), for `read_records`; the
    store's counterpart of `images.file_records`."""
    ds = tf.data.Dataset.from_tensor_slices(
        {"position": np.arange(len(ids), dtype=np.int64),
         "labels": labels.astype(np.float32), "id": ids})
    if shuffle_seed is not None:
        ds = ds.shuffle(len(ids), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds


def read_records(data: DataConfig, split: str, ds: tf.data.Dataset) -> tf.data.Dataset:
    """Unbatched `records` turned into the standard elements, `READ_ROWS` rows a read."""
    read = _reader(data, split)
    count = tf.get_static_value(ds.cardinality())
    ds = ds.batch(READ_ROWS).map(
        lambda batch: {"image": read(batch["position"]), "labels": batch["labels"],
                       "clean_labels": batch["labels"], "id": batch["id"]},
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).unbatch()
    if count is not None and count >= 0:
        # Known again after the read: Keras then knows an epoch's steps from the
        # start (unknown, it warns "Your input ran out of data" after the first).
        ds = ds.apply(tf.data.experimental.assert_cardinality(int(count)))
    return ds


def prepare(data: DataConfig, out: str, log=print) -> dict:
    """Decodes every split of `data` once into a store at `out`.

    The files are scanned as a run scans them (bad files stop it, or are
    skipped with `data.skip_bad`) and decoded as the training stages decode
    them (`images.load_square`, uint8), so a run reading the store sees the
    pixels it would have decoded. Written into `out.partial/` and renamed, so
    `out` is whole or absent; an existing `out` is never touched.

    Returns:
        The manifest written.
    """
    from kerasolr.data import pipeline
    from kerasolr.progress import Progress

    if data.dataset not in DATASETS:
        raise ValueError(f"kerasolr prepare reads image files (data.dataset one of "
                         f"{DATASETS}), got {data.dataset!r}")
    if os.path.exists(out):
        raise FileExistsError(f"{out} exists; a store is written only into a new folder")
    data = dataclasses.replace(data, store=None, cache="none")
    names = list(pipeline.label_names(data))
    sizes = {split: pipeline.split_size(data, split) for split in pipeline.SPLITS}
    partial = out.rstrip(os.sep) + ".partial"
    if os.path.exists(partial):
        shutil.rmtree(partial)          # left by a killed prepare
    os.makedirs(partial)
    size = data.image_size
    for split in pipeline.SPLITS:
        paths, labels, ids = pipeline.file_split(data, split)
        stored = np.memmap(os.path.join(partial, f"{split}.images"), np.uint8, "w+",
                           shape=(len(ids), size, size, 3))
        progress = Progress(f"prepare {split}", len(ids))
        position = 0
        for batch in pipeline.example_batches(
                pipeline.load_split(data, split, uint8=True), 256):
            block = batch["image"].numpy()
            stored[position:position + len(block)] = block
            position += len(block)
            progress.update(len(block))
        progress.done()
        stored.flush()
        del stored
        np.savez(os.path.join(partial, f"{split}.npz"), paths=paths,
                 labels=labels.astype(np.uint8), ids=ids.astype(np.int64))
    written = {"format": FORMAT, "data": _key(data), "label_names": names, "splits": sizes}
    with open(os.path.join(partial, MANIFEST), "w") as f:
        json.dump(written, f, indent=2)
    os.replace(partial, out)
    log(f"store {out}: " + ", ".join(f"{sizes[s]} {s}" for s in pipeline.SPLITS)
        + f" images of {size}x{size}, {len(names)} labels")
    return written
