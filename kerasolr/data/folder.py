"""A user's own labelled folder: images plus a CSV of filename and 0/1 columns.

    my_data/
      labels.csv        filename,Smiling,Eyeglasses,...   (a header, then one row per image)
      images/a.jpg ...  (file names in the CSV are relative to the CSV's folder)

Values may be 0/1 or -1/1 (CelebA's convention). Every error is one line
naming the file, the line number and the value at fault.
"""

from __future__ import annotations

import csv
import io
import os

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


def align_folder(src: str, dst: str, face: int = 0) -> dict[str, int]:
    """Brings every image of a labelled folder to the aligned-CelebA geometry,
    the one `--align` gives a photo at inference, so a model trained on `dst`
    sees its own photos the way it saw its training images.

    Writes `dst/images/<name>.png` (178 x 218, `kerasolr.align`), `dst/labels.csv`
    (the source's header; the rows of the images that aligned, pointing at the
    new files) and, when some did not, `dst/unaligned.csv` (`filename,reason`:
    no face, a face too small, not an image). `labels.csv` is written last,
    atomically, so an interrupted run never leaves a folder that looks
    finished. A progress line every 30 s.

    Args:
        src: A folder with `labels.csv` (the layout above).
        dst: A new folder (refused if it already has a `labels.csv`).
        face: Which face of each image (0: the largest).

    Returns:
        `{"aligned": n, "unaligned": m}`.
    """
    from PIL import Image

    from kerasolr import align
    from kerasolr.progress import Progress
    from kerasolr.resume import write_text_atomically

    table = read_label_csv(os.path.join(src, "labels.csv"))
    target = os.path.join(dst, "labels.csv")
    if os.path.exists(target):
        raise FileExistsError(f"{target} exists: align into a new folder")
    os.makedirs(os.path.join(dst, "images"), exist_ok=True)
    kept, dropped, used = [], [], set()
    progress = Progress("align-folder", len(table.filenames))
    for name, labels in zip(table.filenames, table.labels, strict=True):
        try:
            _, aligned = align.align_file(os.path.join(src, name), face)
        except (ValueError, FileNotFoundError) as error:
            dropped.append((name, str(error)))
        else:
            stem = os.path.splitext(name.replace(os.sep, "_").replace("/", "_"))[0]
            out_name, n = f"images/{stem}.png", 1
            while out_name in used:             # a.jpg and a.png, or x/a.jpg and x_a.jpg
                out_name, n = f"images/{stem}_{n}.png", n + 1
            used.add(out_name)
            Image.fromarray(aligned.image).save(os.path.join(dst, out_name))
            kept.append((out_name, labels))
        progress.update(1)
    progress.done()
    if not kept:
        raise ValueError(f"{src}: no image could be aligned (first: {dropped[0][1]})")
    if dropped:
        with open(os.path.join(dst, "unaligned.csv"), "w", newline="") as f:
            csv.writer(f).writerows([("filename", "reason"), *dropped])
    rows = io.StringIO(newline="")
    csv.writer(rows).writerows([("filename", *table.names),
                                *((name, *(int(v) for v in labels)) for name, labels in kept)])
    write_text_atomically(target, rows.getvalue())
    return {"aligned": len(kept), "unaligned": len(dropped)}
