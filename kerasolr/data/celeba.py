"""CelebA's official label files: attributes and partitions (no TensorFlow needed).

The official layout (also that of `../shared/data/celeba-10k`):
    img_align_celeba/NNNNNN.jpg
    list_attr_celeba.txt     line 1: image count; line 2: the 40 attribute names;
                             then `NNNNNN.jpg` and 40 values of 1 / -1
    list_eval_partition.txt  `NNNNNN.jpg` and 0 (train), 1 (validation) or 2 (test)

Every parsing error is one line naming the file, the line number and the value
at fault. The image pipeline (decoding, the square crop, resizing) is issue 4's
next step; this module is its label side.
"""

from __future__ import annotations

import dataclasses

import numpy as np

ATTRIBUTE_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_DIR = "img_align_celeba"
# The 40 attribute names in the order of the header of `list_attr_celeba.txt`.
ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
# The paper (section 4) drops the two labels the square crop hides.
DROPPED_BY_PAPER = ("Wearing_Necklace", "Wearing_Necktie")
PARTITIONS = {"train": 0, "validation": 1, "test": 2}


@dataclasses.dataclass(frozen=True)
class AttributeTable:
    """The parsed attribute file.

    Attributes:
        filenames: `(N,)` image file names, in file order.
        names: The selected attribute names, in the order asked for.
        labels: `(N, L)` float32 0/1 labels.
    """

    filenames: tuple[str, ...]
    names: tuple[str, ...]
    labels: np.ndarray


def paper_attributes(all_names) -> tuple[str, ...]:
    """The paper's 38 labels: every attribute but Wearing_Necklace and Wearing_Necktie."""
    return tuple(name for name in all_names if name not in DROPPED_BY_PAPER)


def read_attributes(path: str, attributes=None) -> AttributeTable:
    """Reads `list_attr_celeba.txt` (values 1/-1, or 0/1).

    Args:
        path: The attribute file.
        attributes: Names to select, in this order; `None` selects the paper's 38.

    Returns:
        The `AttributeTable`.

    Raises:
        FileNotFoundError: No such file.
        ValueError: One line naming the file, line and fault: a bad count line,
            a row with the wrong number of values, a value other than 1/-1 or
            0/1, a duplicate image, an unknown attribute name, or a count that
            does not match the rows.
    """
    try:
        f = open(path)   # noqa: SIM115 (closed below; lines are streamed, never all held)
    except FileNotFoundError:
        raise FileNotFoundError(f"attribute file {path} not found") from None
    with f:
        first = [f.readline(), f.readline()]
        if not first[1]:
            found = sum(1 for line in first if line)
            raise ValueError(f"{path}: expected a count line and a header line, found "
                             f"{found} line(s)")
        try:
            count = int(first[0].strip())
        except ValueError:
            raise ValueError(f"{path}:1: expected the image count, got "
                             f"{first[0].strip()!r}") from None
        header = first[1].split()
        if not header:
            raise ValueError(f"{path}:2: empty header line (expected the attribute names)")
        selected = paper_attributes(header) if attributes is None else tuple(attributes)
        numbered = ((number, parts[0], parts[1:])
                    for number, parts in enumerate((line.split() for line in f), start=3)
                    if parts)
        table = parse_label_rows(path, header, selected, numbered, "1 or -1 (or 0/1)")
    if len(table.filenames) != count:
        raise ValueError(f"{path}:1: the count line says {count} images, the file lists "
                         f"{len(table.filenames)}")
    return table


def parse_label_rows(path: str, header, selected, numbered_rows, expected: str) -> AttributeTable:
    """The row checks shared by every label file (CelebA's and a folder's CSV).

    Args:
        path: The label file (for messages).
        header: All label names of the file, in column order.
        selected: The names to keep, in this order.
        numbered_rows: `(line number, filename, values)` of every non-empty row.
        expected: How the file writes its values, for the bad-value message.

    Returns:
        The `AttributeTable`; "1" is 1, "0" and "-1" are 0.

    Raises:
        ValueError: One line naming the file, line and fault: an unknown
            attribute, a wrong number of values, a duplicate image, a bad value.
    """
    for name in selected:
        if name not in header:
            raise ValueError(f"unknown attribute {name!r} (not in the header of {path}); "
                             f"known: {', '.join(header)}")
    columns = [list(header).index(name) for name in selected]
    # One byte per label while reading (a list of float rows costs ~30x that
    # at 200,000 images, and the memory is not given back afterwards).
    filenames: dict[str, None] = {}       # insertion-ordered, and finds repeats
    labels = bytearray()
    for number, filename, values in numbered_rows:
        if len(values) != len(header):
            raise ValueError(f"{path}:{number}: {filename} has {len(values)} values, expected "
                             f"{len(header)}")
        if filename in filenames:
            raise ValueError(f"{path}:{number}: {filename} appears twice")
        filenames[filename] = None
        for column in columns:
            value = values[column]
            if value not in ("1", "0", "-1"):
                raise ValueError(f"{path}:{number}: {filename} has {value!r} for "
                                 f"{header[column]}; expected {expected}")
            labels.append(value == "1")
    table = np.frombuffer(bytes(labels), np.uint8).astype(np.float32)
    return AttributeTable(tuple(filenames), tuple(selected),
                          table.reshape(len(filenames), len(selected)))


def read_partitions(path: str) -> dict[str, int]:
    """Reads `list_eval_partition.txt` into `{filename: 0 | 1 | 2}`.

    Raises:
        FileNotFoundError: No such file.
        ValueError: One line naming the file, line and fault.
    """
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"partition file {path} not found") from None
    partitions: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise ValueError(f"{path}:{number}: expected 'NNNNNN.jpg 0|1|2', got {line.strip()!r}")
        if parts[0] in partitions:
            raise ValueError(f"{path}:{number}: {parts[0]} appears twice")
        partitions[parts[0]] = int(parts[1])
    return partitions


def split_indices(filenames, mode: str, split: str, partitions: dict[str, int] | None = None,
                  train_fraction: float = 190_000 / 202_599, seed: int = 0,
                  val_fraction: float = 0.05) -> np.ndarray:
    """Row indices of one split.

    Args:
        filenames: The attribute table's file names.
        mode: `"official"` (the partition file: 0 `"train"`, 1 `"validation"`,
            2 `"test"`) or `"random"` (the paper's seeded split: a seeded
            permutation whose last `1 - train_fraction` is `"test"`, 12,599 of
            202,599 on the full set; the `val_fraction` of all images before it
            is `"validation"` and the rest `"train"`).
        split: The split's name.
        partitions: `read_partitions` output, for `"official"`.
        train_fraction: Non-test fraction of the random split.
        seed: Seed of the random split.
        val_fraction: Validation fraction of the random split (of all images).

    Returns:
        Sorted `int64` indices into `filenames`.
    """
    n = len(filenames)
    if mode == "official":
        if split not in PARTITIONS:
            raise ValueError(f"unknown split {split!r}; known: {', '.join(PARTITIONS)}")
        if partitions is None:
            raise ValueError("the official split needs the partition file")
        missing = [name for name in filenames if name not in partitions]
        if missing:
            raise ValueError(f"{missing[0]} (and {len(missing) - 1} more) has no partition "
                             "in the partition file")
        wanted = PARTITIONS[split]
        return np.asarray([i for i, name in enumerate(filenames) if partitions[name] == wanted],
                          np.int64)
    if mode == "random":
        if split not in PARTITIONS:
            raise ValueError(f"unknown split {split!r}; known: {', '.join(PARTITIONS)}")
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction={train_fraction} is invalid: expected in (0, 1)")
        if not 0.0 < val_fraction < train_fraction:
            raise ValueError(f"val_fraction={val_fraction} is invalid: expected in "
                             f"(0, train_fraction={train_fraction:g})")
        order = np.random.default_rng(seed).permutation(n)
        cut = int(round(train_fraction * n))
        val_cut = cut - max(1, int(round(val_fraction * n)))
        chosen = {"train": order[:val_cut], "validation": order[val_cut:cut],
                  "test": order[cut:]}[split]
        return np.sort(chosen).astype(np.int64)
    raise ValueError(f"unknown split mode {mode!r}; known: official, random")
