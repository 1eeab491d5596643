"""Embedding extraction on un-occluded images, streamed to an `.npz`.

Batches are appended to temporary raw files, then packed into the `.npz`
(a zip of `.npy` files) by streaming copies, so memory stays flat whatever
the dataset size. The file appears atomically (written under a temporary
name, then renamed), so an interrupted extraction never leaves a half file.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import weakref
import zipfile

import numpy as np
import tensorflow as tf


class _ArrayStream:
    """Appends same-shaped rows of one array to a raw temporary file."""

    def __init__(self, directory: str, name: str):
        self.path = os.path.join(directory, name + ".raw")
        self.file = open(self.path, "wb")  # noqa: SIM115 (closed in finish)
        self.dtype = None
        self.row_shape = None
        self.rows = 0

    def append(self, batch: np.ndarray) -> None:
        batch = np.ascontiguousarray(batch)
        if self.dtype is None:
            self.dtype, self.row_shape = batch.dtype, batch.shape[1:]
        self.file.write(batch.tobytes())
        self.rows += batch.shape[0]

    def finish(self) -> None:
        self.file.close()

    def header(self) -> bytes:
        """The `.npy` header of the whole array."""
        buffer = io.BytesIO()
        shape = (self.rows, *(self.row_shape or ()))
        np.lib.format.write_array_header_1_0(
            buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(self.dtype or np.float32)),
                     "fortran_order": False, "shape": shape})
        return buffer.getvalue()


def write_npz_streaming(path: str, batches, progress=None) -> dict[str, int]:
    """Writes an iterable of dicts of numpy batches to one `.npz`, atomically.

    Args:
        path: Output file.
        batches: Iterable of `{name: (n, ...) array}` with the same names each time.
        progress: A `kerasolr.progress.Progress` told the rows of each batch.

    Returns:
        `{name: number of rows}`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".npz-") as tmp:
        streams: dict[str, _ArrayStream] = {}
        for batch in batches:
            for name, value in batch.items():
                if name not in streams:
                    streams[name] = _ArrayStream(tmp, name)
                streams[name].append(np.asarray(value))
            if progress is not None:
                progress.update(len(next(iter(batch.values()))))
        if progress is not None:
            progress.done()
        for stream in streams.values():
            stream.finish()
        partial = os.path.join(tmp, "out.npz")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED,
                             allowZip64=True) as archive:
            for name, stream in streams.items():
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    member.write(stream.header())
                    with open(stream.path, "rb") as raw:
                        shutil.copyfileobj(raw, member, length=1 << 22)
        os.replace(partial, path)
    return {name: s.rows for name, s in streams.items()}


def extract_embeddings(encoder, batches: tf.data.Dataset, path: str,
                       progress=None) -> dict[str, int]:
    """Embeds every image of a batched element-dict dataset into an `.npz`.

    Args:
        encoder: `(batch, S, S, 3) -> (batch, L, k)` model.
        batches: Batches of `{"image", "labels", "clean_labels", "id"}`.
        path: Output `.npz` with `embeddings (N, L, k)`, `labels (N, L)`,
            `clean_labels (N, L)`, `ids (N,)`.
        progress: A `kerasolr.progress.Progress` (lines with the time left).

    Returns:
        Rows written per array.
    """
    embed = tf.function(lambda x: encoder(x, training=False), reduce_retracing=True)

    def rows():
        for element in batches:
            yield {
                "embeddings": embed(element["image"]).numpy(),
                "labels": element["labels"].numpy(),
                "clean_labels": element["clean_labels"].numpy(),
                "ids": element["id"].numpy(),
            }

    return write_npz_streaming(path, rows(), progress=progress)


_PREDICT = weakref.WeakKeyDictionary()     # model -> its traced inference function


def predict_images(model, batches) -> np.ndarray:
    """`model`'s outputs `(n, ...)` for every image of batched element dicts
    (one traced function per model, kept across calls, for all batch sizes)."""
    if model not in _PREDICT:
        held = weakref.ref(model)      # the cache must not keep the model alive

        def predict(images):
            return held()(images, training=False)

        _PREDICT[model] = tf.function(predict, reduce_retracing=True)
    predict = _PREDICT[model]
    return np.concatenate([predict(element["image"]).numpy() for element in batches])


def embed_array(encoder, images, batch_size: int = 256) -> np.ndarray:
    """Embeddings `(n, L, k)` of an in-memory image array, in batches."""
    return np.concatenate([encoder(images[i:i + batch_size], training=False).numpy()
                           for i in range(0, len(images), batch_size)])


def load_embeddings(path: str, on_disk=()) -> dict:
    """Loads an embeddings `.npz` into a dict of arrays; the arrays named in
    `on_disk` are left in the file, as `NpzArray` row readers."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no embeddings file at {path}")
    with np.load(path) as data:
        loaded = {name: data[name] for name in data.files if name not in on_disk}
    loaded.update({name: NpzArray(path, name) for name in on_disk})
    return loaded


class NpzArray:
    """One array of an uncompressed `.npz` (as `write_npz_streaming` writes
    them), read in row ranges from the file: `len`, `shape`, `dtype` and
    `array[start:stop]`. Nothing is memory-mapped, so reading every row once
    leaves the process's memory as it was (a memory map's pages would count in
    its resident set).
    """

    def __init__(self, path: str, name: str):
        self.path, self.name = path, name
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(f"{path}: {name}.npy is compressed; rows can only be read from "
                             f"an uncompressed .npz (np.savez, or kerasolr's own files)")
        with open(path, "rb") as f:
            # The member's data follows its local header (30 bytes, then its
            # name and extra field, whose lengths the header gives).
            f.seek(info.header_offset)
            local = f.read(30)
            start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") \
                + int.from_bytes(local[28:30], "little")
            f.seek(start)
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran:
            raise ValueError(f"{path}: {name}.npy is in Fortran order")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError(f"NpzArray reads row ranges (array[start:stop]), not {rows!r}")
        start, stop, _ = rows.indices(len(self))
        count = max(0, stop - start)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            data = np.fromfile(f, self.dtype, count * self.row_bytes // self.dtype.itemsize)
        return data.reshape((count, *self.shape[1:]))
