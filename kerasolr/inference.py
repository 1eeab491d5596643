"""Using a trained run on new inputs: read an image, edit it, generate from labels.

The library side of `kerasolr edit` and `kerasolr generate`: each function
takes a run directory and plain values, and raises `ValueError` /
`FileNotFoundError` with one line naming the bad file or value.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from kerasolr import editing, plots, retrieval
from kerasolr.checks import check_at_least_one, check_edit, check_image_file, check_labels
from kerasolr.data import pipeline
from kerasolr.embeddings import embed_array
from kerasolr.models.decoder import crop_to, decode
from kerasolr.rundir import RunDir, log


def read_image(path: str, image_size: int) -> np.ndarray:
    """Reads a PNG, JPEG, BMP or GIF (first frame) as float32 `(S, S, 3)` in [0, 1].

    Raises:
        FileNotFoundError: No such file.
        ValueError: Not a decodable image, or not `image_size` x `image_size`.
    """
    check_image_file(path)
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


def load_input(path: str, image_size: int, align: bool = False, face: int = 0):
    """The models' input `(S, S, 3)` for an image file: as it is (it must be
    `S` x `S`), or, with `align`, face `face` of any photo brought to the
    aligned-CelebA geometry (`kerasolr.align`). Returns `(image, photo,
    aligned)`; the last two are `None` without `align`."""
    if not align:
        return read_image(path, image_size), None, None
    from kerasolr import align as face_align

    photo, aligned = face_align.align_file(path, face)
    if aligned.faces > 1:
        log(f"{path}: {aligned.faces} faces; using face {face} (0 is the largest; --face N)")
    return face_align.crop_of(aligned, image_size), photo, aligned


def _models(run: RunDir):
    """The run's config, decoder and label Gaussians (checked before any loading)."""
    config = run.read_config()
    if not run.has_model("decoder"):
        raise FileNotFoundError(f"{run.model_path('decoder')} not found: run `kerasolr "
                                f"train-decoder {run.path}` first")
    return config, run.load_model("decoder"), run.label_gaussians()


def _label_ids(gaussians: editing.LabelGaussians, names) -> list[int]:
    return [gaussians.index(name) for name in names]


def edit_image(run_dir: str, image_path: str, out_path: str, add=(), remove=(), emphasise=(),
               scale: float = 1.0, seed: int = 0, intensity: float = 1.0,
               structured: bool = False, align: bool = False, face: int = 0,
               paste: str = "edit") -> dict[str, str]:
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
        intensity: How far an added or removed slot moves from its value `s`
            towards the edit's target `g`: `s + intensity (g - s)` (1: the
            paper's edit; 2: as far again, AttGAN's slide mode; below 1: part
            of the way).
        structured: Follow the labels' structure (`editing.structured_edit`):
            the image's current labels are the run classifier's decisions;
            adding a label also removes those it excludes and adds those it
            implies, removing one also removes those that imply it, as the
            training labels say. Added slots are then plain samples (`scale`
            multiplies only the emphasised ones); the slots left alone move by
            the edited labels' effect on them times the run's
            `edit.context_scale` (`editing.shift_context`); `emphasise` is
            applied after.
        align: The image is any photo of a face: it is aligned first
            (`load_input`), and `out_path` gets the whole photo with its face
            edited (`kerasolr.align.paste_back`).
        face: With `align`, which face (0: the largest).
        paste: With `align`, `"edit"` pastes the change alone onto the
            photo's face, `"replace"` the decoded face, colour-matched.

    Returns:
        `{"edited": out_path, "comparison": <out>_comparison.png}`; the second
        file shows original, reconstruction and edit side by side.
    """
    check_edit(None, add, remove, emphasise, scale, intensity)   # labels: `_label_ids`
    run = RunDir(run_dir)
    config, decoder, gaussians = _models(run)
    add_ids, remove_ids = _label_ids(gaussians, add), _label_ids(gaussians, remove)
    emphasise_ids = _label_ids(gaussians, emphasise)
    if paste not in ("edit", "replace"):
        raise ValueError(f"paste={paste!r} is invalid: expected 'edit' or 'replace'")
    image, photo, aligned = load_input(image_path, config.data.image_size, align, face)
    encoder = run.load_model("encoder")
    embedding = encoder(image[None], training=False).numpy()
    edited = embedding
    changed_too: list[str] = []
    if structured:
        current = run.load_model("classifier")(image[None], training=False).numpy() > 0.5
        structure, context = run.edit_structure()
        target = current.copy()
        for label in add_ids:
            target = editing.structured_targets(target, label, [True], structure)
        for label in remove_ids:
            target = editing.structured_targets(target, label, [False], structure)
        asked = set(add_ids) | set(remove_ids)
        changed_too = [("+" if target[0, j] else "-") + gaussians.names[j]
                       for j in np.flatnonzero(target[0] != current[0]) if j not in asked]
        if changed_too:
            log(f"edit: following the labels' structure, also {' '.join(changed_too)}")
        edited = editing.set_labels(edited, current, target, gaussians, seed, intensity)
        if config.edit.context_scale:
            edited = editing.shift_context(edited, current, target,
                                           [j for j in add_ids + remove_ids
                                            if target[0, j] != current[0, j]],
                                           context, intensity, config.edit.context_scale)
    else:
        # Each target differs from `edited` in one slot only, so this moves that slot.
        for i, label in enumerate(add_ids):
            target = editing.add_label(edited, label, gaussians, seed + i, scale)
            edited = edited + intensity * (target - edited)
        for label in remove_ids:
            edited = edited + intensity * (editing.remove_label(edited, label) - edited)
    for label in emphasise_ids:
        edited = editing.scale_label(edited, label, scale)
    reconstruction = decode(decoder, embedding)
    result = decode(decoder, edited)
    if aligned is None:
        plots.save_png(plots.to_uint8(result[0]), out_path)
    else:
        from kerasolr import align as face_align

        plots.save_png(face_align.paste_back(
            photo, result[0], aligned, reconstruction[0] if paste == "edit" else None,
            input_size=config.data.image_size), out_path)
    stem, _ = os.path.splitext(out_path)
    comparison = f"{stem}_comparison.png"
    title = " ".join([*(f"+{n}" for n in add), *(f"-{n}" for n in remove),
                      *(f"{n} x{scale:g}" for n in emphasise)]
                     + ([f"(also {' '.join(changed_too)})"] if changed_too else [])
                     + ([f"(intensity {intensity:g})"] if intensity != 1.0 else []))
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
    check_at_least_one("num", num)
    _, decoder, gaussians = _models(RunDir(run_dir))
    wanted = np.zeros((num, len(gaussians.names)))
    for label in _label_ids(gaussians, labels):
        wanted[:, label] = 1
    images = decode(decoder, editing.generate(wanted, gaussians, seed, scale))
    title = ", ".join(labels) if labels else "(no labels)"
    plots.save_png(plots.image_grid([list(images)], title=title, scale=3), out_path)
    return out_path


def search_image(run_dir: str, image_path: str, out_path: str, by=(), top: int = 16,
                 split: str = "test", align: bool = False, face: int = 0) -> dict:
    """Finds the images of a run's split nearest to a query image, judged only
    by the chosen labels' slots (or by the whole embedding when `by` is empty),
    and writes a grid: the query, then the `top` results in order.

    The results are shown as they are in the run's dataset; where that dataset
    is not on this machine (a run copied to a serving machine), as the
    decoder's reconstructions of their stored embeddings, or, without a
    decoder, as blank tiles, and the grid's title says so.

    With `align`, the query is any photo of a face, aligned first (face
    `face`, 0 the largest).

    Returns:
        `{"grid": out_path, "indices": positions in the split, "ids": the
        images' ids in the dataset, "distances": ..., "shown": "images",
        "reconstructions" or "none", "files": each result's image file, or
        `None` where the images are not files (synthfaces) or not here}`.
    """
    check_at_least_one("--top", top)
    run = RunDir(run_dir)
    config = run.read_config()
    names = run.label_names()
    check_labels(names, by)
    labels = [names.index(name) for name in by] or None
    gallery = run.load_embeddings(split)
    if top > len(gallery["embeddings"]):
        log(f"note: the {split} split has {len(gallery['embeddings'])} images; showing all "
            f"of them, not {top}")
    query = load_input(image_path, config.data.image_size, align, face)[0]
    encoder = run.load_model("encoder")
    distances, indices = retrieval.search(
        retrieval.codes(encoder(query[None], training=False).numpy(), labels),
        retrieval.codes(gallery["embeddings"], labels), top)
    indices, distances = indices[0], distances[0]
    title = f"nearest by {', '.join(by)}" if by else "nearest by the whole embedding"
    if pipeline.available(config.data):
        found, shown = list(pipeline.images_at(config.data, split, indices)), "images"
    elif run.has_model("decoder"):
        decoded = decode(run.load_model("decoder"), gallery["embeddings"][indices])
        found, shown = list(decoded), "reconstructions"
        query = crop_to(query[None], decoded.shape[1])[0]
        title += " (dataset not on this machine: results shown as reconstructions)"
    else:
        found, shown = [np.full_like(query, 0.5) for _ in indices], "none"
        title += " (dataset not on this machine and no decoder: results not shown)"
    grid = plots.image_grid([[query, *found]], col_titles=["query"] + [
        f"{d:.2f}" for d in distances], title=title)
    plots.save_png(grid, out_path)
    files = pipeline.split_files(config.data, split) if shown == "images" else None
    return {"grid": out_path, "indices": indices, "ids": gallery["ids"][indices],
            "distances": distances, "shown": shown,
            "files": [files[i] for i in indices] if files is not None else None}


def embed_images(run_dir: str, image_paths, out_path: str, align: bool = False,
                 face: int = 0, batch_size: int = 64) -> dict:
    """Embeds image files (not a run's dataset) and writes them to one `.npz`.

    Every file is read and checked first (`load_input`: the run's size, or any
    face photo with `align`), so a bad one stops the command before any
    embedding and before `out_path` is written.

    Args:
        run_dir: A run (or preset) with `encoder.keras`.
        image_paths: The image files.
        out_path: The `.npz` to write: `embeddings (n, L, k)`, `slot_norms
            (n, L)`, `files (n,)` as given, `label_names (L,)`.
        align: The files are any photos of a face, aligned first.
        face: With `align`, which face (0: the largest).
        batch_size: Images per encoder call.

    Returns:
        What was written, as arrays.
    """
    image_paths = list(image_paths)
    check_at_least_one("images", len(image_paths))
    if not out_path.endswith(".npz"):
        raise ValueError(f"--out {out_path}: expected a .npz file")
    run = RunDir(run_dir)
    config = run.read_config()
    images = np.stack([load_input(path, config.data.image_size, align, face)[0]
                       for path in image_paths])
    embeddings = embed_array(run.load_model("encoder"), images, batch_size)
    written = {"embeddings": embeddings,
               "slot_norms": np.linalg.norm(embeddings, axis=-1),
               "files": np.array(image_paths), "label_names": np.array(run.label_names())}
    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    partial = out_path[:-len(".npz")] + ".partial.npz"
    np.savez(partial, **written)
    os.replace(partial, out_path)
    return written
