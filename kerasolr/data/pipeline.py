"""`tf.data` pipelines: splits, classifier batches, random image pairs.

Every loader yields unbatched elements
`{"image": float32 (S, S, 3) in [0, 1], "labels": float32 (L,), "clean_labels": float32 (L,),
"id": int64}` (the images' values are 8-bit values / 255); the functions here turn that into
what each model trains on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os

import numpy as np
import tensorflow as tf

from kerasolr.config import DataConfig
from kerasolr.data import celeba, folder, images, store, synthfaces, tfds_celeba
from kerasolr.rundir import log

SPLITS = ("train", "validation", "test")
SHUFFLE_BUFFER = 20000    # elements shuffled at a time (at most the training split)
FOLDER_CSV = "labels.csv"
HELD_OUT_CACHE = "held_out_"   # prefix of `held_out`'s disk caches
_TABLES: dict = {}
_SPLITS: dict = {}
_BUILDERS: dict = {}


def label_names(data: DataConfig) -> tuple[str, ...]:
    """The label names a data config selects, in order."""
    if data.dataset == "synthfaces":
        return synthfaces.validate_attributes(data.attributes)
    if data.dataset == "celeba_tfds":
        names = tfds_celeba.label_names(data.attributes)
        _tfds_builder(data)      # not prepared and no way to prepare it: fail here
        return names
    if data.store:
        return tuple(store.manifest(data)["label_names"])
    return _file_table(data).names


def _tfds_builder(data: DataConfig):
    """The prepared TFDS `celeb_a` builder (prepared from `manual_dir` once per data dir)."""
    key = (data.root, data.manual_dir)
    if key not in _BUILDERS:
        _BUILDERS[key] = tfds_celeba.load_builder(data.root, data.manual_dir)
    return _BUILDERS[key]


def _tfds_split(data: DataConfig, split: str) -> np.ndarray:
    """Official indices of one split of `celeba_tfds`, computed once per process."""
    key = (data, split)
    if key not in _SPLITS:
        counts = tfds_celeba.split_counts(_tfds_builder(data))
        _SPLITS[key] = tfds_celeba.split_ids(
            counts, data.split_mode, split, data.train_fraction, data.seed,
            split_cap(data, split), data.val_fraction)
    return _SPLITS[key]


def _file_table(data: DataConfig):
    """The label table of a `celeba` or `folder` dataset (read once per process)."""
    key = (data.dataset, data.root, data.attributes)
    if key not in _TABLES:
        if data.dataset == "celeba":
            _TABLES[key] = celeba.read_attributes(
                os.path.join(data.root, celeba.ATTRIBUTE_FILE), data.attributes)
        elif data.dataset == "folder":
            _TABLES[key] = folder.read_label_csv(os.path.join(data.root, FOLDER_CSV),
                                                 data.attributes)
        else:
            raise ValueError(f"unknown dataset {data.dataset!r}")
    return _TABLES[key]


def file_split(data: DataConfig, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paths (a bytes array), labels and ids of one split of an image-file dataset, bad files
    scanned once per process (an error naming the first, or skipped and reported)."""
    key = (data, split)
    if key not in _SPLITS and data.store:
        _SPLITS[key] = store.split_arrays(data, split)    # scanned when the store was made
    if key not in _SPLITS:
        if not os.path.isdir(data.root):
            raise FileNotFoundError(f"dataset folder {data.root} does not exist")
        table = _file_table(data)
        partitions = None
        if data.split_mode == "official":
            if data.dataset != "celeba":
                raise ValueError("data.split_mode='official' needs the celeba layout's "
                                 "partition file; use 'random' for a folder")
            partitions = celeba.read_partitions(os.path.join(data.root, celeba.PARTITION_FILE))
        indices = celeba.split_indices(table.filenames, data.split_mode, split, partitions,
                                       data.train_fraction, data.seed, data.val_fraction)
        indices = indices[:split_cap(data, split)]
        if len(indices) == 0:
            raise ValueError(f"the {split} split of the {data.dataset} dataset at {data.root} "
                             f"is empty (split_mode={data.split_mode!r})")
        base = os.path.join(data.root, celeba.IMAGE_DIR) if data.dataset == "celeba" \
            else data.root
        paths = images.path_array(os.path.join(base, table.filenames[i]) for i in indices)
        good = images.check_or_skip(images.scan_images(paths, min_size=data.image_size),
                                    data.skip_bad, log=log)
        _SPLITS[key] = (paths[good], table.labels[indices[good]], indices[good])
    return _SPLITS[key]


def split_cap(data: DataConfig, split: str) -> int:
    """`num_train`, `num_val` or `num_test`: the size cap of one split."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return {"train": data.num_train, "validation": data.num_val, "test": data.num_test}[split]


def synthfaces_range(data: DataConfig, split: str) -> tuple[int, int]:
    """Generator indices `[start, stop)` of a synthfaces split: train first,
    then test, then validation (after test, so that adding validation left
    every earlier test figure as it was)."""
    bounds = {"train": (0, data.num_train),
              "test": (data.num_train, data.num_train + data.num_test),
              "validation": (data.num_train + data.num_test,
                             data.num_train + data.num_test + data.num_val)}
    split_cap(data, split)
    return bounds[split]


def split_size(data: DataConfig, split: str) -> int:
    """How many images a split yields (after caps and skipped bad files)."""
    if data.dataset == "synthfaces":
        return split_cap(data, split)
    if data.dataset == "celeba_tfds":
        return len(_tfds_split(data, split))
    return len(file_split(data, split)[0])


def split_files(data: DataConfig, split: str) -> list[str] | None:
    """The image file of each position of a split (image-file datasets), or
    `None` where images are not files (synthfaces, TFDS)."""
    if data.dataset not in ("celeba", "folder") or not available(data):
        return None
    return [os.fsdecode(path) for path in file_split(data, split)[0]]


def check_splits(data: DataConfig, names) -> None:
    """Checks, before any training, what would otherwise stop a run late: a
    validation or test split under `MIN_SPLIT_IMAGES` images, and (image-file
    datasets, whose labels are known without decoding) a label no training
    image has. Image files are scanned here (bad files fail or are skipped).

    Raises:
        ValueError: One line naming the split or the label.
    """
    from kerasolr.config import MIN_SPLIT_IMAGES

    for split in SPLITS:
        size = split_size(data, split)
        least = 2 if split == "train" else MIN_SPLIT_IMAGES
        if size < least:
            raise ValueError(f"the {split} split of the {data.dataset} dataset"
                             + (f" at {data.root}" if data.root else "")
                             + f" has {size} images; at least {least} are needed "
                             "(more images, or other data.train_fraction / data.val_fraction)")
    if data.dataset in ("celeba", "folder"):
        labels = file_split(data, "train")[1]
        unseen = [name for name, count in zip(names, (labels > 0.5).sum(axis=0), strict=True)
                  if count == 0]
        if unseen:
            raise ValueError(f"label {unseen[0]!r} is absent from every training image "
                             f"({len(unseen)} such label(s)); drop it with --set "
                             "data.attributes=[...] or add images that have it")


def shuffle_buffer(data: DataConfig) -> int:
    """The shuffle buffer of the training split: `SHUFFLE_BUFFER`, or the whole split."""
    return min(SHUFFLE_BUFFER, split_size(data, "train"))


def load_split(data: DataConfig, split: str, cache: bool | str = False,
               uint8: bool = False, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Loads one split as unbatched elements.

    Args:
        data: The data config.
        split: `"train"`, `"validation"` or `"test"`. Label noise applies to
            `"train"` and `"validation"` (`"labels"`; `"clean_labels"` is the truth).
        cache: Keep the decoded split (as uint8) after the first pass: `True`
            in memory, a path prefix on disk (`tf.data` cache files, complete
            only after a whole pass), `False` to decode every pass.
        uint8: Images as uint8 (image files cropped without any float
            conversion at the model's size, see `images.load_square`; other
            sources rounded to 8 bits) instead of float32 in [0, 1]. The float
            images are the same 8-bit pixels divided by 255, so every stage,
            cached or not, from a store or not, sees the pixels the training
            stages train on.
        shuffle_seed: Image-file datasets without a cache only: the files are
            shuffled (anew every pass) before decoding. See `training_split`.

    Returns:
        A `tf.data.Dataset` of element dicts, in index order (`celeba_tfds`:
        in TFDS's stored order, see `kerasolr.data.tfds_celeba`).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if data.dataset == "celeba_tfds":
        names = tfds_celeba.label_names(data.attributes)
        ds = tfds_celeba.make_dataset(_tfds_builder(data), _tfds_split(data, split), names,
                                      data.image_size)
    elif data.store:
        if shuffle_seed is not None:
            raise ValueError("shuffle_seed applies to image files; a store is read "
                             "by `training_split`")
        _, labels, ids = file_split(data, split)
        ds = store.split_dataset(data, split, labels, ids)   # uint8 already: nothing to cache
        return ds if uint8 else ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    elif data.dataset != "synthfaces":
        paths, labels, ids = file_split(data, split)
        if shuffle_seed is not None and cache:
            raise ValueError("shuffle_seed shuffles files before decoding; a cached split "
                             "is shuffled after the cache")
        ds = images.image_dataset(paths, labels, data.image_size, ids, tf.uint8, shuffle_seed)
    else:
        if shuffle_seed is not None:
            raise ValueError("shuffle_seed applies to image-file datasets")
        start, stop = synthfaces_range(data, split)
        # Validation labels are as noisy as training labels (a user's would be);
        # test labels are clean. `clean_labels` is always the truth.
        noise = 0.0 if split == "test" else data.label_noise
        ds = synthfaces.make_dataset(start, stop, image_size=data.image_size, seed=data.seed,
                                     label_noise=noise, attributes=data.attributes)
    # Every stage sees the same 8-bit pixels, cached or not: those the training
    # stages train on, a store holds and a cache keeps.
    ds = ds.map(_to_uint8, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if not uint8:
        ds = ds.map(_to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds


@dataclasses.dataclass(frozen=True)
class FileRecords:
    """A training split of image files not decoded yet (`training_split` with
    `data.cache="none"`): the file records (`images.file_records`, shuffled
    anew every epoch before decoding) and the side they decode to.

    `classifier_batches` and `pair_batches` decode them only after each
    worker of a multi-worker strategy has kept its own rows of every global
    batch, so N workers decode 1/N of the images each (`worker_batches`).
    """

    records: tf.data.Dataset
    image_size: int

    def decoded(self) -> tf.data.Dataset:
        """The standard elements, uint8 images, in the records' order."""
        return self.decode_all(self.records)

    def decode_all(self, records: tf.data.Dataset) -> tf.data.Dataset:
        """Unbatched records (the rows this pipeline keeps) as standard elements."""
        return records.map(self.decode, num_parallel_calls=tf.data.AUTOTUNE,
                           deterministic=True)

    def decode(self, record: dict) -> dict:
        return images.decode_record(record, self.image_size, tf.uint8)


@dataclasses.dataclass(frozen=True)
class StoreRecords(FileRecords):
    """A training split read from a store (`data.store`): records of positions
    in the store, read a batch of rows at a time and never decoded; split
    between workers as `FileRecords` are."""

    data: DataConfig | None = None
    split: str = "train"

    def decode_all(self, records: tf.data.Dataset) -> tf.data.Dataset:
        return store.read_records(self.data, self.split, records)

    def decode(self, record: dict) -> dict:
        raise TypeError("a store is read a batch of rows at a time (decode_all)")


def training_split(data: DataConfig, cache_dir: str, seed: int
                   ) -> tuple[tf.data.Dataset | FileRecords, int]:
    """The training split as the training stages read it (uint8 images), and
    the shuffle buffer their batches need.

    Image files without a cache (`data.cache="none"`, the paper recipe's
    default) come as `FileRecords`: shuffled as file names before decoding,
    so no decoded image waits in a buffer (the old 20,000-image buffer held
    7.6 GB of float32 at 178 px) and the buffer is 0, and decoded by each
    worker only for its own rows. Otherwise decoded or generated images are
    shuffled after the cache in a `shuffle_buffer(data)` buffer.
    """
    if data.store:
        _, labels, ids = file_split(data, "train")
        return StoreRecords(store.records(labels, ids, shuffle_seed=seed), data.image_size,
                            data), 0
    if data.dataset in ("celeba", "folder") and data.cache == "none":
        paths, labels, ids = file_split(data, "train")
        return FileRecords(images.file_records(paths, labels, ids, shuffle_seed=seed),
                           data.image_size), 0
    return (load_split(data, "train", uint8=True,
                       cache=cache_argument(data, cache_dir, "train")),
            shuffle_buffer(data))


def cache_argument(data: DataConfig, cache_dir: str, name: str) -> bool | str:
    """`load_split`'s `cache` for `data.cache`: a disk prefix in `cache_dir`
    (`"disk"`), `True` (`"memory"`) or `False` (`"none"`)."""
    if data.cache == "disk":
        return disk_cache(cache_dir, name)
    return data.cache == "memory"


def take(ds: tf.data.Dataset, n: int) -> dict[str, np.ndarray]:
    """The first `n` elements of an unbatched split as numpy arrays."""
    batch = next(iter(ds.take(n).batch(n)))
    return {key: value.numpy() for key, value in batch.items()}


def images_at(data: DataConfig, split: str, indices) -> np.ndarray:
    """The images of a split at the given positions (in the order given),
    found in one streaming pass that stops once all are found."""
    return images_in(load_split(data, split), indices)


def images_in(ds: tf.data.Dataset, indices) -> np.ndarray:
    """`images_at` of an already loaded split (unbatched float elements)."""
    wanted = np.asarray(indices)
    found: dict[int, np.ndarray] = {}
    position = 0
    for batch in example_batches(ds, 256):
        size = len(batch["image"])
        for i in np.flatnonzero((wanted >= position) & (wanted < position + size)):
            found[int(i)] = batch["image"][wanted[i] - position].numpy()
        position += size
        if len(found) == len(wanted):
            break
    return np.stack([found[i] for i in range(len(wanted))])


def held_out(data: DataConfig, split: str, cache_dir: str) -> tf.data.Dataset:
    """A split that several evaluation sections read (float elements, in
    order), decoded or generated once: its first whole pass writes its images
    (uint8) to a `tf.data` disk cache in `cache_dir` that every later pass
    reads, so memory does not grow with the split (disk: `S x S x 3` bytes an
    image, 1.2 GB for CelebA's 12,600 test images at 178 px). Cache files an
    earlier evaluation left there are removed first; `remove_held_out` removes
    these. A store is read as it is, with no cache.

    The first pass over it must be whole (a partial first pass would leave
    the cache unfinished).
    """
    if data.store:
        return load_split(data, split)
    remove_held_out(cache_dir, split)
    return load_split(data, split, cache=disk_cache(cache_dir, HELD_OUT_CACHE + split))


@contextlib.contextmanager
def held_out_splits(data: DataConfig, splits, cache_dir: str):
    """`{split: held_out(...)}` for a `with` block; the caches are removed when
    it ends, also when it ends in an error (a later `held_out` would remove
    them anyway, but a crashed evaluation should not leave gigabytes behind)."""
    try:
        yield {split: held_out(data, split, cache_dir) for split in splits}
    finally:
        for split in splits:
            remove_held_out(cache_dir, split)


def remove_held_out(cache_dir: str, split: str) -> None:
    """Removes the disk cache `held_out` wrote for `split` (if any)."""
    if not os.path.isdir(cache_dir):
        return
    for entry in os.listdir(cache_dir):
        if entry.startswith(HELD_OUT_CACHE + split + "."):
            os.remove(os.path.join(cache_dir, entry))


def truth_correlation(data: DataConfig, names) -> np.ndarray | None:
    """The labels' exact correlation matrix where the dataset knows it
    (synthfaces' generator), else `None`."""
    if data.dataset == "synthfaces":
        return synthfaces.exact_correlation_matrix(names)
    return None


def available(data: DataConfig) -> bool:
    """Whether the dataset's files are on this machine (synthfaces always is)."""
    if data.dataset == "synthfaces":
        return True
    if data.dataset == "celeba_tfds":
        return data.root is None or os.path.isdir(data.root)
    if data.store:
        return os.path.isfile(os.path.join(data.store, store.MANIFEST))
    return os.path.isdir(data.root)


def disk_cache(directory: str, name: str) -> str:
    """A `tf.data` disk-cache prefix in `directory`, with any lock left by a
    killed process removed (only one process uses a run's cache folder)."""
    os.makedirs(directory, exist_ok=True)
    for entry in os.listdir(directory):
        if entry.startswith(name) and entry.endswith(".lockfile"):
            os.remove(os.path.join(directory, entry))
    return os.path.join(directory, name)


def _to_uint8(element):
    element = dict(element)
    element["image"] = images.uint8_images(element["image"])
    return element


def _to_float(element):
    element = dict(element)
    element["image"] = images.unit_images(element["image"])
    return element


def lean_options(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Turns `tf.data`'s autotuning off for a pipeline (parallel maps then use
    every core, which is what AUTOTUNE settles on for these pipelines anyway).

    Why: with autotuning on, a new epoch's iterator waits for the previous
    epoch's autotuning thread, which sleeps up to a minute between rounds
    (its period doubles to 60 s), so `fit` stalled at the start of most
    epochs: 25-33 s of idle CPU before the first step of the demo's
    classifier epochs 2-6, measured with `py-spy dump --native` (the main
    thread in `~RootDataset::Iterator`). With it off there is no stall and
    no slower step (`BENCHMARKS.md`, "Input path").
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def for_fit(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Marks a batched dataset that `fit` reads: no autotuning (`lean_options`),
    and `DATA` sharding under a multi-worker strategy.

    Every worker runs the same (seeded) pipeline and keeps its own slice of
    each global batch, so N workers see exactly the batches of one process
    (what makes a multi-worker run equal a single-process one). The price:
    every worker makes every image (from its cache after the first epoch, or
    by generating synthfaces); image files without a cache avoid it
    (`worker_batches`). `AUTO` would choose `DATA` too, with a warning, as
    the sources here are not files TF can shard by.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return lean_options(ds.with_options(options))


@dataclasses.dataclass(frozen=True)
class CleanTargets:
    """The frozen classifier's probabilities of every training image, by id
    (`siamese.clean_targets_once`), for `pair_batches` to carry beside the
    images.

    Attributes:
        ids: `(n,)` int64 element ids of the training split.
        probs: `(n, L)` float32 probabilities of the un-occluded images.
    """

    ids: np.ndarray
    probs: np.ndarray

    def gatherer(self):
        """A function from a tensor of ids to their `(..., L)` probabilities."""
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.ids, tf.int64), tf.range(len(self.ids), dtype=tf.int64)), -1)
        probs = tf.constant(self.probs, tf.float32)
        return lambda ids: tf.gather(probs, table.lookup(ids))


def classifier_batches(ds: tf.data.Dataset | FileRecords, batch_size: int,
                       seed: int | None = None, shuffle_buffer: int = 0,
                       strategy: tf.distribute.Strategy | None = None):
    """`(images, labels)` batches for the classifier.

    Images stay uint8 up to the compiled step, which divides them by 255
    (`kerasolr.data.images.unit_images`): shuffled as uint8 (4x fewer bytes
    than float32), and no float conversion in the input pipeline.

    Args:
        ds: Unbatched element dicts, or `FileRecords` (already shuffled; then
            the last incomplete batch of each epoch is dropped, and under a
            multi-worker `strategy` each worker decodes only its rows).
        batch_size: Images per (global) batch.
        seed: Shuffle seed.
        shuffle_buffer: Shuffle buffer size; 0 keeps the order.
        strategy: The strategy `fit` runs under (used with `FileRecords`).

    Returns:
        Batches of `((batch, S, S, 3) uint8, (batch, L) float32)` (a
        distributed dataset of each worker's rows, see `worker_batches`).
    """
    def finish(batch):
        return images.uint8_images(batch["image"]), batch["labels"]

    if isinstance(ds, FileRecords):
        return worker_batches(ds, batch_size, finish, strategy)
    ds = ds.map(lambda e: (images.uint8_images(e["image"]), e["labels"]),
                num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return for_fit(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE))


def pair_batches(ds: tf.data.Dataset | FileRecords, batch_pairs: int, seed: int | None = None,
                 shuffle_buffer: int = 0, strategy: tf.distribute.Strategy | None = None,
                 targets: CleanTargets | None = None):
    """Random pairs of images, `(batch_pairs, 2, S, S, 3)` per batch.

    Images are shuffled (reshuffled every epoch) and consecutive images form
    a pair, so each epoch uses every image once, in a new random pairing.
    They stay uint8 up to the compiled step (see `classifier_batches`).

    Args:
        ds: Unbatched element dicts, or `FileRecords` (see `classifier_batches`).
        batch_pairs: Pairs per (global) batch.
        seed: Shuffle seed.
        shuffle_buffer: Shuffle buffer size; 0 keeps the order.
        strategy: The strategy `fit` runs under (used with `FileRecords`).
        targets: The images' un-occluded probabilities, looked up by id and
            carried beside the pairs.

    Returns:
        uint8 batches of pairs, or `(pairs, (batch_pairs, 2, L) probabilities)`
        with `targets`; a last incomplete batch is dropped.
    """
    def to_pairs(x):
        return tf.reshape(x, [-1, 2, *x.shape[1:]])

    gather = targets.gatherer() if targets is not None else None

    def finish(batch):
        pairs = to_pairs(images.uint8_images(batch["image"]))
        return pairs if gather is None else (pairs, to_pairs(gather(batch["id"])))

    if isinstance(ds, FileRecords):
        return worker_batches(ds, 2 * batch_pairs, finish, strategy, rows_per_example=2)
    def element(e):
        kept = {"image": images.uint8_images(e["image"])}
        if targets is not None:
            kept["id"] = e["id"]      # to look the targets up by
        return kept

    ds = ds.map(element, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(2 * batch_pairs, drop_remainder=True).map(finish)
    return for_fit(ds.prefetch(tf.data.AUTOTUNE))


def worker_rows(files: FileRecords, global_rows: int, finish, index: int = 0, count: int = 1,
                replicas: int = 1) -> tf.data.Dataset:
    """The batches one input pipeline (worker) trains on, decoding only its rows.

    Every worker batches the same seeded file permutation into global batches
    of `global_rows` records (the last incomplete one dropped), keeps rows
    `[index * global_rows / count, (index + 1) * global_rows / count)` of
    each, and only then reads and decodes them; its rows are split into
    `replicas` consecutive per-replica batches. So the batches of all workers
    together are those of one process (worker `i`'s rows are what replica
    `i` would get from splitting the global batch), and each decodes 1/count
    of the images.

    Args:
        files: The records.
        global_rows: Records per global batch; a multiple of `count * replicas`.
        finish: Maps a batch of decoded elements to what `fit` reads.
        index: This worker's input pipeline, 0 .. `count` - 1.
        count: The number of input pipelines (workers).
        replicas: Replicas per worker.
    """
    if global_rows % (count * replicas):
        raise ValueError(f"{global_rows} rows a batch do not split over {count} workers "
                         f"of {replicas} replicas")
    rows = global_rows // count
    # Records are cut into global batches before decoding, so not even the
    # dropped remainder of an epoch is decoded.
    ds = files.records.batch(global_rows, drop_remainder=True).map(
        lambda batch: {key: value[index * rows:(index + 1) * rows]
                       for key, value in batch.items()}).unbatch()
    ds = files.decode_all(ds)
    ds = ds.batch(rows // replicas, drop_remainder=True).map(finish)
    return lean_options(ds.prefetch(tf.data.AUTOTUNE))


def worker_batches(files: FileRecords, global_rows: int, finish,
                   strategy: tf.distribute.Strategy | None = None, rows_per_example: int = 1):
    """`worker_rows` for every worker of `strategy`: on one worker a dataset of
    global batches; under a `MultiWorkerMirroredStrategy` of N workers a
    distributed dataset (`distribute_datasets_from_function`) whose workers
    each decode 1/N of the images. Where the global batch does not split
    evenly over the replicas (in whole examples of `rows_per_example` rows),
    every worker decodes the whole batch and keeps its slice (`for_fit`),
    which is said once in the log."""
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return for_fit(worker_rows(files, global_rows, finish))
    replicas = strategy.num_replicas_in_sync
    if global_rows % (rows_per_example * replicas):
        log(f"input: a global batch of {global_rows // rows_per_example} does not split over "
            f"{replicas} replicas; every worker decodes every image of it")
        # One input pipeline of whole global batches, each worker's slice kept by `for_fit`.
        return for_fit(worker_rows(files, global_rows, finish))

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        workers = context.num_input_pipelines
        return worker_rows(files, global_rows, finish, context.input_pipeline_id, workers,
                           context.num_replicas_in_sync // workers)

    return strategy.distribute_datasets_from_function(dataset_fn)


def example_batches(ds: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
    """Element dicts batched in order (for embedding extraction)."""
    return lean_options(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE))
