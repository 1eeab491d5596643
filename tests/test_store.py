"""The preprocessed image store (issue 17, part 1): `kerasolr prepare` decodes every split
once; a run with `data.store` reads the same pixels, labels and ids, in the same order and
the same training batches, without decoding, and refuses a store made for other settings."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from kerasolr import cli
from kerasolr.config import DataConfig
from kerasolr.data import pipeline, store
from tests.conftest import write_labelled_folder


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    # Not square and larger than the model's side: crop and resize both happen.
    write_labelled_folder(root, 40, (26, 21, 3), seed=11)
    return DataConfig(dataset="folder", root=str(root), image_size=16, cache="none",
                      train_fraction=0.75, val_fraction=0.2, num_test=8, num_val=8)


@pytest.fixture
def prepared(folder, tmp_path):
    out = str(tmp_path / "store")
    store.prepare(folder, out, log=lambda line: None)
    return folder, dataclasses.replace(folder, store=out)


def _all(ds):
    return {k: v.numpy() for k, v in next(iter(ds.batch(1000))).items()}


def test_every_split_reads_back_the_pixels_labels_and_ids_the_files_decode_to(prepared):
    files, stored = prepared
    for split in pipeline.SPLITS:
        a = _all(pipeline.load_split(files, split, uint8=True))
        b = _all(pipeline.load_split(stored, split, uint8=True))
        assert b["image"].dtype == np.uint8
        np.testing.assert_array_equal(a["image"], b["image"])
        for key in ("labels", "clean_labels", "id"):
            np.testing.assert_array_equal(a[key], b[key])
        # As floats: the same 8-bit pixels / 255, from the files or the store.
        a_float = _all(pipeline.load_split(files, split))["image"]
        b_float = _all(pipeline.load_split(stored, split))["image"]
        np.testing.assert_array_equal(b_float, b["image"].astype(np.float32) / 255.0)
        np.testing.assert_array_equal(a_float, b_float)
        assert pipeline.split_size(stored, split) == pipeline.split_size(files, split)
        assert pipeline.split_files(stored, split) == pipeline.split_files(files, split)
    assert pipeline.label_names(stored) == ("Smiling", "Eyeglasses")


def test_training_batches_from_the_store_equal_those_decoded_from_the_files(prepared, tmp_path):
    files, stored = prepared
    from_files, _ = pipeline.training_split(files, str(tmp_path / "c1"), seed=5)
    from_store, buffer = pipeline.training_split(stored, str(tmp_path / "c2"), seed=5)
    assert isinstance(from_store, pipeline.StoreRecords) and buffer == 0
    for make in (lambda ds: pipeline.classifier_batches(ds, 8),
                 lambda ds: pipeline.pair_batches(ds, 4)):
        for _ in range(2):           # two epochs: reshuffled alike
            a = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in make(from_files)]
            b = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in make(from_store)]
            assert len(a) == len(b) == 2        # 22 training images: 2 full global batches
            for x, y in zip(a, b, strict=True):
                tf.nest.map_structure(np.testing.assert_array_equal, x, y)


def test_two_workers_read_their_own_rows_of_the_store(prepared, tmp_path):
    _, stored = prepared

    def epoch(index, count):
        records, _ = pipeline.training_split(stored, str(tmp_path / "c"), seed=3)
        return [batch["id"].numpy() for batch in pipeline.worker_rows(
            records, 8, lambda b: b, index, count)]

    whole, first, second = epoch(0, 1), epoch(0, 2), epoch(1, 2)
    assert len(whole) == 2
    for rows, a, b in zip(whole, first, second, strict=True):
        np.testing.assert_array_equal(rows, np.concatenate([a, b]))


def test_a_store_made_for_other_settings_or_absent_is_refused_in_one_line(prepared, tmp_path):
    files, stored = prepared
    with pytest.raises(ValueError, match=r"prepared with data.image_size=16, this run has 24"):
        pipeline.split_size(dataclasses.replace(stored, image_size=24), "train")
    with pytest.raises(ValueError, match=r"data.seed=0, this run has 1"):
        store.manifest(dataclasses.replace(stored, seed=1))
    with pytest.raises(FileNotFoundError, match=r"no store there"):
        store.manifest(dataclasses.replace(files, store=str(tmp_path / "nowhere")))
    # Truncated images: named, not read as garbage.
    with open(os.path.join(stored.store, "test.images"), "r+b") as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=r"test.images: 100 bytes, expected 6144"):
        store.split_images(dataclasses.replace(stored, num_test=8, num_val=8), "test")


def test_prepare_never_writes_over_a_folder_and_needs_image_files(prepared, folder, tmp_path):
    _, stored = prepared
    manifest = json.loads(open(os.path.join(stored.store, store.MANIFEST)).read())
    assert manifest["splits"] == {"train": 22, "validation": 8, "test": 8}
    before = sorted(os.listdir(stored.store))
    with pytest.raises(FileExistsError, match="exists"):
        store.prepare(folder, stored.store)
    assert sorted(os.listdir(stored.store)) == before
    with pytest.raises(ValueError, match="reads image files"):
        store.prepare(DataConfig(), str(tmp_path / "s2"))


def test_cli_prepare_then_a_run_trains_from_the_store_alone(folder, tmp_path, capsys,
                                                            monkeypatch):
    out = str(tmp_path / "cli_store")
    args = ["prepare", "--out", out, "--preset", "tiny", "--set", "data.dataset=folder",
            "--set", f"data.root={folder.root}", "--set", "data.image_size=16",
            "--set", "data.train_fraction=0.75", "--set", "data.val_fraction=0.2",
            "--set", "data.num_test=8", "--set", "data.num_val=8",
            "--set", "decoder.transpose_channels=[16,8,8]",     # a 16 px decoder
            "--set", "decoder.conv_channels=[8,8,4]"]
    assert cli.main(args) == 0
    assert "store " + out + ": 22 train, 8 validation, 8 test images of 16x16" \
        in capsys.readouterr().out
    assert cli.main(args) == 2                      # the folder exists now
    assert "exists; a store is written only into a new folder" in capsys.readouterr().err
    # A run with the store trains without decoding a single file.
    from kerasolr.data import images

    def no_decoding(*args, **kwargs):
        raise AssertionError("an image file was decoded")

    monkeypatch.setattr(images, "decode_record", no_decoding)
    run_dir = str(tmp_path / "run")
    assert cli.main(["train", "--out", run_dir, *args[3:], "--set", f"data.store={out}",
                     "--set", "classifier.batch_size=8", "--set", "siamese.batch_pairs=4"]) == 0
    assert os.path.exists(os.path.join(run_dir, "encoder.keras"))
    assert cli.main(["embed", run_dir]) == 0
    embedded = np.load(os.path.join(run_dir, "embeddings", "test.npz"))
    assert embedded["embeddings"].shape[0] == 8
    assert cli.main(["train", "--out", str(tmp_path / "r"), "--preset", "tiny",
                     "--set", "data.store=x"]) == 2
    assert "data.store" in capsys.readouterr().err   # synthfaces has no store


def test_a_held_out_split_is_decoded_once_for_every_section_that_reads_it(folder, monkeypatch,
                                                                            tmp_path):
    from kerasolr.data import images

    decoded, real = [], images.decode_record

    def counting(record, image_size, dtype=tf.float32):
        element = real(record, image_size, dtype)
        element["id"] = tf.py_function(lambda i: decoded.append(int(i)) or i,
                                       [element["id"]], tf.int64)
        return element

    monkeypatch.setattr(images, "decode_record", counting)
    cache = str(tmp_path / "cache")
    test = pipeline.held_out(folder, "test", cache)
    first = _all(test)                                  # a whole pass (section 4.1)
    again = _all(test.batch(3).unbatch())               # another, through other ops
    shown = pipeline.images_in(test, [5, 1])            # a figure's partial pass
    assert sorted(decoded) == sorted(first["id"].tolist()) and len(decoded) == 8
    np.testing.assert_array_equal(first["image"], again["image"])
    np.testing.assert_array_equal(shown, first["image"][[5, 1]])
    # The pixels a section sees: the files' 8-bit pixels.
    plain = _all(pipeline.load_split(folder, "test", uint8=True))["image"]
    np.testing.assert_array_equal(first["image"], plain.astype(np.float32) / 255.0)
    # Kept on disk, not in memory; removed after, and a stale cache never read.
    assert any(name.startswith("held_out_test.") for name in os.listdir(cache))
    pipeline.remove_held_out(cache, "test")
    assert os.listdir(cache) == []
    (tmp_path / "cache" / "held_out_test.index").write_bytes(b"stale")
    decoded.clear()
    np.testing.assert_array_equal(_all(pipeline.held_out(folder, "test", cache))["image"],
                                  first["image"])
    assert len(decoded) == 8
    # Inside `held_out_splits` the caches go when the block ends, also in an error.
    with pytest.raises(RuntimeError, match="a section failed"):
        with pipeline.held_out_splits(folder, ("validation", "test"), cache) as held:
            assert len(_all(held["test"])["image"]) == 8
            assert any(name.startswith("held_out_test.") for name in os.listdir(cache))
            raise RuntimeError("a section failed")
    assert not any(name.startswith("held_out_") for name in os.listdir(cache))
