"""Visual checks during training: figures of the model saved every few epochs."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from kerasolr.plots import png_bytes, save_png


def check_figure(name: str, image) -> np.ndarray:
    """Returns `image` as an array if it is a uint8 `(H, W, 3)` image, else raises.

    Raises:
        ValueError: Naming the figure, its dtype and its shape.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"figure {name!r} must return a uint8 (H, W, 3) image, got dtype {image.dtype} "
            f"and shape {image.shape}")
    return image


def image_summary_metadata(name: str):
    """`SummaryMetadata` marking a summary for TensorBoard's images dashboard."""
    metadata = tf.compat.v1.SummaryMetadata(display_name=name)
    metadata.plugin_data.plugin_name = "images"
    return metadata


def write_image_summary(name: str, image: np.ndarray, step: int) -> None:
    """Writes one uint8 `(H, W, 3)` image to the default summary writer.

    Same record as `tf.summary.image` (a string tensor `[width, height, png]`
    tagged for the "images" plugin) but without needing the `tensorboard`
    package installed, which `tf.summary.image` does.
    """
    height, width = image.shape[:2]
    tensor = tf.constant([str(width).encode(), str(height).encode(), png_bytes(image)])
    tf.summary.write(name, tensor, step=step, metadata=image_summary_metadata(name))


class VisualCheck(keras.callbacks.Callback):
    """Renders figures of the model being trained every `every` epochs.

    After epoch `e` (1-based) with `e % every == 0`, each figure is called with
    the model and its image written to `out_dir/<name>_epoch<eee>.png` and
    `out_dir/<name>_latest.png` (both atomically). With `log_dir`, the image
    also goes to TensorBoard as an image summary named `<name>` at step `e`.

    Example:
        ```python
        fixed = test_images[:8]
        figures = {"reconstructions": lambda model: plots.image_grid(
            [list(fixed), list(model.predict(fixed, verbose=0))])}
        model.fit(..., callbacks=[VisualCheck(figures, "run/figures/training", every=5)])
        ```

    Args:
        figures: Dict name -> callable taking the Keras model and returning a
            uint8 `(H, W, 3)` RGB array. Names become file names, so they may
            not contain path separators.
        out_dir: Directory for the PNGs (created when first needed).
        every: Render after every `every`-th epoch (>= 1).
        log_dir: Optional TensorBoard log directory.
    """

    def __init__(self, figures, out_dir: str, every: int = 1, log_dir: str | None = None):
        super().__init__()
        if int(every) != every or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        for name, figure in figures.items():
            if not name or "/" in name or os.sep in name or name in (".", ".."):
                raise ValueError(f"figure name {name!r} cannot be used as a file name")
            if not callable(figure):
                raise ValueError(f"figure {name!r} is not callable")
        self.figures = dict(figures)
        self.out_dir = out_dir
        self.every = int(every)
        self.log_dir = log_dir
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        if step % self.every:
            return
        for name, figure in self.figures.items():
            image = check_figure(name, figure(self.model))
            save_png(image, os.path.join(self.out_dir, f"{name}_epoch{step:03d}.png"))
            save_png(image, os.path.join(self.out_dir, f"{name}_latest.png"))
            if self.log_dir is not None:
                self._log_image(name, image, step)

    def _log_image(self, name: str, image: np.ndarray, step: int) -> None:
        if self.writer is None:
            self.writer = tf.summary.create_file_writer(self.log_dir)
        with self.writer.as_default():
            write_image_summary(name, image, step)
        self.writer.flush()

    def on_train_end(self, logs=None):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
