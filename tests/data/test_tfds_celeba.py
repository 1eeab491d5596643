"""`celeba_tfds`: TFDS's `celeb_a` through `pipeline` (tfds.testing.mock_data, and a tiny
fake of CelebA's official files prepared by TFDS itself, offline)."""

import functools
import io
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image
from tensorflow_datasets.datasets.celeb_a import celeb_a_dataset_builder as tfds_source

from kerasolr.config import DataConfig, RunConfig, override
from kerasolr.data import celeba, pipeline, tfds_celeba

PER_SPLIT = 6      # the mock yields these same examples for every split


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch):
    # Builders and splits are cached per process; a mocked one must not leak.
    monkeypatch.setattr(pipeline, "_BUILDERS", {})
    monkeypatch.setattr(pipeline, "_SPLITS", {})


@pytest.fixture(scope="module")
def mock_dir(tmp_path_factory):
    """A TFDS data dir with celeb_a's metadata only: 6 examples in each split."""
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    builder = tfds.builder("celeb_a", data_dir=data_dir)
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name=name, shard_lengths=[PER_SPLIT], num_bytes=0,
                            filename_template=tfds.core.ShardedFileTemplate(
                                data_dir=builder.data_path, dataset_name="celeb_a", split=name,
                                filetype_suffix="tfrecord"))
        for name in tfds_celeba.TFDS_SPLITS]))
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    return data_dir


@pytest.fixture
def mocked(mock_dir):
    with tfds.testing.mock_data(num_examples=PER_SPLIT, data_dir=mock_dir):
        yield mock_dir


def _mock_records():
    """The mock's examples read directly through TFDS (the known answer), images as
    JPEG bytes like the loader reads them (the mock draws other pixels for decoded ones)."""
    builder = tfds.builder("celeb_a")
    return list(tfds.as_numpy(builder.as_dataset(
        split="train", shuffle_files=False, decoders={"image": tfds.decode.SkipDecoding()})))


def _elements(data, split, cache=False):
    return list(pipeline.load_split(data, split, cache=cache).as_numpy_iterator())


def test_names_default_to_the_papers_38_in_official_order():
    assert celeba.ATTRIBUTES == tuple(tfds_source.ATTR_HEADINGS)    # the official header
    names = tfds_celeba.label_names()
    assert len(names) == 38 and names[0] == "5_o_Clock_Shadow" and names[-1] == "Young"
    assert names == tuple(n for n in celeba.ATTRIBUTES
                          if n not in ("Wearing_Necklace", "Wearing_Necktie"))
    assert tfds_celeba.label_names(["Young", "Bald"]) == ("Young", "Bald")


def test_unknown_attribute_is_one_line_listing_the_known():
    with pytest.raises(ValueError) as err:
        tfds_celeba.label_names(["Smiling", "Tail"])
    message = str(err.value)
    assert "unknown attribute 'Tail'" in message and "5_o_Clock_Shadow" in message
    assert "Wearing_Necktie" in message and "\n" not in message


def test_elements_and_labels_match_the_mocks_records(mocked):
    data = DataConfig(dataset="celeba_tfds", image_size=32, split_mode="official")
    names = pipeline.label_names(data)
    elements = _elements(data, "train")
    records = _mock_records()
    assert len(elements) == PER_SPLIT == pipeline.split_size(data, "train")
    for element, record in zip(elements, records, strict=True):
        assert element["image"].shape == (32, 32, 3) and element["image"].dtype == np.float32
        assert 0.0 <= element["image"].min() and element["image"].max() <= 1.0
        assert element["labels"].shape == (38,) and element["labels"].dtype == np.float32
        assert element["id"].dtype == np.int64
        expected = [float(record["attributes"][name]) for name in names]
        np.testing.assert_array_equal(element["labels"], expected)
        np.testing.assert_array_equal(element["clean_labels"], expected)
    assert sorted(e["id"] for e in elements) == list(range(PER_SPLIT))
    test_ids = sorted(e["id"] for e in _elements(data, "test"))
    assert test_ids == list(range(2 * PER_SPLIT, 3 * PER_SPLIT))    # after train, validation


def test_full_size_image_is_the_papers_crop(mocked):
    data = DataConfig(dataset="celeba_tfds", image_size=178, split_mode="official",
                      attributes=("Wearing_Necktie", "Smiling"))
    element = _elements(data, "train")[0]
    record = _mock_records()[0]
    pixels = tf.io.decode_jpeg(record["image"]).numpy()     # PIL's chroma upsampling differs
    assert pixels.shape == (218, 178, 3)
    np.testing.assert_allclose(element["image"], pixels[20:198] / 255.0, atol=1e-5)
    np.testing.assert_array_equal(
        element["labels"], [record["attributes"]["Wearing_Necktie"],
                            record["attributes"]["Smiling"]])


def test_random_split_is_disjoint_complete_and_capped(mocked):
    data = DataConfig(dataset="celeba_tfds", image_size=16, train_fraction=2 / 3, seed=3,
                      num_train=100, num_test=100)
    train = [e["id"] for e in _elements(data, "train", cache=True)]
    val = [e["id"] for e in _elements(data, "validation")]
    test = [e["id"] for e in _elements(data, "test")]
    # 18 images: 6 test, 1 validation (5% of 18, rounded), 11 training.
    assert len(train) == 11 == pipeline.split_size(data, "train") and len(test) == 6
    assert len(val) == 1 and not set(val) & (set(train) | set(test))
    assert not set(train) & set(test)
    assert set(train) | set(val) | set(test) == set(range(3 * PER_SPLIT))
    np.testing.assert_array_equal(
        sorted(train), celeba.split_indices(range(18), "random", "train",
                                            train_fraction=2 / 3, seed=3))
    capped = DataConfig(dataset="celeba_tfds", image_size=16, train_fraction=2 / 3, seed=3,
                        num_train=4, num_test=2)
    assert pipeline.split_size(capped, "train") == 4 and pipeline.split_size(capped, "test") == 2
    assert sorted(e["id"] for e in _elements(capped, "train")) == sorted(train)[:4]


def test_not_prepared_without_manual_dir_is_one_line(tmp_path):
    data = DataConfig(dataset="celeba_tfds", root=str(tmp_path / "tfds"))
    with pytest.raises(FileNotFoundError) as err:
        pipeline.label_names(data)
    message = str(err.value)
    assert "not prepared" in message and "data.manual_dir" in message and "\n" not in message
    os.makedirs(tmp_path / "manual" / "img_align_celeba")
    (tmp_path / "manual" / "list_attr_celeba.txt").write_text("0\n")
    no_zip = DataConfig(dataset="celeba_tfds", root=str(tmp_path / "tfds"),
                        manual_dir=str(tmp_path / "manual"))
    with pytest.raises(FileNotFoundError) as err:
        pipeline.load_split(no_zip, "train")
    message = str(err.value)
    assert "lacks img_align_celeba.zip, list_eval_partition.txt" in message
    assert "not the unpacked img_align_celeba/" in message and "\n" not in message


def _official_files(folder, n=50, partitions=(40, 4, 6)):
    """A tiny CelebA in the official layout, unpacked and zipped (218x178 JPEGs)."""
    os.makedirs(folder / "img_align_celeba")
    rng = np.random.default_rng(0)
    values = rng.choice(["1", "-1"], size=(n, 40))
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    with zipfile.ZipFile(folder / "img_align_celeba.zip", "w") as archive:
        for name in names:
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (218, 178, 3), np.uint8)).save(buffer, "JPEG")
            (folder / "img_align_celeba" / name).write_bytes(buffer.getvalue())
            archive.writestr(f"img_align_celeba/{name}", buffer.getvalue())
    rows = [f"{name} {' '.join(v)}" for name, v in zip(names, values, strict=True)]
    (folder / "list_attr_celeba.txt").write_text(
        "\n".join([str(n), " ".join(celeba.ATTRIBUTES), *rows]) + "\n")
    part = np.repeat([0, 1, 2], partitions)
    (folder / "list_eval_partition.txt").write_text(
        "".join(f"{name} {p}\n" for name, p in zip(names, part, strict=True)))
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\n{' '.join(tfds_source.LANDMARK_HEADINGS)}\n"
        + "".join(f"{name}{' 1' * 10}\n" for name in names))
    (folder / "identity_CelebA.txt").write_text("".join(f"{name} 7\n" for name in names))
    return str(folder)


def test_prepares_from_manual_dir_and_matches_the_file_loader(tmp_path, monkeypatch):
    manual = _official_files(tmp_path / "celeba")
    # The fake files are not the official ones: skip TFDS's checksum check, and write two
    # shards of 20 training records so that reading them interleaved would change the order.
    monkeypatch.setattr(tfds.download.DownloadManager, "_register_or_validate_checksums",
                        lambda self, url, url_info, path: None)
    monkeypatch.setattr(tfds.download, "DownloadConfig",
                        functools.partial(tfds.download.DownloadConfig, num_shards=2))
    common = dict(image_size=32, train_fraction=0.8, seed=4, num_train=100, num_test=100)
    data = DataConfig(dataset="celeba_tfds", root=str(tmp_path / "tfds"), manual_dir=manual,
                      **common)
    files = DataConfig(dataset="celeba", root=manual, **common)
    assert pipeline.label_names(data) == pipeline.label_names(files)
    assert pipeline.split_size(data, "test") == pipeline.split_size(files, "test") == 10
    for split in ("train", "test"):
        from_tfds = {int(e["id"]): e for e in _elements(data, split)}
        from_files = {int(e["id"]): e for e in _elements(files, split)}
        assert sorted(from_tfds) == sorted(from_files)
        for i, element in from_files.items():
            np.testing.assert_array_equal(from_tfds[i]["labels"], element["labels"])
            np.testing.assert_array_equal(from_tfds[i]["image"], element["image"])
    official = DataConfig(dataset="celeba_tfds", root=str(tmp_path / "tfds"),
                          split_mode="official", image_size=16, num_test=3)
    assert sorted(e["id"] for e in _elements(official, "train")) == list(range(40))
    assert sorted(e["id"] for e in _elements(official, "test")) == [44, 45, 46]


def test_files_that_are_not_the_official_ones_fail_in_one_line(tmp_path):
    manual = _official_files(tmp_path / "celeba", n=3, partitions=(1, 1, 1))
    data = DataConfig(dataset="celeba_tfds", root=str(tmp_path / "tfds"), manual_dir=manual)
    with pytest.raises(ValueError) as err:
        pipeline.label_names(data)
    message = str(err.value)
    assert message.startswith(f"preparing TFDS celeb_a in {tmp_path / 'tfds'}")
    assert "NonMatchingChecksumError" in message and "\n" not in message


def test_config_needs_no_root_and_takes_manual_dir_only_for_tfds():
    config = override(RunConfig(), ["data.dataset=celeba_tfds", "data.manual_dir=/data/celeba"])
    assert config.data.root is None and config.data.manual_dir == "/data/celeba"
    with pytest.raises(ValueError, match="data.manual_dir='/x' is invalid"):
        override(RunConfig(), ["data.dataset=celeba", "data.root=/r", "data.manual_dir=/x"])
    with pytest.raises(ValueError, match="data.root=None is invalid"):
        override(RunConfig(), ["data.dataset=celeba"])
