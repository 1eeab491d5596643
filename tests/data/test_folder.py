"""A user's labelled folder: the labels CSV and its one-line errors (generated files)."""

import numpy as np
import pytest

from kerasolr.data.folder import read_label_csv


def _csv(tmp_path, text):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return str(path)


def test_reads_and_selects(tmp_path):
    path = _csv(tmp_path, "filename,Smiling,Eyeglasses\nimages/a.jpg,1,0\nimages/b.jpg,-1,1\n\n")
    table = read_label_csv(path)
    assert table.names == ("Smiling", "Eyeglasses")
    assert table.filenames == ("images/a.jpg", "images/b.jpg")
    np.testing.assert_array_equal(table.labels, [[1, 0], [0, 1]])
    np.testing.assert_array_equal(read_label_csv(path, ["Eyeglasses"]).labels, [[0], [1]])


@pytest.mark.parametrize("text,attributes,message", [
    ("filename,A,B\na.jpg,1\n", None, "labels.csv:2: a.jpg has 1 values, expected 2"),
    ("filename,A,B\na.jpg,1,0\nb.jpg,yes,0\n", None,
     "labels.csv:3: b.jpg has 'yes' for A; expected 0 or 1 (or -1/1)"),
    ("filename,A,B\na.jpg,1,0\n", ["C"], "unknown attribute 'C'"),
    ("filename,A,B\na.jpg,1,0\na.jpg,0,0\n", None, "labels.csv:3: a.jpg appears twice"),
    ("filename\n", None, "labels.csv:1: expected a header"),
    ("filename,A\n", None, "no image rows"),
    ("filename,A,A\na.jpg,1,1\n", None, "appears twice in the header"),
    ("a.jpg,1,0\nb.jpg,0,1\n", None, "looks like an image's row"),
])
def test_bad_csv(tmp_path, text, attributes, message):
    with pytest.raises(ValueError) as err:
        read_label_csv(_csv(tmp_path, text), attributes)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.csv not found"):
        read_label_csv(str(tmp_path / "nothing.csv"))
