import os

import numpy as np
import pytest
import tensorflow as tf

from kerasolr.embeddings import extract_embeddings, load_embeddings, write_npz_streaming
from kerasolr.models import build_encoder


def test_streamed_npz_equals_concatenated_batches(tmp_path):
    rng = np.random.default_rng(0)
    batches = [{"a": rng.random((n, 3, 2)).astype(np.float32), "ids": np.arange(n) + 10 * i}
               for i, n in enumerate([4, 4, 1])]
    path = str(tmp_path / "x.npz")
    counts = write_npz_streaming(path, iter(batches))
    assert counts == {"a": 9, "ids": 9}
    loaded = load_embeddings(path)
    np.testing.assert_array_equal(loaded["a"], np.concatenate([b["a"] for b in batches]))
    np.testing.assert_array_equal(loaded["ids"], np.concatenate([b["ids"] for b in batches]))
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]  # no temporary files left


def test_interrupted_extraction_leaves_no_file(tmp_path):
    def batches():
        yield {"a": np.zeros((2, 2))}
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_npz_streaming(str(tmp_path / "x.npz"), batches())
    assert list(tmp_path.iterdir()) == []


def test_extract_embeddings_matches_the_encoder(tmp_path):
    encoder = build_encoder(4, 3, 16, (4, 8))
    images = np.random.default_rng(1).random((10, 16, 16, 3), dtype=np.float32)
    labels = (images[:, 0, 0, :1] > 0.5).repeat(4, axis=1).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(
        {"image": images, "labels": labels, "clean_labels": labels,
         "id": np.arange(10, dtype=np.int64)}).batch(4)
    extract_embeddings(encoder, ds, str(tmp_path / "e.npz"))
    out = load_embeddings(str(tmp_path / "e.npz"))
    np.testing.assert_allclose(out["embeddings"], encoder.predict(images, verbose=0), atol=1e-5)
    np.testing.assert_array_equal(out["ids"], np.arange(10))
    np.testing.assert_array_equal(out["labels"], labels)


def test_missing_embeddings_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        load_embeddings(str(tmp_path / "nothing.npz"))


def test_disk_cache_gives_the_same_elements_and_survives_a_stale_lock(tmp_path):
    from kerasolr.config import DataConfig
    from kerasolr.data import pipeline

    data = DataConfig(image_size=16, num_train=40, num_test=8)
    plain = [e["image"].numpy() for e in pipeline.load_split(data, "train")]
    directory = str(tmp_path / "cache")
    # A pass that never finishes (a process killed mid-epoch) leaves a lock behind.
    abandoned = iter(pipeline.load_split(data, "train",
                                         cache=pipeline.disk_cache(directory, "train")))
    next(abandoned)
    assert any(name.endswith(".lockfile") for name in os.listdir(directory))
    for _ in range(2):       # the first pass writes the cache, the second reads it
        cached = [e["image"].numpy() for e in pipeline.load_split(
            data, "train", cache=pipeline.disk_cache(directory, "train"))]
        assert len(cached) == len(plain)
        for a, b in zip(plain, cached, strict=True):
            np.testing.assert_allclose(a, b, atol=0.5 / 255)     # uint8 round trip
    assert any(name.endswith(".index") for name in os.listdir(directory))
    del abandoned
