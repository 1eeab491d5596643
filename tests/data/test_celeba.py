"""CelebA label files: parsing, one-line errors, splits (generated files; the real subset
when present)."""

import os

import numpy as np
import pytest

from kerasolr.data import celeba

NAMES = ["Smiling", "Wearing_Necklace", "Male", "Wearing_Necktie"]
REAL = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "celeba-10k")


def _write(tmp_path, rows, header=NAMES, count=None, name="attrs.txt"):
    path = tmp_path / name
    lines = [str(len(rows) if count is None else count), " ".join(header)]
    lines += [f"{fn} " + " ".join(values) for fn, values in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


ROWS = [("000001.jpg", ["1", "-1", "-1", "1"]), ("000002.jpg", ["-1", "1", "1", "-1"])]


def test_reads_and_selects_the_papers_labels(tmp_path):
    table = celeba.read_attributes(_write(tmp_path, ROWS))
    assert table.names == ("Smiling", "Male")
    assert table.filenames == ("000001.jpg", "000002.jpg")
    np.testing.assert_array_equal(table.labels, [[1, 0], [0, 1]])


def test_selects_named_attributes_in_order_and_accepts_zero_one(tmp_path):
    rows = [("a.jpg", ["1", "0", "0", "1"])]
    table = celeba.read_attributes(_write(tmp_path, rows), ["Wearing_Necktie", "Smiling"])
    np.testing.assert_array_equal(table.labels, [[1, 1]])


@pytest.mark.parametrize("rows,count,attributes,message", [
    ([("000001.jpg", ["1", "-1", "1"])], None, None,
     "attrs.txt:3: 000001.jpg has 3 values, expected 4"),
    ([("000001.jpg", ["1", "-1", "2", "1"])], None, None,
     "attrs.txt:3: 000001.jpg has '2' for Male; expected 1 or -1 (or 0/1)"),
    (ROWS, None, ["Smiling", "Mustache"], "unknown attribute 'Mustache'"),
    (ROWS, 3, None, "attrs.txt:1: the count line says 3 images, the file lists 2"),
    (ROWS + ROWS[:1], None, None, "attrs.txt:5: 000001.jpg appears twice"),
])
def test_bad_attribute_files(tmp_path, rows, count, attributes, message):
    with pytest.raises(ValueError) as err:
        celeba.read_attributes(_write(tmp_path, rows, count=count), attributes)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_count_line_and_missing_file(tmp_path):
    path = tmp_path / "attrs.txt"
    path.write_text("many\nSmiling\n")
    with pytest.raises(ValueError, match="attrs.txt:1: expected the image count, got 'many'"):
        celeba.read_attributes(str(path))
    with pytest.raises(FileNotFoundError, match="none.txt not found"):
        celeba.read_attributes(str(tmp_path / "none.txt"))


def test_partitions_and_official_split(tmp_path):
    path = tmp_path / "parts.txt"
    path.write_text("a.jpg 0\nb.jpg 2\nc.jpg 1\nd.jpg 0\n")
    parts = celeba.read_partitions(str(path))
    assert parts == {"a.jpg": 0, "b.jpg": 2, "c.jpg": 1, "d.jpg": 0}
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    np.testing.assert_array_equal(celeba.split_indices(names, "official", "train", parts), [0, 3])
    np.testing.assert_array_equal(celeba.split_indices(names, "official", "test", parts), [1])
    np.testing.assert_array_equal(
        celeba.split_indices(names, "official", "validation", parts), [2])
    with pytest.raises(ValueError, match="e.jpg .* has no partition"):
        celeba.split_indices(names + ["e.jpg"], "official", "train", parts)
    path.write_text("a.jpg 0\nb.jpg 7\n")
    with pytest.raises(ValueError,
                       match=r"parts.txt:2: expected 'NNNNNN.jpg 0\|1\|2', got 'b.jpg 7'"):
        celeba.read_partitions(str(path))


def test_random_split_is_seeded_disjoint_and_complete():
    names = [f"{i:06d}.jpg" for i in range(1000)]

    def split(name, seed=3, **kwargs):
        return celeba.split_indices(names, "random", name, train_fraction=0.95, seed=seed,
                                    **kwargs)

    train, val, test = split("train"), split("validation"), split("test")
    assert (len(train), len(val), len(test)) == (900, 50, 50)
    assert not set(train) & set(test) and not set(val) & set(test) and not set(train) & set(val)
    assert len(set(train) | set(val) | set(test)) == 1000
    np.testing.assert_array_equal(train, split("train"))
    assert not np.array_equal(test, split("test", seed=4))
    # The test split does not depend on how much validation takes from training.
    np.testing.assert_array_equal(test, split("test", val_fraction=0.2))
    assert len(split("validation", val_fraction=0.2)) == 200
    assert len(split("validation", val_fraction=1e-6)) == 1       # never empty
    with pytest.raises(ValueError, match="val_fraction=0.96 is invalid"):
        split("train", val_fraction=0.96)
    with pytest.raises(ValueError, match="unknown split 'val'"):
        split("val")


@pytest.mark.skipif(not os.path.isdir(REAL), reason="../shared/data/celeba-10k is absent")
def test_real_subset_reads():
    table = celeba.read_attributes(os.path.join(REAL, celeba.ATTRIBUTE_FILE))
    assert len(table.filenames) == 10000 and len(table.names) == 38
    assert "Wearing_Necklace" not in table.names
    assert set(np.unique(table.labels)) == {0.0, 1.0}
    parts = celeba.read_partitions(os.path.join(REAL, celeba.PARTITION_FILE))
    assert len(celeba.split_indices(table.filenames, "official", "train", parts)) == 10000
