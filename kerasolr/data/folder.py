"""A user's own labelled folder: images plus a CSV of filename and 0/1 columns.

    my_data/
      labels.csv        filename,Smiling,Eyeglasses,...   (a header, then one row per image)
      images/a.jpg ...  (file names in the CSV are relative to the CSV's folder)

Values may be 0/1 or -1/1 (CelebA's convention). Every error is one line
naming the file, the line number and the value at fault.
"""

from __future__ import annotations

import csv

from kerasolr.data.celeba import AttributeTable, parse_label_rows


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
        f = open(path, newline="")   # noqa: SIM115 (closed below; rows are streamed)
    except FileNotFoundError:
        raise FileNotFoundError(f"label file {path} not found") from None
    with f:
        rows = csv.reader(f)
        first = next(rows, None)
        if not first or len(first) < 2:
            raise ValueError(f"{path}:1: expected a header 'filename,<label>,...'")
        header = [name.strip() for name in first[1:]]
        values = [name for name in header if name in ("0", "1", "-1")]
        if values:
            raise ValueError(f"{path}:1: the header names a label {values[0]!r}; the first line "
                             "must be the header 'filename,<label>,...' (this one looks like "
                             "an image's row)")
        if len(set(header)) != len(header):
            raise ValueError(f"{path}:1: a label name appears twice in the header")
        selected = tuple(header) if attributes is None else tuple(attributes)
        numbered = ((number, row[0].strip(), [v.strip() for v in row[1:]])
                    for number, row in enumerate(rows, start=2)
                    if row and any(cell.strip() for cell in row))
        table = parse_label_rows(path, header, selected, numbered, "0 or 1 (or -1/1)")
    if not table.filenames:
        raise ValueError(f"{path}: no image rows after the header")
    return table
