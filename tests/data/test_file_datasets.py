"""`celeba` and `folder` datasets through `pipeline.load_split` (generated JPEGs, tiny)."""

import dataclasses
import os

import numpy as np
import pytest
from PIL import Image

from kerasolr.config import DataConfig
from kerasolr.data import pipeline

NAMES = ["Smiling", "Male", "Wearing_Necklace"]


def _celeba(root, n=12, bad=None):
    os.makedirs(root / "img_align_celeba")
    rng = np.random.default_rng(0)
    rows, parts = [], []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        pixels = rng.integers(0, 255, size=(44, 36, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "img_align_celeba" / name)
        rows.append(f"{name} " + " ".join("1" if (i >> b) & 1 else "-1" for b in range(3)))
        parts.append(f"{name} {0 if i < 8 else 2}")
    if bad is not None:
        (root / "img_align_celeba" / f"{bad:06d}.jpg").write_bytes(b"broken")
    (root / "list_attr_celeba.txt").write_text("\n".join([str(n), " ".join(NAMES)] + rows) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")
    return str(root)


def test_celeba_official_split(tmp_path):
    data = DataConfig(dataset="celeba", root=_celeba(tmp_path / "c"), image_size=16,
                      split_mode="official", num_train=100, num_test=100)
    assert pipeline.label_names(data) == ("Smiling", "Male")     # the paper drops the necklace
    train = list(pipeline.load_split(data, "train").as_numpy_iterator())
    test = list(pipeline.load_split(data, "test").as_numpy_iterator())
    assert [e["id"] for e in train] == list(range(8)) and [e["id"] for e in test] == [8, 9, 10, 11]
    assert train[0]["image"].shape == (16, 16, 3)
    np.testing.assert_array_equal(train[3]["labels"], [1, 1])     # image 3: bits 0 and 1 set


def test_celeba_random_split_and_caps(tmp_path):
    data = DataConfig(dataset="celeba", root=_celeba(tmp_path / "c"), image_size=16,
                      train_fraction=0.75, num_train=5, num_test=100, seed=1)
    train = [e["id"] for e in pipeline.load_split(data, "train", cache=True).as_numpy_iterator()]
    test = [e["id"] for e in pipeline.load_split(data, "test").as_numpy_iterator()]
    assert len(train) == 5 and len(test) == 3 and not set(train) & set(test)


def test_bad_image_stops_or_is_skipped(tmp_path):
    root = _celeba(tmp_path / "c", bad=2)
    data = DataConfig(dataset="celeba", root=root, image_size=16, split_mode="official")
    with pytest.raises(ValueError, match="000002.jpg: not a decodable image"):
        pipeline.load_split(data, "train")
    skipping = DataConfig(dataset="celeba", root=root, image_size=16, split_mode="official",
                          skip_bad=True, seed=5)
    ids = [e["id"] for e in pipeline.load_split(skipping, "train").as_numpy_iterator()]
    assert ids == [0, 2, 3, 4, 5, 6, 7]


def test_folder_dataset(tmp_path):
    root = tmp_path / "mine"
    os.makedirs(root / "images")
    lines = ["filename,Cat,Dog"]
    for i in range(6):
        Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(root / "images" / f"{i}.png")
        lines.append(f"images/{i}.png,{i % 2},{1 - i % 2}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    data = DataConfig(dataset="folder", root=str(root), image_size=16, train_fraction=0.5)
    assert pipeline.label_names(data) == ("Cat", "Dog")
    elements = list(pipeline.load_split(data, "train").as_numpy_iterator())
    # 6 images: 3 test, 1 validation (5% of 6, at least one), 2 training.
    assert len(elements) == 2 and pipeline.split_size(data, "validation") == 1
    held_out = {int(e["id"]) for split in ("validation", "test")
                for e in pipeline.load_split(data, split).as_numpy_iterator()}
    assert len(held_out) == 4 and held_out.isdisjoint(int(e["id"]) for e in elements)
    for e in elements:
        np.testing.assert_array_equal(e["labels"], [e["id"] % 2, 1 - e["id"] % 2])
    official = DataConfig(dataset="folder", root=str(root), split_mode="official")
    with pytest.raises(ValueError, match="needs the celeba layout's partition file"):
        pipeline.load_split(official, "train")


def test_missing_root_is_one_line(tmp_path):
    data = DataConfig(dataset="folder", root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="labels.csv not found"):
        pipeline.label_names(data)


def test_small_splits_and_unseen_labels_are_refused_up_front(tmp_path):
    root = tmp_path / "mine"
    os.makedirs(root)
    lines = ["filename,Cat,Dog"]
    for i in range(40):
        Image.new("RGB", (20, 20), (i * 6, 0, 0)).save(root / f"{i}.png")
        lines.append(f"{i}.png,{i % 2},0")                 # no image is a Dog
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    small = DataConfig(dataset="folder", root=str(root), image_size=16, train_fraction=0.9)
    with pytest.raises(ValueError, match="the validation split of the folder dataset at .* "
                                         "has 2 images; at least 8 are needed"):
        pipeline.check_splits(small, ("Cat", "Dog"))
    enough = DataConfig(dataset="folder", root=str(root), image_size=16, train_fraction=0.5,
                        val_fraction=0.25)
    with pytest.raises(ValueError, match="label 'Dog' is absent from every training image"):
        pipeline.check_splits(enough, ("Cat", "Dog"))
    pipeline.check_splits(dataclasses.replace(enough, attributes=("Cat",)), ("Cat",))
