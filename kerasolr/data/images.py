"""Labelled image files -> the standard `tf.data` elements, with bad files found and named.

Streaming: files are read and decoded in parallel inside `tf.data` (nothing
holds the dataset in memory), cropped to the central square (our reading of the paper's crop),
resized to the model resolution. Elements are `{"image": float32 (S, S, 3) in [0, 1],
"labels", "clean_labels": float32 (L,), "id": int64}` like every loader's.

The paper's square crop (section 4: 178x178 from CelebA's 178x218 aligned
faces): the full width and the central rows, `(height - width) // 2` cut from
the top and the rest from the bottom: rows [20, 198) at full resolution,
[10, 99) of the 89x109 half-resolution subset. The neck at the bottom is
partly cut, which is why the paper drops Wearing_Necklace and Wearing_Necktie.
"""

from __future__ import annotations

import dataclasses
import itertools
import os

import numpy as np
import tensorflow as tf


def square_crop_box(height: int, width: int) -> tuple[int, int, int]:
    """`(top, left, side)` of an image's central square: our reading of the
    paper's "cropped and resized" (it gives no rows)."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def decode(encoded: tf.Tensor) -> tf.Tensor:
    """Decodes a JPEG, PNG, BMP or GIF (first frame) to `(height, width, 3)` uint8."""
    return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def unit_images(images: tf.Tensor) -> tf.Tensor:
    """Images as float32 in [0, 1]: uint8 ones divided by 255 (the training
    steps do this in the compiled graph), float ones unchanged."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return images


def uint8_images(images: tf.Tensor) -> tf.Tensor:
    """Images as uint8: float ones in [0, 1] rounded to 8 bits (what a cached
    split stores and a shuffle buffer holds), uint8 ones unchanged."""
    if images.dtype == tf.uint8:
        return images
    return tf.cast(tf.round(images * 255.0), tf.uint8)


def _central_square(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`(square, side)`: the paper's square crop of a decoded image (`square_crop_box`)."""
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    return tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2,
                                         (shape[1] - side) // 2, side, side), side


def _to_size(square: tf.Tensor, side: tf.Tensor, image_size: int, dtype=tf.float32):
    """A uint8 square at `(image_size, image_size, 3)`: resized (antialiased,
    in float32) only when its side differs; float32 in [0, 1] or uint8 (the
    crop itself when no resize is needed, else the resized image rounded)."""

    def resized():
        image = tf.image.resize(unit_images(square), [image_size, image_size], antialias=True)
        image = tf.clip_by_value(image, 0.0, 1.0)
        return uint8_images(image) if dtype == tf.uint8 else image

    same = (lambda: square) if dtype == tf.uint8 else (lambda: unit_images(square))
    image = tf.cond(tf.equal(side, image_size), same, resized)
    image.set_shape([image_size, image_size, 3])
    return image


def square_crop_resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """The paper's square crop (`square_crop_box`), then an antialiased resize
    (none when the crop already has the output size).

    Args:
        image: `(height, width, 3)` uint8 image.
        image_size: Output side.

    Returns:
        `(image_size, image_size, 3)` float32 image in [0, 1].
    """
    return _to_size(*_central_square(image), image_size)


def load_square(encoded: tf.Tensor, image_size: int, dtype=tf.float32) -> tf.Tensor:
    """An encoded image file to the paper's square crop at `image_size`.

    A JPEG is decoded only inside its central square
    (`tf.io.decode_and_crop_jpeg`, its size read from the header); other
    formats are decoded whole, then cropped. Same pixels either way.

    Args:
        encoded: The file's bytes.
        image_size: Output side.
        dtype: `tf.float32` (in [0, 1]) or `tf.uint8`: the crop as decoded when
            it has the size already (no float conversion at all), else the
            resized image rounded to 8 bits (what a cached split stores).
    """

    def jpeg():
        shape = tf.io.extract_jpeg_shape(encoded)
        side = tf.minimum(shape[0], shape[1])
        window = tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2, side, side])
        return _to_size(tf.io.decode_and_crop_jpeg(encoded, window, channels=3), side,
                        image_size, dtype)

    return tf.cond(tf.io.is_jpeg(encoded), jpeg,
                   lambda: _to_size(*_central_square(decode(encoded)), image_size, dtype))


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """What a scan of the image files found.

    Attributes:
        good: Indices of the usable files.
        bad: `(path, reason)` of every unusable file, in index order.
    """

    good: np.ndarray
    bad: tuple[tuple[str, str], ...]


def path_array(paths) -> np.ndarray:
    """Paths as one compact numpy bytes array (file-system encoding), whatever
    their form (a list, any iterable, a numpy array): a 200,000-path list of
    Python strings costs ~4x the memory. Built 4,096 paths at a time, so no
    whole-list copy of the paths exists on the way (`np.asarray` of 200,000
    strings alone is a 4-byte-per-character array, ~40 MB)."""
    if isinstance(paths, np.ndarray) and paths.dtype.kind == "S":
        return paths
    rest, chunks = iter(paths), []
    # os.fsencode takes str, bytes and os.PathLike alike (bytes stay as they are).
    while chunk := [os.fsencode(path) for path in itertools.islice(rest, 4096)]:
        chunks.append(np.array(chunk, dtype=bytes))
    return np.concatenate(chunks) if chunks else np.array([], dtype=bytes)


def scan_images(paths, min_size: int, batch_size: int = 64) -> ScanReport:
    """Finds missing files, files that do not decode as images (corrupt or
    truncated JPEGs) and images whose square crop is smaller than `min_size`.

    One parallel decoding pass in `tf.data`; a file that fails to decode is
    dropped there and named here by the indices that did not come through.
    Bookkeeping is in numpy arrays, so memory per image is a few bytes.
    """
    paths = path_array(paths)
    n = len(paths)
    present = np.fromiter((os.path.isfile(p) for p in paths), bool, count=n)
    decoded = np.zeros(n, bool)
    small: dict[int, tuple[int, int]] = {}

    def shape_of(index, path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return index, tf.shape(image)[:2]

    indices = np.flatnonzero(present).astype(np.int64)
    ds = tf.data.Dataset.from_tensor_slices((indices, paths[indices]))
    ds = ds.map(shape_of, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.ignore_errors().batch(batch_size)
    for batch_indices, shapes in ds:
        batch_indices, shapes = batch_indices.numpy(), shapes.numpy()
        decoded[batch_indices] = True
        too_small = shapes.min(axis=1) < min_size
        for index, shape in zip(batch_indices[too_small], shapes[too_small], strict=True):
            small[int(index)] = (int(shape[0]), int(shape[1]))

    def reason(i: int) -> str:
        if not present[i]:
            return "missing file"
        if not decoded[i]:
            return "not a decodable image (corrupt or truncated)"
        height, width = small[i]
        return f"image is {width}x{height}, smaller than the {min_size}x{min_size} crop"

    bad = ~present | ~decoded
    bad[list(small)] = True
    bad_indices = np.flatnonzero(bad)
    return ScanReport(np.flatnonzero(~bad).astype(np.int64),
                      tuple((os.fsdecode(paths[i]), reason(int(i))) for i in bad_indices))


def check_or_skip(report: ScanReport, skip_bad: bool, log=print) -> np.ndarray:
    """Raises on the first bad file (one line naming it), or, with `skip_bad`,
    reports how many and which were skipped and returns the good indices."""
    if report.bad and not skip_bad:
        path, reason = report.bad[0]
        more = f" (and {len(report.bad) - 1} more bad files)" if len(report.bad) > 1 else ""
        raise ValueError(f"{path}: {reason}{more}; --set data.skip_bad=true skips bad images")
    if report.bad:
        log(f"skipping {len(report.bad)} bad image(s): "
            + "; ".join(f"{path} ({reason})" for path, reason in report.bad[:20])
            + (" ..." if len(report.bad) > 20 else ""))
    return report.good


def file_records(paths, labels, ids=None, shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Labelled image files as undecoded records (what `decode_record` decodes).

    Args:
        paths: Image file paths (already checked, e.g. by `scan_images`).
        labels: `(N, L)` 0/1 labels.
        ids: `(N,)` int64 ids (default: 0..N-1).
        shuffle_seed: Shuffle the files (anew on every pass) with this seed:
            no decoded image ever waits in a shuffle buffer.

    Returns:
        An unbatched `tf.data.Dataset` of `{"path": string, "labels": float32
        (L,), "id": int64}`, in file order (or shuffled, see `shuffle_seed`).
    """
    labels = np.asarray(labels, np.float32)
    ids = np.arange(len(paths), dtype=np.int64) if ids is None else np.asarray(ids, np.int64)
    ds = tf.data.Dataset.from_tensor_slices(
        {"path": path_array(paths), "labels": labels, "id": ids})
    if shuffle_seed is not None:
        ds = ds.shuffle(len(labels), seed=shuffle_seed, reshuffle_each_iteration=True)
    return ds


def decode_record(record: dict, image_size: int, dtype=tf.float32) -> dict:
    """One `file_records` record read and decoded into the standard element
    (`image` by `load_square`; `clean_labels` are the file's labels)."""
    return {"image": load_square(tf.io.read_file(record["path"]), image_size, dtype),
            "labels": record["labels"], "clean_labels": record["labels"], "id": record["id"]}


def image_dataset(paths, labels, image_size: int, ids=None, dtype=tf.float32,
                  shuffle_seed: int | None = None) -> tf.data.Dataset:
    """Streams labelled image files as the standard elements.

    Args:
        paths: Image file paths (already checked, e.g. by `scan_images`).
        labels: `(N, L)` 0/1 labels.
        image_size: Output side after the square crop and the resize.
        ids: `(N,)` int64 ids (default: 0..N-1).
        dtype: Of the images: `tf.float32` in [0, 1], or `tf.uint8`
            (`load_square`).
        shuffle_seed: Shuffle the files (anew on every pass) before decoding,
            with this seed: no decoded image waits in a shuffle buffer.

    Returns:
        An unbatched `tf.data.Dataset` in file order (or shuffled, see
        `shuffle_seed`); decoding, crop and resize run in parallel.
    """
    return file_records(paths, labels, ids, shuffle_seed).map(
        lambda record: decode_record(record, image_size, dtype),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
