"""Figures as arrays: image grids, correlation heatmaps, PCA strips.

Every figure function returns an RGB `np.ndarray` of dtype uint8 and shape
`(H, W, 3)`, so the same figure can be saved as a PNG (`save_png`) or logged to
TensorBoard. Rendering uses matplotlib's Agg canvas directly (never pyplot), so
importing this module leaves the user's matplotlib backend alone.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

DPI = 100
PAD = 2  # pixels between grid cells and around the grid
LABEL_FONTSIZE = 8
TITLE_FONTSIZE = 10
ROW_TITLE_MAX_PX = 160
MIN_TITLE_PX = 240  # titles wrap at the grid width, but not narrower than this
NAN_GREY = "0.7"


# === Conversions ===


def figure_to_array(fig: Figure) -> np.ndarray:
    """Renders a matplotlib `Figure` with Agg -> `(H, W, 3)` uint8 RGB (alpha dropped)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def to_uint8(image) -> np.ndarray:
    """Float image in [0, 1] -> uint8 in [0, 255]; NaN -> 0, values outside are clipped."""
    x = np.nan_to_num(np.asarray(image, np.float64), nan=0.0)
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_rgb_uint8(image, what: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"{what} must be a uint8 (H, W, 3) array, got dtype {image.dtype} and shape "
            f"{image.shape}")
    return image


IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def image_format(path: str) -> str:
    """`"PNG"` or `"JPEG"` from a file name's extension.

    Raises:
        ValueError: One line naming the path for any other extension.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension not in IMAGE_FORMATS:
        raise ValueError(f"{path}: cannot write this kind of image; name it .png, .jpg or "
                         ".jpeg")
    return IMAGE_FORMATS[extension]


def png_bytes(image, format: str = "PNG") -> bytes:
    """PNG-encoded (or `format="JPEG"`, quality 95) bytes of a uint8
    `(H, W, 3)` RGB array."""
    from PIL import Image

    buffer = io.BytesIO()
    extra = {"quality": 95} if format == "JPEG" else {}
    Image.fromarray(_check_rgb_uint8(image, "image")).save(buffer, format=format, **extra)
    return buffer.getvalue()


def save_png(image, path: str) -> None:
    """Writes a uint8 `(H, W, 3)` RGB array to `path` as PNG, or as JPEG when
    the name ends in .jpg / .jpeg, atomically.

    The bytes go to `path + ".partial"` first and are then renamed, so a reader
    never sees half a file. Parent directories are created.
    """
    data = png_bytes(image, image_format(path))
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    partial = path + ".partial"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)


# === Text measurement (pixels) ===


def _text_size(renderer: RendererAgg, text: str, fontsize: float,
               weight: str = "normal") -> tuple[float, float]:
    """Width and height in pixels of one line of text."""
    width, height, _ = renderer.get_text_width_height_descent(
        text or " ", FontProperties(size=fontsize, weight=weight), ismath=False)
    return width, height


def _wrap(renderer: RendererAgg, text: str, max_px: float, fontsize: float,
          weight: str = "normal") -> list[str]:
    """Greedy word wrap of `text` into lines at most `max_px` wide (long words overflow)."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and _text_size(renderer, candidate, fontsize, weight)[0] > max_px:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _line_height(renderer: RendererAgg, fontsize: float) -> float:
    return 1.3 * _text_size(renderer, "Ag", fontsize)[1]


# === Image grids ===


def _check_grid(rows) -> tuple[list[list[np.ndarray]], tuple[int, ...]]:
    """Validates `rows` -> (list of rows of float arrays, common image shape)."""
    if rows is None or len(rows) == 0:
        raise ValueError("image_grid needs at least one row of images, got none")
    checked, shape, first = [], None, None
    for r, row in enumerate(rows):
        if row is None or len(row) == 0:
            raise ValueError(f"image_grid row {r} is empty; every row needs at least one image")
        images = []
        for c, image in enumerate(row):
            image = np.asarray(image, np.float64)
            if image.ndim != 3 or image.shape[-1] != 3:
                raise ValueError(
                    f"image_grid image at row {r}, col {c} has shape {image.shape}; "
                    "expected (h, w, 3)")
            if shape is None:
                shape, first = image.shape, (r, c)
            elif image.shape != shape:
                raise ValueError(
                    f"image_grid image at row {r}, col {c} has shape {image.shape} but the "
                    f"image at row {first[0]}, col {first[1]} has {shape}; all must match")
            images.append(image)
        checked.append(images)
    return checked, shape


def _mosaic(rows: list[list[np.ndarray]], shape, scale: int) -> np.ndarray:
    """Upscaled images pasted on a white uint8 canvas, `PAD` pixels apart and around."""
    cell_h, cell_w = shape[0] * scale, shape[1] * scale
    n_cols = max(len(row) for row in rows)
    canvas = np.full(
        (PAD + len(rows) * (cell_h + PAD), PAD + n_cols * (cell_w + PAD), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            big = np.repeat(np.repeat(to_uint8(image), scale, axis=0), scale, axis=1)
            y, x = PAD + r * (cell_h + PAD), PAD + c * (cell_w + PAD)
            canvas[y:y + cell_h, x:x + cell_w] = big
    return canvas


def image_grid(rows, row_titles=None, col_titles=None, scale: int = 2, title=None) -> np.ndarray:
    """Lays out small images in a labelled grid.

    Without any titles the output is exactly the pixel mosaic: a white canvas
    with cell `(r, c)` (size `(h * scale, w * scale)`) starting at pixel row
    `PAD + r * (h * scale + PAD)` and column `PAD + c * (w * scale + PAD)`,
    `PAD = 2`. Titles add a band on top (`title`, then `col_titles`) and on the
    left (`row_titles`); a title wider than the grid widens the figure and
    centres the grid under it. The images themselves are never resampled.

    Args:
        rows: A list of rows, each a list (or array) of float images `(h, w, 3)`
            in [0, 1] (values outside are clipped). All images share one size;
            rows may differ in length, missing cells stay blank.
        row_titles: Optional labels, one per row, drawn on the left.
        col_titles: Optional labels, one per column (longest row), drawn on top
            and word-wrapped to the cell width.
        scale: Integer nearest-neighbour upscaling factor (>= 1).
        title: Optional figure title.

    Returns:
        `(H, W, 3)` uint8 RGB array.

    Raises:
        ValueError: On no rows, an empty row, images of differing or non-RGB
            shapes, a bad `scale`, or title lists of the wrong length.
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    checked, shape = _check_grid(rows)
    n_rows, n_cols = len(checked), max(len(row) for row in checked)
    if row_titles is not None and len(row_titles) != n_rows:
        raise ValueError(f"got {len(row_titles)} row_titles for {n_rows} rows")
    if col_titles is not None and len(col_titles) != n_cols:
        raise ValueError(f"got {len(col_titles)} col_titles for {n_cols} columns")
    mosaic = _mosaic(checked, shape, int(scale))
    if row_titles is None and col_titles is None and title is None:
        return mosaic
    return _titled(mosaic, shape[0] * scale, shape[1] * scale, row_titles, col_titles, title)


def _titled(mosaic, cell_h, cell_w, row_titles, col_titles, title) -> np.ndarray:
    """Adds title bands around a mosaic with matplotlib text, pasting the mosaic unchanged."""
    renderer = RendererAgg(1, 1, DPI)
    line_h = _line_height(renderer, LABEL_FONTSIZE)
    rows_text = [_wrap(renderer, t, ROW_TITLE_MAX_PX, LABEL_FONTSIZE) for t in row_titles or []]
    left = 0
    if rows_text:
        widest = max(_text_size(renderer, ln, LABEL_FONTSIZE)[0] for t in rows_text for ln in t)
        left = math.ceil(widest) + 8
    width = left + mosaic.shape[1]
    cols_text = [_wrap(renderer, t, cell_w + PAD, LABEL_FONTSIZE) for t in col_titles or []]
    col_band = math.ceil(max(len(t) for t in cols_text) * line_h) + 4 if cols_text else 0
    title_text, title_band = [], 0
    if title is not None:
        title_text = _wrap(renderer, title, max(width, MIN_TITLE_PX) - 8, TITLE_FONTSIZE, "bold")
        title_band = math.ceil(len(title_text) * _line_height(renderer, TITLE_FONTSIZE)) + 6
        widest = max(_text_size(renderer, ln, TITLE_FONTSIZE, "bold")[0] for ln in title_text)
        # A title wider than the grid widens the figure; the grid stays centred under it.
        grown = max(width, math.ceil(widest) + 8)
        left, width = left + (grown - width) // 2, grown
    top = title_band + col_band
    height = top + mosaic.shape[0]

    # Half a pixel extra so that Agg's int() of width * dpi never loses a pixel.
    fig = Figure(figsize=((width + 0.5) / DPI, (height + 0.5) / DPI), dpi=DPI, facecolor="white")
    fig.figimage(mosaic, xo=left, yo=0, origin="upper")

    def text(x_px, y_px, s, **kwargs):  # pixel coordinates from the top-left corner
        fig.text(x_px / width, 1.0 - y_px / height, s, **kwargs)

    if title_text:
        text(width / 2, title_band / 2, "\n".join(title_text), ha="center", va="center",
             fontsize=TITLE_FONTSIZE, fontweight="bold", multialignment="center")
    for c, lines in enumerate(cols_text):
        text(left + PAD + c * (cell_w + PAD) + cell_w / 2, title_band + col_band / 2,
             "\n".join(lines), ha="center", va="center", fontsize=LABEL_FONTSIZE,
             multialignment="center")
    for r, lines in enumerate(rows_text):
        text(left - 4, top + PAD + r * (cell_h + PAD) + cell_h / 2, "\n".join(lines),
             ha="right", va="center", fontsize=LABEL_FONTSIZE, multialignment="right")
    return figure_to_array(fig)[:height, :width]


# === Correlation heatmaps ===


def _check_matrices(matrices, names, titles) -> tuple[list[str], list[np.ndarray]]:
    if isinstance(matrices, dict):
        keys, arrays = list(matrices.keys()), list(matrices.values())
    else:
        keys, arrays = [None] * len(matrices), list(matrices)
    if not arrays:
        raise ValueError("correlation_heatmaps needs at least one matrix, got none")
    if titles is not None:
        if len(titles) != len(arrays):
            raise ValueError(f"got {len(titles)} titles for {len(arrays)} matrices")
        keys = list(titles)
    size = len(names)
    checked = []
    for key, matrix in zip(keys, arrays, strict=True):
        matrix = np.asarray(matrix, np.float64)
        if matrix.shape != (size, size):
            raise ValueError(
                f"matrix {key!r} has shape {matrix.shape}; expected ({size}, {size}) for "
                f"{size} names")
        checked.append(matrix)
    return ["" if k is None else str(k) for k in keys], checked


def _cell_label(value: float) -> str:
    if not np.isfinite(value):
        return ""
    label = f"{value:.1f}"
    return "0.0" if label == "-0.0" else label


def correlation_heatmaps(matrices, names, titles=None) -> np.ndarray:
    """Side-by-side heatmaps of `(L, L)` correlation matrices with one shared colour bar.

    Colours are a diverging map fixed to [-1, 1] (blue negative, red positive);
    NaN cells are grey. With `L <= 20` each cell carries its value to one
    decimal. Label names are tick labels, rotated on the x axis.

    Reference: paper Fig. 4 (slot-norm correlations next to label correlations).

    Args:
        matrices: Dict panel title -> `(L, L)` array in [-1, 1] (NaN allowed),
            or a sequence of such arrays (then give `titles`).
        names: The L label names.
        titles: Optional panel titles in panel order; they replace the dict keys.

    Returns:
        `(H, W, 3)` uint8 RGB array.
    """
    names = [str(n) for n in names]
    keys, arrays = _check_matrices(matrices, names, titles)
    size, n_panels = len(names), len(arrays)
    cell_in = 0.4 if size <= 20 else 0.22
    tick_fontsize = 8 if size <= 20 else 7
    panel_in = max(2.0, size * cell_in)
    label_in = max((len(n) for n in names), default=1) * tick_fontsize * 0.62 / 72
    fig = Figure(
        figsize=(n_panels * (panel_in + 0.3) + label_in + 1.2, panel_in + label_in + 0.7),
        dpi=DPI, facecolor="white", layout="constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    cmap = colormaps["RdBu_r"].with_extremes(bad=NAN_GREY)
    image = None
    for i, (ax, key, matrix) in enumerate(zip(axes, keys, arrays, strict=True)):
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=-1.0, vmax=1.0,
                          interpolation="nearest")
        ax.set_title(key, fontsize=TITLE_FONTSIZE)
        ax.set_xticks(range(size), names, rotation=90, fontsize=tick_fontsize)
        ax.set_yticks(range(size), names if i == 0 else [], fontsize=tick_fontsize)
        if size <= 20:
            for (y, x), value in np.ndenumerate(matrix):
                ax.text(x, y, _cell_label(value), ha="center", va="center", fontsize=7,
                        color="white" if abs(value) > 0.6 else "black")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="Pearson r")
    return figure_to_array(fig)


# === PCA strips ===


def strip_indices(n: int, max_images: int = 10) -> np.ndarray:
    """Positions of the images a strip shows: all `n`, or `max_images` evenly spaced.

    The first (0) and last (n - 1) are always included; the spacing is at least
    one position, so no index repeats.

    Returns:
        Increasing int array of length `min(n, max_images)`.
    """
    if n < 1:
        raise ValueError(f"need at least one image, got n={n}")
    if max_images < 2:
        raise ValueError(f"max_images must be >= 2 to keep the first and last, got {max_images}")
    if n <= max_images:
        return np.arange(n)
    return np.round(np.linspace(0, n - 1, max_images)).astype(int)


def pca_strip(images, projections, title=None, max_images: int = 10, scale: int = 2) -> np.ndarray:
    """One row of images ordered along a principal component, projection value above each.

    Reference: paper Fig. 5 (images ordered by their projection on the first
    principal component of a label's slot embeddings).

    Args:
        images: `(n, h, w, 3)` floats in [0, 1], already ordered by increasing
            projection.
        projections: `(n,)` projection values, in the same order.
        title: Optional figure title.
        max_images: At most this many images are shown, evenly spaced and
            including the first and last (see `strip_indices`).
        scale: Nearest-neighbour upscaling factor, as in `image_grid`.

    Returns:
        `(H, W, 3)` uint8 RGB array.
    """
    images = np.asarray(images)
    projections = np.asarray(projections, np.float64).reshape(-1)
    if len(images) != len(projections):
        raise ValueError(
            f"pca_strip got {len(images)} images but {len(projections)} projections")
    chosen = strip_indices(len(images), max_images)
    return image_grid([list(images[chosen])], col_titles=[f"{p:.2f}" for p in projections[chosen]],
                      scale=scale, title=title)
