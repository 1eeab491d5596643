"""TensorFlow Datasets' `celeb_a` as the standard `tf.data` elements.

Elements are `{"image": float32 (S, S, 3) in [0, 1], "labels", "clean_labels":
float32 (L,), "id": int64}` like every loader's, with the central square crop (our reading of the
paper's crop) and resize of `kerasolr.data.images` and CelebA's attribute names and order of
`kerasolr.data.celeba` (the paper's 38 by default).

`id` is the image's index in CelebA's official file order (`000001.jpg` is 0),
the same as the `celeba` loader's, so both loaders give the same random split
for the same seed. TFDS does not store that order: it writes each split sorted
by the md5 of the split name followed by the example's key (celeb_a's key is
the file name; `tensorflow_datasets/core/hashing.py` promises this order is
stable within a dataset version), and CelebA's official partitions are
contiguous runs of file numbers (train, then validation, then test), so
`stored_order` rebuilds which file each stored record holds without reading any.

Splits stream: records are read in stored order, filtered by id before any
JPEG is decoded, and nothing holds the dataset in memory.

TFDS cannot download CelebA here (its URLs are Google Drive's); it prepares
the dataset from the official files in a `manual_dir` (`MANUAL_FILES`): once,
about 1.4 GB of TFRecords written to the data dir, with the images held in
memory (about 1.4 GB) while it does.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from kerasolr.data import celeba, images

NAME = "celeb_a"
# TFDS's splits in official file order: partitions 0, 1 and 2.
TFDS_SPLITS = ("train", "validation", "test")
# What celeb_a's builder looks for in `manual_dir` (its checksums.tsv names).
MANUAL_FILES = ("img_align_celeba.zip", "list_attr_celeba.txt", "list_eval_partition.txt",
                "list_landmarks_align_celeba.txt", "identity_CelebA.txt")


def label_names(attributes=None) -> tuple[str, ...]:
    """The selected attribute names, in order.

    Args:
        attributes: Names to select, in this order; `None` selects the paper's
            38 in CelebA's official header order.

    Raises:
        ValueError: One line naming an unknown attribute and listing CelebA's 40.
    """
    if attributes is None:
        return celeba.paper_attributes(celeba.ATTRIBUTES)
    for name in attributes:
        if name not in celeba.ATTRIBUTES:
            raise ValueError(f"unknown attribute {name!r} (not one of CelebA's 40); known: "
                             f"{', '.join(celeba.ATTRIBUTES)}")
    return tuple(attributes)


def load_builder(data_dir: str | None = None,
                 manual_dir: str | None = None) -> tfds.core.DatasetBuilder:
    """The prepared `celeb_a` builder, prepared first from `manual_dir` if needed.

    Args:
        data_dir: The TFDS data dir (`None`: TFDS's default).
        manual_dir: Folder holding CelebA's official `MANUAL_FILES`; only read
            when the dataset is not prepared in `data_dir` yet.

    Returns:
        A builder whose `as_dataset` reads the prepared splits.

    Raises:
        FileNotFoundError: One line: the dataset is not prepared and no
            `manual_dir` was given, or it lacks some of `MANUAL_FILES`.
        ValueError: One line: preparing failed (e.g. a file is not the official
            one), or the prepared dataset does not have CelebA's 40 attributes.
    """
    builder = tfds.builder(NAME, data_dir=data_dir)
    if not builder.is_prepared():
        _prepare(builder, manual_dir)
    found = set(builder.info.features["attributes"].keys())
    if found != set(celeba.ATTRIBUTES):
        raise ValueError(f"TFDS {NAME} in {builder.data_dir} has attributes "
                         f"{', '.join(sorted(found))}; expected CelebA's 40")
    return builder


def _prepare(builder: tfds.core.DatasetBuilder, manual_dir: str | None) -> None:
    where = builder.data_dir
    if manual_dir is None:
        raise FileNotFoundError(
            f"TFDS {NAME} is not prepared in {where} and TFDS cannot download it (Google "
            f"Drive); put CelebA's official {', '.join(MANUAL_FILES)} in a folder and set "
            "data.manual_dir to it (or data.root to a TFDS data dir that holds it prepared)")
    missing = [name for name in MANUAL_FILES if not os.path.isfile(os.path.join(manual_dir,
                                                                                name))]
    if missing:
        hint = ""
        if "img_align_celeba.zip" in missing and os.path.isdir(
                os.path.join(manual_dir, celeba.IMAGE_DIR)):
            hint = (f"; TFDS reads the zip archive, not the unpacked {celeba.IMAGE_DIR}/ "
                    "(for that layout use data.dataset=celeba with data.root)")
        raise FileNotFoundError(
            f"data.manual_dir={manual_dir} lacks {', '.join(missing)}, needed to prepare TFDS "
            f"{NAME} (from CelebA's official Img/ Anno/ Eval/ folders){hint}")
    config = tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False)
    try:
        builder.download_and_prepare(download_config=config)
    except Exception as err:  # TFDS raises many kinds, most with multi-line messages
        message = " ".join(str(err).split())
        raise ValueError(f"preparing TFDS {NAME} in {where} from {manual_dir} failed: "
                         f"{type(err).__name__}: {message}") from err


def split_counts(builder: tfds.core.DatasetBuilder) -> tuple[int, ...]:
    """Examples in TFDS's train, validation and test splits (from the split info,
    without reading any record)."""
    splits = builder.info.splits
    missing = [name for name in TFDS_SPLITS if name not in splits]
    if missing:
        raise ValueError(f"TFDS {NAME} in {builder.data_dir} has no {', '.join(missing)} "
                         "split; prepare it again")
    return tuple(int(splits[name].num_examples) for name in TFDS_SPLITS)


def stored_order(split: str, offset: int, count: int) -> np.ndarray:
    """Official indices of a TFDS split's records, in the order TFDS stored them.

    Args:
        split: The TFDS split's name (the salt of its hashes).
        offset: Official index of the split's first file (`count` files follow).
        count: Examples in the split.

    Returns:
        `(count,)` int64: record `p` of the split holds image `result[p]`.
    """
    salt = hashlib.md5(split.encode())

    def hashed(i: int) -> bytes:
        md5 = salt.copy()
        md5.update(f"{offset + i + 1:06d}.jpg".encode())
        return md5.digest()      # fixed length: bytes order = TFDS's 128-bit integer order

    return offset + np.asarray(sorted(range(count), key=hashed), np.int64).reshape(count)


def split_ids(counts, mode: str, split: str, train_fraction: float, seed: int,
              limit: int, val_fraction: float = 0.05) -> np.ndarray:
    """Official indices of one kerasolr split, sorted, at most `limit` of them.

    Args:
        counts: `split_counts` of the builder.
        mode: `"official"` (TFDS's train, validation or test) or `"random"`
            (the paper's seeded split of all images, `celeba.split_indices`).
        split: `"train"`, `"validation"` or `"test"`.
        train_fraction: Non-test fraction of the random split.
        seed: Seed of the random split.
        limit: Cap (`num_train`, `num_val` or `num_test`); the first indices
            are kept.
        val_fraction: Validation fraction of the random split.

    Returns:
        `(n,)` int64 indices, the same as the `celeba` loader's on the same files.
    """
    filenames = [f"{i + 1:06d}.jpg" for i in range(sum(counts))]
    partitions = None
    if mode == "official":
        partition = np.searchsorted(np.cumsum(counts), np.arange(len(filenames)), side="right")
        partitions = dict(zip(filenames, partition.tolist(), strict=True))
    indices = celeba.split_indices(filenames, mode, split, partitions, train_fraction, seed,
                                   val_fraction)
    return indices[:limit]


def make_dataset(builder: tfds.core.DatasetBuilder, ids, names, image_size: int
                 ) -> tf.data.Dataset:
    """Streams the images of `ids` as the standard elements.

    Args:
        builder: A prepared `celeb_a` builder (`load_builder`).
        ids: Official indices to yield (`split_ids`).
        names: Attribute names of the labels, in order (`label_names`).
        image_size: Output side after the square crop and the resize.

    Returns:
        An unbatched `tf.data.Dataset` in TFDS's stored order (train, then
        validation, then test records; within each a fixed pseudo-random
        order), not in id order; only TFDS splits holding a wanted id are read.
    """
    counts = split_counts(builder)
    keep = np.zeros(sum(counts), bool)
    keep[np.asarray(ids, np.int64)] = True
    names = list(names)
    read_config = tfds.ReadConfig(interleave_cycle_length=1)   # records in stored order
    parts = []
    for split, offset, count in zip(TFDS_SPLITS, np.cumsum([0, *counts[:-1]]), counts,
                                    strict=True):
        stored = stored_order(split, int(offset), count)
        wanted = keep[stored]
        if not wanted.any():
            continue
        last = int(np.flatnonzero(wanted)[-1]) + 1       # nothing wanted after it
        records = builder.as_dataset(split=split, shuffle_files=False, read_config=read_config,
                                     decoders={"image": tfds.decode.SkipDecoding()})
        index = tf.data.Dataset.from_tensor_slices((stored[:last], wanted[:last]))
        part = tf.data.Dataset.zip(index, records).filter(lambda meta, record: meta[1])
        parts.append(part.map(
            lambda meta, record: (meta[0], record["image"],
                                  tf.stack([record["attributes"][n] for n in names])),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))
    if not parts:
        raise ValueError(f"the split selects no images of TFDS {NAME}")
    ds = parts[0]
    for part in parts[1:]:
        ds = ds.concatenate(part)

    def load(index, encoded, attributes):
        label = tf.cast(tf.reshape(attributes, [len(names)]), tf.float32)
        image = images.load_square(encoded, image_size)
        return {"image": image, "labels": label, "clean_labels": label, "id": index}

    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
