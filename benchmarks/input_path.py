"""The image-file input path per CPU core, before and after issue 17, on real CelebA JPEGs.

Both paths read the same files and yield shuffled batches of images, each
in one `tf.data` pipeline restricted to one thread (a private thread pool of
1, maps with parallelism 1, one thread per op):

- before: the whole JPEG decoded (`decode_image`), the central square cut,
  converted to float32, resized with antialiasing even when the size does not
  change (178 -> 178), and shuffled as float32 images (the code of
  `kerasolr.data.images` before issue 17, restated here as the reference);
- now: what the training stages read from image files without a cache
  (`pipeline.training_split`): the file names shuffled before decoding,
  `kerasolr.data.images.load_square` as uint8 (only the central square
  decoded, no resize and no float conversion at the same size), batched as
  uint8 by `pipeline.classifier_batches`; the compiled step divides by 255
  (`data.images.unit_images`), which is not part of the input path and is
  not timed here;
- store: the same files prepared once by `kerasolr prepare` (`kerasolr.data.store`)
  and read as a run with `data.store` reads them (`pipeline.training_split`:
  positions shuffled, rows read from the memory-mapped store a batch at a
  time, nothing decoded). The one-off `prepare` (a scan and a decode of every
  file, on every core) is timed apart and its pay-back in epochs printed.

The paths give the same pixels at 178 px and differ by the 8-bit rounding
of the resized image at other sizes (checked here, max |difference| printed;
a cached split was always stored rounded so). Paths are timed alternately,
`--repeats` times each, and the median
is kept.

Usage (about 2-3 minutes on 2 cores):
    python benchmarks/input_path.py [--root ../shared/data/celeba-178-train-4k]
        [--images 1500] [--sizes 178 64] [--repeats 3]
Last line: `speedup_178=<r> store_speedup_178=<r> ...` (images per second per core, now /
before and store / before).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

from kerasolr.config import DataConfig
from kerasolr.data import images, pipeline, store

BATCH = 32


def before_load(path, image_size: int):
    """The pre-issue-17 element path: full decode, crop, float, resize always."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    image = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2,
                                          (shape[1] - side) // 2, side, side)
    image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, [image_size, image_size],
                            antialias=True)
    image = tf.clip_by_value(image, 0.0, 1.0)
    image.set_shape([image_size, image_size, 3])
    return image


def one_thread(ds: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return ds.with_options(options)


def before_batches(paths, image_size: int, shuffle: int) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(paths)
    ds = ds.map(lambda p: before_load(p, image_size), num_parallel_calls=1)
    ds = ds.shuffle(shuffle, seed=0).batch(BATCH)
    return one_thread(ds)


def now_batches(paths, image_size: int, shuffle: int) -> tf.data.Dataset:
    labels = np.zeros((len(paths), 1), np.float32)
    # As `pipeline.training_split` reads image files without a cache: the
    # file names shuffled before decoding, no buffer of decoded images.
    del shuffle
    files = pipeline.FileRecords(images.file_records(paths, labels, shuffle_seed=0), image_size)
    ds = pipeline.classifier_batches(files, BATCH)
    return one_thread(ds.map(lambda x, y: x))


def store_batches(data: DataConfig) -> tf.data.Dataset:
    records, _ = pipeline.training_split(data, "", seed=0)
    return one_thread(pipeline.classifier_batches(records, BATCH).map(lambda x, y: x))


def images_per_second(make) -> float:
    start = time.perf_counter()
    count = 0
    for batch in make():
        count += int(batch.shape[0])
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(
        os.path.dirname(__file__), "..", "..", "shared", "data", "celeba-178-train-4k"))
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--sizes", type=int, nargs="+", default=[178, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.root, "img_align_celeba")):
        raise SystemExit(f"no images in {args.root}/img_align_celeba; pass --root")
    # The training split of a celeba-layout dataset capped at --images: the
    # files every path reads (the store holds exactly them).
    data = DataConfig(dataset="celeba", root=args.root, num_train=args.images, num_val=8,
                      num_test=8, cache="none")
    summary = {}
    scratch = tempfile.mkdtemp(prefix="input_path_store_")
    for size in args.sizes:
        sized = dataclasses.replace(data, image_size=size)
        paths = images.path_array(pipeline.split_files(sized, "train"))
        old = next(iter(tf.data.Dataset.from_tensor_slices(paths[:8]).map(
            lambda p, size=size: before_load(p, size)).batch(8)))
        new = next(iter(images.image_dataset(paths[:8], np.zeros((8, 1)), size,
                                             dtype=tf.uint8).batch(8)))
        new = new["image"].numpy().astype(np.float32) / 255.0
        print(f"{size} px: max |before - now| over 8 images = "
              f"{float(np.abs(old.numpy() - new).max()):.2e}", flush=True)
        out = os.path.join(scratch, f"store_{size}")
        start = time.perf_counter()
        store.prepare(sized, out, log=lambda line: None)
        prepared = time.perf_counter() - start
        stored = dataclasses.replace(sized, store=out)
        assert len(store.split_images(stored, "train")) == len(paths)
        rates = {"before": [], "now": [], "store": []}
        for _ in range(args.repeats):
            makers = (("before", lambda p=paths, s=size: before_batches(p, s, len(p))),
                      ("now", lambda p=paths, s=size: now_batches(p, s, len(p))),
                      ("store", lambda d=stored: store_batches(d)))
            for name, make in makers:
                rates[name].append(images_per_second(make))
        before, now, read = (statistics.median(rates[k]) for k in ("before", "now", "store"))
        print(f"{size} px, {len(paths)} JPEGs of 178x218, one core: before {before:.0f} "
              f"images/s ({1000 / before:.2f} ms each), now {now:.0f} images/s "
              f"({1000 / now:.2f} ms each), store {read:.0f} images/s "
              f"({1000 / read:.3f} ms each); runs: {rates}", flush=True)
        saved = len(paths) / before - len(paths) / read      # seconds per epoch, one core
        print(f"{size} px: prepare {prepared:.1f} s wall for {len(paths) + 16} images "
              f"(all cores, scan included); pays back, against one core of the old path, "
              f"after {prepared / saved:.1f} epochs", flush=True)
        summary[f"speedup_{size}"] = now / before
        summary[f"store_speedup_{size}"] = read / before
    print(" ".join(f"{key}={value:.2f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
