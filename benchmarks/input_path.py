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
  not timed here.

The two paths give the same pixels at 178 px and differ by the 8-bit rounding
of the resized image at other sizes (checked here, max |difference| printed;
a cached split was always stored rounded so). Paths are timed alternately,
`--repeats` times each, and the median
is kept.

Usage (about 2-3 minutes on 2 cores):
    python benchmarks/input_path.py [--root ../shared/data/celeba-178-train-4k]
        [--images 1500] [--sizes 178 64] [--repeats 3]
Last line: `speedup_178=<r> speedup_64=<r>` (images per second per core, now / before).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import tensorflow as tf

from kerasolr.data import images, pipeline

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
    folder = os.path.join(args.root, "img_align_celeba")
    if not os.path.isdir(folder):
        raise SystemExit(f"no images in {folder}; pass --root")
    names = sorted(os.listdir(folder))[:args.images]
    paths = images.path_array([os.path.join(folder, name) for name in names])
    summary = {}
    for size in args.sizes:
        old = next(iter(tf.data.Dataset.from_tensor_slices(paths[:8]).map(
            lambda p, size=size: before_load(p, size)).batch(8)))
        new = next(iter(images.image_dataset(paths[:8], np.zeros((8, 1)), size,
                                             dtype=tf.uint8).batch(8)))
        new = new["image"].numpy().astype(np.float32) / 255.0
        print(f"{size} px: max |before - now| over 8 images = "
              f"{float(np.abs(old.numpy() - new).max()):.2e}", flush=True)
        rates = {"before": [], "now": []}
        for _ in range(args.repeats):
            for name, make in (("before", before_batches), ("now", now_batches)):
                rates[name].append(images_per_second(
                    lambda m=make, size=size: m(paths, size, len(paths))))
        before, now = statistics.median(rates["before"]), statistics.median(rates["now"])
        print(f"{size} px, {len(paths)} JPEGs of 178x218, one core: before {before:.0f} "
              f"images/s ({1000 / before:.2f} ms each), now {now:.0f} images/s "
              f"({1000 / now:.2f} ms each); runs: {rates}", flush=True)
        summary[f"speedup_{size}"] = now / before
    print(" ".join(f"{key}={value:.2f}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
