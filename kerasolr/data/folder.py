"""A user's own labelled folder: images plus a CSV of filename and 0/1 columns.

    my_data/
      labels.csv        filename,Smiling,Eyeglasses,...   (a header, then one row per image)
      images/a.jpg ...  (file names in the CSV are relative to the CSV's folder)

Values may be 0/1 or -1/1 (CelebA's convention). Every error is one line
naming the file, the line number and the value at fault.
"""

from __future__ import annotations

import csv

import numpy as np

from kerasolr.data.celeba import AttributeTable


def read_label_csv(path: str, attributes=None) -> AttributeTable:
    """Reads a labels CSV.

    Args:
        path: The CSV file. Its first column holds image paths (relative to the
            CSV's folder), the others one label each, named in the header.
        attributes: Names to select, in this order; `None` selects all.

    Returns:
        An `AttributeTable` (file names as written in the CSV).

    Raises:
        FileNotFoundError: No such file.
        ValueError: One line naming the file, line and fault.
    """
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise FileNotFoundError(f"label file {path} not found") from None
    if not rows or len(rows[0]) < 2:
        raise ValueError(f"{path}:1: expected a header 'filename,<label>,...'")
    header = [name.strip() for name in rows[0][1:]]
    if len(set(header)) != len(header):
        raise ValueError(f"{path}:1: a label name appears twice in the header")
    selected = tuple(header) if attributes is None else tuple(attributes)
    for name in selected:
        if name not in header:
            raise ValueError(f"unknown attribute {name!r} (not in the header of {path}); "
                             f"known: {', '.join(header)}")
    columns = [header.index(name) for name in selected]
    filenames: list[str] = []
    seen: set[str] = set()
    labels = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        filename, values = row[0].strip(), [v.strip() for v in row[1:]]
        if len(values) != len(header):
            raise ValueError(f"{path}:{number}: {filename} has {len(values)} values, expected "
                             f"{len(header)}")
        if filename in seen:
            raise ValueError(f"{path}:{number}: {filename} appears twice")
        seen.add(filename)
        out = []
        for column in columns:
            value = values[column]
            if value == "1":
                out.append(1.0)
            elif value in ("0", "-1"):
                out.append(0.0)
            else:
                raise ValueError(f"{path}:{number}: {filename} has {value!r} for "
                                 f"{header[column]}; expected 0 or 1 (or -1/1)")
        filenames.append(filename)
        labels.append(out)
    if not filenames:
        raise ValueError(f"{path}: no image rows after the header")
    return AttributeTable(tuple(filenames), selected,
                          np.asarray(labels, np.float32).reshape(len(labels), len(selected)))
