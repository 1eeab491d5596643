"""Using a trained run on new inputs: read an image, edit it, generate from labels.

The library side of `kerasolr edit` and `kerasolr generate`: each function
takes a run directory and plain values, and raises `ValueError` /
`FileNotFoundError` with one line naming the bad file or value.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from kerasolr import editing, plots


def read_image(path: str, image_size: int) -> np.ndarray:
    """Reads a PNG, JPEG, BMP or GIF (first frame) as float32 `(S, S, 3)` in [0, 1].

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a decodable image, or not `image_size` x `image_size`.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image {path} not found")
    data = tf.io.read_file(path)
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        raise ValueError(f"{path} is not a PNG, JPEG, BMP or GIF image") from None
    height, width = int(image.shape[0]), int(image.shape[1])
    if (height, width) != (image_size, image_size):
        raise ValueError(f"{path} is {width}x{height} pixels; this run's models take "
                         f"{image_size}x{image_size} images")
    return (tf.cast(image, tf.float32) / 255.0).numpy()


def _models(run_dir: str):
    from kerasolr import run

    config = run.read_config(run_dir)
    decoder_path = os.path.join(run_dir, "decoder.keras")
    if not os.path.exists(decoder_path):
        raise FileNotFoundError(f"{decoder_path} not found: run `kerasolr train-decoder "
                                f"{run_dir}` first")
    gaussians_path = os.path.join(run_dir, editing.GAUSSIANS_FILE)
    gaussians = (editing.LabelGaussians.load(gaussians_path) if os.path.exists(gaussians_path)
                 else run.fit_gaussians(run_dir))
    return config, run._load_model(decoder_path), gaussians


def _label_ids(gaussians: editing.LabelGaussians, names) -> list[int]:
    return [gaussians.index(name) for name in names]


def edit_image(run_dir: str, image_path: str, out_path: str, add=(), remove=(), emphasise=(),
               scale: float = 1.0, seed: int = 0) -> dict[str, str]:
    """Embeds an image, edits its embedding and writes the decoded result.

    Args:
        run_dir: A run with `encoder.keras` and `decoder.keras`.
        image_path: The image (the run's resolution).
        out_path: Where the edited image goes (PNG).
        add: Label names to add (a sample of each label's Gaussian, times `scale`).
        remove: Label names to remove (slot zeroed).
        emphasise: Label names whose slot is multiplied by `scale`.
        scale: Factor for added samples and emphasised slots.
        seed: Sampling seed.

    Returns:
        `{"edited": out_path, "comparison": <out>_comparison.png}`; the second
        file shows original, reconstruction and edit side by side.
    """
    from kerasolr import run
    from kerasolr.models.decoder import crop_to

    if not (add or remove or emphasise):
        raise ValueError("nothing to do: give at least one of --add, --remove, --emphasise")
    if scale <= 0:
        raise ValueError(f"scale={scale} is invalid: expected > 0")
    config, decoder, gaussians = _models(run_dir)
    overlap = set(add) & set(remove)
    if overlap:
        raise ValueError(f"label {sorted(overlap)[0]!r} is both added and removed")
    add_ids, remove_ids = _label_ids(gaussians, add), _label_ids(gaussians, remove)
    emphasise_ids = _label_ids(gaussians, emphasise)
    image = read_image(image_path, config.data.image_size)
    encoder = run._load_model(os.path.join(run_dir, "encoder.keras"))
    embedding = encoder(image[None], training=False).numpy()
    edited = embedding
    for i, label in enumerate(add_ids):
        edited = editing.add_label(edited, label, gaussians, seed + i, scale)
    for label in remove_ids:
        edited = editing.remove_label(edited, label)
    for label in emphasise_ids:
        edited = editing.scale_label(edited, label, scale)
    reconstruction = run._decode(decoder, embedding)
    result = run._decode(decoder, edited)
    plots.save_png(plots.to_uint8(result[0]), out_path)
    stem, _ = os.path.splitext(out_path)
    comparison = f"{stem}_comparison.png"
    title = " ".join([*(f"+{n}" for n in add), *(f"-{n}" for n in remove),
                      *(f"{n} x{scale:g}" for n in emphasise)])
    size = result.shape[1]
    plots.save_png(plots.image_grid([[crop_to(image[None], size)[0], reconstruction[0],
                                      result[0]]],
                                    col_titles=["original", "reconstruction", title], scale=3),
                   comparison)
    return {"edited": out_path, "comparison": comparison}


def generate_images(run_dir: str, labels, out_path: str, num: int = 8, seed: int = 0,
                    scale: float = 1.0) -> str:
    """Generates `num` images from labels alone (wanted slots sampled, zeros
    elsewhere) and writes them as one row of a PNG grid.

    Returns:
        `out_path`.
    """
    from kerasolr import run

    if num < 1:
        raise ValueError(f"num={num} is invalid: expected >= 1")
    _, decoder, gaussians = _models(run_dir)
    wanted = np.zeros((num, len(gaussians.names)))
    for label in _label_ids(gaussians, labels):
        wanted[:, label] = 1
    images = run._decode(decoder, editing.generate(wanted, gaussians, seed, scale))
    title = ", ".join(labels) if labels else "(no labels)"
    plots.save_png(plots.image_grid([list(images)], title=title, scale=3), out_path)
    return out_path


def search_image(run_dir: str, image_path: str, out_path: str, by=(), top: int = 16,
                 split: str = "test") -> dict:
    """Finds the images of a run's split nearest to a query image, judged only
    by the chosen labels' slots (or by the whole embedding when `by` is empty),
    and writes a grid: the query, then the `top` results in order.

    Returns:
        `{"grid": out_path, "indices": positions in the split, "distances": ...}`.
    """
    from kerasolr import retrieval, run
    from kerasolr.data import pipeline
    from kerasolr.embeddings import load_embeddings

    if top < 1:
        raise ValueError(f"--top must be >= 1, got {top}")
    config = run.read_config(run_dir)
    names = pipeline.label_names(config.data)
    unknown = [name for name in by if name not in names]
    if unknown:
        raise ValueError(f"unknown label {unknown[0]!r}; known: {', '.join(names)}")
    labels = [names.index(name) for name in by] or None
    encoder = run._load_model(os.path.join(run_dir, "encoder.keras"))
    query = read_image(image_path, config.data.image_size)
    gallery = load_embeddings(run._require(run.embeddings_path(run_dir, split)))["embeddings"]
    distances, indices = retrieval.search(
        retrieval.codes(encoder(query[None], training=False).numpy(), labels),
        retrieval.codes(gallery, labels), top)
    found = run._images_at(config, split, indices[0])
    title = f"nearest by {', '.join(by)}" if by else "nearest by the whole embedding"
    grid = plots.image_grid([[query, *found]], col_titles=["query"] + [
        f"{d:.2f}" for d in distances[0]], title=title)
    plots.save_png(grid, out_path)
    return {"grid": out_path, "indices": indices[0], "distances": distances[0]}
