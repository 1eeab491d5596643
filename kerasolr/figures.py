"""The run's figures, composed from arrays with `kerasolr.plots` (pure: no models, no files).

Each returns a uint8 `(H, W, 3)` image, so the same figure is a PNG in
`RUN_DIR/figures/`, a TensorBoard summary during training, and an `<img>` in
the report.
"""

from __future__ import annotations

import numpy as np

from kerasolr import plots


def reconstruction_grid(originals, reconstructions: dict[str, np.ndarray],
                        title: str | None = None) -> np.ndarray:
    """Rows: the originals, then one row per reconstruction source.

    Args:
        originals: `(n, h, w, 3)` images in [0, 1] (cropped to the decoder's output).
        reconstructions: Row title -> `(n, h, w, 3)` reconstructions.
        title: Figure title.
    """
    rows = [list(originals)] + [list(images) for images in reconstructions.values()]
    return plots.image_grid(rows, row_titles=["original", *reconstructions], title=title)


def edit_grid(originals, reconstructions, edits: dict[str, np.ndarray],
              title: str | None = None, row_titles=None) -> np.ndarray:
    """One row per image: original, unedited reconstruction, then each edit.

    Args:
        originals: `(n, h, w, 3)`.
        reconstructions: `(n, h, w, 3)` decodes of the unedited embeddings.
        edits: Column title (e.g. `"+Smiling"`) -> `(n, h, w, 3)` decodes of edits.
        title: Figure title.
        row_titles: Optional per-image titles (e.g. `editing.toggle_row_titles`).
    """
    columns = [np.asarray(originals), np.asarray(reconstructions),
               *[np.asarray(e) for e in edits.values()]]
    rows = [[column[i] for column in columns] for i in range(len(columns[0]))]
    return plots.image_grid(rows, row_titles=row_titles,
                            col_titles=["original", "reconstruction", *edits], title=title)


def generation_grid(images, label_sets, names, per_row: int = 8,
                    title: str | None = None) -> np.ndarray:
    """Images generated from labels alone, each row one label set.

    Args:
        images: `(rows * per_row, h, w, 3)`, grouped by label set.
        label_sets: `(rows, L)` binary wanted labels, one per row.
        names: The L label names.
        per_row: Samples per label set.
        title: Figure title.
    """
    images = np.asarray(images)
    rows = [list(images[i * per_row:(i + 1) * per_row]) for i in range(len(label_sets))]
    row_titles = [", ".join(n for n, on in zip(names, s, strict=True) if on) or "(no labels)"
                  for s in np.asarray(label_sets) > 0.5]
    return plots.image_grid(rows, row_titles=row_titles, title=title)


def slerp_grid(images, row_titles, title: str | None = None) -> np.ndarray:
    """Rows of interpolations `(rows, steps, h, w, 3)`, e.g. one label's slot slerped
    from image A's to image B's with everything else fixed."""
    return plots.image_grid([list(r) for r in np.asarray(images)], row_titles=row_titles,
                            title=title)
