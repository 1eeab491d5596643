"""Workers that split the work (issue 17): on image files without a cache, each worker of
N decodes only its own rows of every global batch, and the N workers' rows together are
the global batches of one process."""

import numpy as np
import pytest
import tensorflow as tf

from kerasolr.config import DataConfig
from kerasolr.data import pipeline
from tests.conftest import write_labelled_folder


@pytest.fixture
def folder(tmp_path):
    write_labelled_folder(tmp_path, 30, (20, 18, 3), seed=7)
    # 19 training images: two full batches of 8 and a remainder of 3.
    return DataConfig(dataset="folder", root=str(tmp_path), image_size=16, cache="none",
                      train_fraction=0.75, val_fraction=0.1)


@pytest.fixture
def decoded_ids(monkeypatch):
    """The ids of the records `FileRecords.decode` decodes, in call order."""
    seen = []
    original = pipeline.FileRecords.decode

    def counting(self, record):
        element = original(self, record)

        def note(index):
            seen.append(int(index))
            return index

        element["id"] = tf.py_function(note, [element["id"]], tf.int64)
        return element

    monkeypatch.setattr(pipeline.FileRecords, "decode", counting)
    return seen


def _classifier(batch):
    return batch["image"], batch["labels"], batch["id"]


def _epoch(data, tmp_path, index, count, finish=_classifier, rows=8, replicas=1):
    # A fresh split per simulated worker: each process seeds its own permutation.
    files, _ = pipeline.training_split(data, str(tmp_path / "cache"), seed=3)
    return [tuple(x.numpy() for x in batch) for batch in pipeline.worker_rows(
        files, rows, finish, index, count, replicas)]


def test_two_workers_rows_make_the_global_batches_and_each_decodes_half(folder, tmp_path,
                                                                          decoded_ids):
    assert pipeline.split_size(folder, "train") == 19
    whole = _epoch(folder, tmp_path, 0, 1)
    assert [len(b[0]) for b in whole] == [8, 8]                  # the remainder is dropped
    assert len(decoded_ids) == 16                                # and never decoded
    by_id = {int(i): image for i, image in zip(*(pipeline.take(pipeline.load_split(
        folder, "train", uint8=True), 100)[key] for key in ("id", "image")), strict=True)}
    for image, _, ids in whole:
        for x, i in zip(image, ids, strict=True):
            np.testing.assert_array_equal(x, by_id[int(i)])

    parts = []
    for index in range(2):
        decoded_ids.clear()
        parts.append(_epoch(folder, tmp_path, index, 2))
        assert sorted(decoded_ids) == sorted(int(i) for b in parts[-1] for i in b[2])
        assert len(decoded_ids) == 8                             # half of the 16
    for step, batch in enumerate(whole):
        for field in range(3):
            np.testing.assert_array_equal(
                np.concatenate([parts[0][step][field], parts[1][step][field]]), batch[field])


def test_pairs_and_replicas_split_in_order(folder, tmp_path, decoded_ids):
    def pairs(batch):
        return tf.reshape(batch["id"], [-1, 2])

    whole = [b[0] for b in _epoch(folder, tmp_path, 0, 1, finish=lambda b: (pairs(b),))]
    assert [b.shape for b in whole] == [(4, 2), (4, 2)]
    per_replica = [b[0] for b in _epoch(folder, tmp_path, 1, 2, lambda b: (pairs(b),),
                                        replicas=2)]
    # Worker 1 of 2 with 2 replicas: pairs 2 and 3 of each global batch, one per replica.
    assert [b.tolist() for b in per_replica] == [
        whole[0][2:3].tolist(), whole[0][3:4].tolist(), whole[1][2:3].tolist(),
        whole[1][3:4].tolist()]
    with pytest.raises(ValueError, match="do not split over 3 workers"):
        _epoch(folder, tmp_path, 0, 3)


def test_one_process_reads_whole_global_batches(folder, tmp_path):
    files, _ = pipeline.training_split(folder, str(tmp_path / "cache"), seed=3)
    batches = list(pipeline.classifier_batches(files, 8))
    assert [(x.shape, x.dtype, y.shape) for x, y in batches] == [
        ((8, 16, 16, 3), tf.uint8, (8, 2))] * 2
    pairs = list(pipeline.pair_batches(files, 4))
    assert [(tuple(b.shape), b.dtype) for b in pairs] == [((4, 2, 16, 16, 3), tf.uint8)] * 2
