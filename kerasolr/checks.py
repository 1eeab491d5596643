"""Checks of what a user asks `edit`, `generate` and `search` for, without
TensorFlow: the command line runs them before its ~5 s TensorFlow import, and
`kerasolr.inference` runs them again for callers in Python. Each raises
`ValueError` / `FileNotFoundError` with one line naming the bad value or file.
"""

from __future__ import annotations

import os

IMAGE_KINDS = ("PNG", "JPEG", "BMP", "GIF")


def check_image_file(path: str) -> None:
    """The file exists and decodes as a PNG, JPEG, BMP or GIF (once, with
    Pillow), so a truncated or corrupt image gets one line naming it
    (TensorFlow's decoder would also print libjpeg's own message).

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not one of those kinds, or corrupt / truncated.
    """
    from PIL import Image, UnidentifiedImageError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path} not found")
    kind = "image"
    try:
        with Image.open(path) as image:
            kind = image.format
            image.load()
    except UnidentifiedImageError:
        raise ValueError(f"{path} is not a PNG, JPEG, BMP or GIF image") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{path}: not a decodable image (corrupt or truncated {kind}: "
                         f"{error})") from None
    if kind not in IMAGE_KINDS:
        raise ValueError(f"{path} is a {kind} image; expected PNG, JPEG, BMP or GIF")


def check_labels(names, wanted) -> None:
    """Every name of `wanted` is one of the run's label `names`."""
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"unknown label {unknown[0]!r}; known: {', '.join(names)}")


def check_edit(names, add=(), remove=(), emphasise=(), scale: float = 1.0,
               intensity: float = 1.0) -> None:
    """An edit request: something to do, known labels, none both added and
    removed, positive scale and intensity. `names=None` skips the label check."""
    if not (add or remove or emphasise):
        raise ValueError("nothing to do: give at least one of --add, --remove, --emphasise")
    if not scale > 0:
        raise ValueError(f"scale={scale} is invalid: expected > 0")
    if not intensity > 0:
        raise ValueError(f"intensity={intensity} is invalid: expected > 0")
    overlap = set(add) & set(remove)
    if overlap:
        raise ValueError(f"label {sorted(overlap)[0]!r} is both added and removed")
    if names is not None:
        check_labels(names, [*add, *remove, *emphasise])


def check_at_least_one(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name}={value} is invalid: expected >= 1")
