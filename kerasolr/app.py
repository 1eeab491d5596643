"""`kerasolr app`: a local web app to edit, generate and search with a trained model.

Works on a run directory, a shipped preset (`--preset synthfaces-64`) or an
exported SavedModel (`kerasolr export`). The page has three tabs:

- **Edit**: upload an image (or pick one of the run's test images), see its
  reconstruction and its slot norms, move one slider per label (intensity
  -2..2, AttGAN's slide mode: 1 adds the label as `kerasolr edit --add` does,
  -1 removes it, 2 and -2 go as far again) and see the edit.
- **Generate**: faces from a chosen label set alone.
- **Search**: the test images nearest to a query, judged by chosen labels'
  slots (a run or preset; an exported model holds no gallery).

The models sit behind `Models`, whose three makers (`models_from_run`,
`models_from_savedmodel`) give the same methods, so the handlers of
`build_app` are plain functions that tests call without a browser. A bad
upload (not an image, the wrong size, no face with `--align`) is answered by a
one-line message on the page, never an exception.

Gradio is an optional dependency: `pip install "kerasolr[app]"`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable

import numpy as np

from kerasolr import editing, plots, retrieval
from kerasolr.rundir import RunDir, log

INTENSITY_RANGE = (-2.0, 2.0)
EXAMPLES = 8            # test images offered in the picker
SEARCH_TOP = 8
GENERATE_NUM = 6
IMAGE_HEIGHT = 240      # pixels on the page
DISPLAY_SIDE = 192      # images are shown enlarged (nearest neighbour) to at least this side
SLIDERS_PER_ROW = 4


@dataclasses.dataclass
class Models:
    """What the app needs from a model, whatever it was loaded from.

    Attributes:
        names: The L label names.
        image_size: S, the side of the encoder's input.
        k: Numbers per slot.
        embed: `(n, S, S, 3)` float32 in [0, 1] -> `(n, L, k)` embeddings.
        reconstruct: `(n, L, k)` -> `(n, O, O, 3)` images in [0, 1].
        sample: `(label, n, seed)` -> `(n, k)` samples of the label's slot
            Gaussian (what `kerasolr edit --add` puts in the slot).
        gallery: `(m, L, k)` embeddings to search, or `None`.
        gallery_images: `(indices) -> (len, H, W, 3)` images of the gallery
            rows in [0, 1] (the dataset's where it is here, else reconstructions).
        examples: Image files to offer in the picker.
        source: What was loaded, for the page's header.
    """

    names: tuple[str, ...]
    image_size: int
    k: int
    embed: Callable
    reconstruct: Callable
    sample: Callable
    gallery: np.ndarray | None = None
    gallery_images: Callable | None = None
    examples: tuple[str, ...] = ()
    source: str = ""


# === The edits (pure functions of arrays) ===


def slider_edit(embedding, intensities, models: Models, seed: int = 0) -> np.ndarray:
    """Moves each label's slot by its slider: `v > 0` towards a sample of the
    label's Gaussian, `s + v (g - s)`; `v < 0` towards zero, `s + |v| (0 - s)`.

    Args:
        embedding: `(L, k)` the image's embedding.
        intensities: `(L,)` slider values in [-2, 2] (0 leaves the slot).
        models: Gives the samples `g` (`models.sample`).
        seed: Sampling seed; label `l` uses `seed + l`.

    Returns:
        `(L, k)` the edited embedding.
    """
    embedding = np.asarray(embedding, np.float32)
    intensities = np.asarray(intensities, np.float32)
    if intensities.shape != embedding.shape[:1]:
        raise ValueError(f"{len(intensities)} intensities for {embedding.shape[0]} labels")
    low, high = INTENSITY_RANGE
    if np.any(intensities < low) or np.any(intensities > high):
        raise ValueError(f"intensities must lie in [{low:g}, {high:g}], got "
                         f"{intensities.min():g}..{intensities.max():g}")
    out = embedding.copy()
    for label in np.flatnonzero(intensities):
        v = float(intensities[label])
        target = (models.sample(int(label), 1, seed + int(label))[0] if v > 0
                  else np.zeros_like(out[label]))
        out[label] = out[label] + abs(v) * (target - out[label])
    return out


def generate_codes(wanted, models: Models, num: int, seed: int = 0) -> np.ndarray:
    """`(num, L, k)` embeddings from a label set alone: the wanted slots
    sampled, zeros elsewhere (`editing.generate`, as `kerasolr generate`)."""
    label_sets = np.zeros((num, len(models.names)))
    label_sets[:, [models.names.index(name) for name in wanted]] = 1
    return editing.generate(label_sets, models, seed)


def slot_norm_chart(names, norms) -> np.ndarray:
    """A horizontal bar chart of one embedding's slot norms, `(H, W, 3)` uint8."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0, 0.22 * len(names) + 0.8), dpi=plots.DPI)
    ax = fig.add_subplot()
    ax.barh(range(len(names)), norms, color="#4c72b0")
    ax.set_yticks(range(len(names)), labels=list(names), fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("slot norm", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return plots.figure_to_array(fig)


def for_display(image) -> np.ndarray:
    """`(H, W, 3)` in [0, 1] -> uint8, each pixel repeated so the side reaches
    `DISPLAY_SIDE` (a 64 px face is unreadable at its own size on a page)."""
    image = plots.to_uint8(image)
    factor = max(1, -(-DISPLAY_SIDE // max(image.shape[:2])))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


# === Loading ===


def _example_files(images, out_dir: str) -> tuple[str, ...]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        path = os.path.join(out_dir, f"test_{i}.png")
        plots.save_png(plots.to_uint8(image), path)
        paths.append(path)
    return tuple(paths)


def models_from_run(run_dir: str, example_dir: str | None = None) -> Models:
    """The app's `Models` of a run directory or a preset's (its encoder,
    decoder, label Gaussians and test embeddings)."""
    from kerasolr.data import pipeline
    from kerasolr.models.decoder import decode

    run = RunDir(run_dir)
    config = run.read_config()
    if not run.has_model("decoder"):
        raise FileNotFoundError(f"{run.model_path('decoder')} not found: the app needs a "
                                f"decoder (`kerasolr train-decoder {run.path}`)")
    encoder, decoder = run.load_model("encoder"), run.load_model("decoder")
    gaussians = run.label_gaussians()
    gallery = (run.load_embeddings("test")["embeddings"]
               if run.has_embeddings("test") else None)
    here = pipeline.available(config.data)

    def gallery_images(indices):
        if here:
            return np.stack(list(pipeline.images_at(config.data, "test", indices)))
        return decode(decoder, gallery[indices])

    examples: tuple[str, ...] = ()
    if here:
        count = min(EXAMPLES, pipeline.split_size(config.data, "test"))
        examples = _example_files(
            list(pipeline.images_at(config.data, "test", np.arange(count))),
            example_dir or tempfile.mkdtemp(prefix="kerasolr_app_"))
    return Models(
        names=tuple(run.label_names()), image_size=config.data.image_size, k=gaussians.k,
        embed=lambda images: encoder(np.asarray(images, np.float32), training=False).numpy(),
        reconstruct=lambda codes: decode(decoder, codes),
        sample=gaussians.sample,
        gallery=gallery, gallery_images=gallery_images if gallery is not None else None,
        examples=examples, source=f"run {run.path}")


def models_from_savedmodel(path: str) -> Models:
    """The app's `Models` of an exported SavedModel (`kerasolr export`): its
    `embed`, `reconstruct` and `edit` signatures; the label Gaussians are
    sampled through `edit` (add one label to a blank image, read its slot)."""
    import tensorflow as tf

    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path} holds no saved_model.pb (give the version folder, "
                                f"e.g. savedmodels/NAME/1)")
    loaded = tf.saved_model.load(path)
    signatures = loaded.signatures
    missing = [s for s in ("embed", "reconstruct", "edit", "metadata") if s not in signatures]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)} signature(s): export a run "
                         f"with a decoder")
    meta = signatures["metadata"]()
    names = tuple(n.decode() for n in meta["label_names"].numpy())
    size = int(meta["image_size"].numpy())
    num_labels = len(names)

    def sample(label, n, seed):
        one_hot = np.zeros((n, num_labels), np.float32)
        one_hot[:, label] = 1.0
        out = signatures["edit"](
            images=tf.zeros((n, size, size, 3)), add=tf.constant(one_hot),
            remove=tf.zeros((n, num_labels)), scale=tf.ones((n, num_labels)),
            seed=tf.constant(seed + np.arange(n), tf.int64))
        return out["embedding"].numpy()[:, label]

    return Models(
        names=names, image_size=size, k=int(meta["k"].numpy()),
        embed=lambda images: signatures["embed"](
            images=tf.constant(images, tf.float32))["embedding"].numpy(),
        reconstruct=lambda codes: signatures["reconstruct"](
            embedding=tf.constant(codes, tf.float32))["image"].numpy(),
        sample=sample, source=f"SavedModel {path}")


# === The page ===


class Handlers:
    """The app's callbacks as plain methods: each returns its outputs plus a
    one-line status message, and turns a bad input into that message."""

    def __init__(self, models: Models, align: bool = False, face: int = 0):
        self.models = models
        self.align = align
        self.face = face

    def read(self, path) -> np.ndarray:
        """An uploaded file as the models' input `(S, S, 3)` (aligned first with `align`)."""
        from kerasolr.inference import load_input

        if path is None:
            raise ValueError("upload an image or pick one of the test images first")
        return load_input(path, self.models.image_size, self.align, self.face)[0]

    def edit(self, path, seed, *intensities):
        """`(reconstruction, edit, slot-norm chart, message)` of an image file."""
        try:
            image = self.read(path)
            embedding = self.models.embed(image[None])[0]
            edited = slider_edit(embedding, intensities, self.models, int(seed))
            recon, result = self.models.reconstruct(np.stack([embedding, edited]))
        except (ValueError, FileNotFoundError) as error:
            return None, None, None, f"**Error:** {error}"
        changed = [f"{n} {v:+g}" for n, v in zip(self.models.names, intensities, strict=True)
                   if v]
        chart = slot_norm_chart(self.models.names, np.linalg.norm(embedding, axis=-1))
        return (for_display(recon), for_display(result), chart,
                "edited: " + (", ".join(changed) if changed else "nothing (all sliders at 0)"))

    def generate(self, wanted, num, seed):
        """`(images, message)` for a label set."""
        try:
            codes = generate_codes(wanted or [], self.models, int(num), int(seed))
            images = self.models.reconstruct(codes)
        except (ValueError, FileNotFoundError) as error:
            return [], f"**Error:** {error}"
        return ([for_display(i) for i in images],
                "generated from: " + (", ".join(wanted) if wanted else "no labels"))

    def search(self, path, by, top):
        """`(gallery [(image, caption)], message)` nearest to a query image."""
        if self.models.gallery is None:
            return [], "**Error:** this model holds no gallery to search (use a run or preset)"
        try:
            query = self.read(path)
            labels = [self.models.names.index(name) for name in by or []] or None
            distances, indices = retrieval.search(
                retrieval.codes(self.models.embed(query[None]), labels),
                retrieval.codes(self.models.gallery, labels), int(top))
            found = self.models.gallery_images(indices[0])
        except (ValueError, FileNotFoundError) as error:
            return [], f"**Error:** {error}"
        return ([(for_display(i), f"{d:.2f}") for i, d in zip(found, distances[0],
                                                               strict=True)],
                "nearest by " + (", ".join(by) if by else "the whole embedding"))


def build_app(models: Models, align: bool = False, face: int = 0):
    """The Gradio `Blocks` page of `Handlers(models, align, face)`."""
    try:
        import gradio as gr
    except ImportError:
        raise ImportError('kerasolr app needs Gradio: pip install "kerasolr[app]"') from None
    handlers = Handlers(models, align, face)
    with gr.Blocks(title="kerasolr", analytics_enabled=False) as page:
        gr.Markdown(f"## kerasolr: per-label embeddings\n{models.source} · "
                    f"{len(models.names)} labels · {models.image_size}x{models.image_size} "
                    + ("· photos are aligned first" if align else "· aligned face crops"))
        with gr.Tab("Edit"):
            with gr.Row():
                image = gr.Image(type="filepath", label="image", elem_id="edit-input",
                                 height=IMAGE_HEIGHT)
                recon = gr.Image(label="reconstruction", elem_id="edit-recon", format="png",
                                 interactive=False, height=IMAGE_HEIGHT)
                edited = gr.Image(label="edit", elem_id="edit-output", format="png",
                                  interactive=False, height=IMAGE_HEIGHT)
                chart = gr.Image(label="slot norms", elem_id="edit-norms", format="png",
                                 interactive=False, height=IMAGE_HEIGHT)
            if models.examples:
                gr.Examples(list(models.examples), inputs=image, label="test images")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="seed", elem_id="edit-seed")
                run = gr.Button("Edit", variant="primary", elem_id="edit-run")
            sliders = []
            for start in range(0, len(models.names), SLIDERS_PER_ROW):
                with gr.Row():
                    sliders += [gr.Slider(*INTENSITY_RANGE, value=0.0, step=0.25, label=name,
                                          elem_id=f"slider-{name}")
                                for name in models.names[start:start + SLIDERS_PER_ROW]]
            status = gr.Markdown(elem_id="edit-status")
            run.click(handlers.edit, [image, seed, *sliders], [recon, edited, chart, status])
        with gr.Tab("Generate"):
            wanted = gr.CheckboxGroup(list(models.names), label="labels", elem_id="gen-labels")
            with gr.Row():
                num = gr.Slider(1, 16, value=GENERATE_NUM, step=1, label="images")
                gen_seed = gr.Number(value=0, precision=0, label="seed")
                gen = gr.Button("Generate", variant="primary", elem_id="gen-run")
            gallery = gr.Gallery(label="generated", columns=8, elem_id="gen-output",
                                 format="png", height=IMAGE_HEIGHT)
            gen_status = gr.Markdown(elem_id="gen-status")
            gen.click(handlers.generate, [wanted, num, gen_seed], [gallery, gen_status])
        with gr.Tab("Search"):
            with gr.Row():
                query = gr.Image(type="filepath", label="query", elem_id="search-input",
                                 height=IMAGE_HEIGHT)
                with gr.Column():
                    by = gr.CheckboxGroup(list(models.names), label="judged by these labels' "
                                          "slots (none: the whole embedding)",
                                          elem_id="search-labels")
                    top = gr.Slider(1, 32, value=SEARCH_TOP, step=1, label="results")
                    find = gr.Button("Search", variant="primary", elem_id="search-run")
            if models.examples:
                gr.Examples(list(models.examples), inputs=query, label="test images")
            results = gr.Gallery(label="nearest", columns=8, elem_id="search-output",
                                 format="png", height=IMAGE_HEIGHT)
            search_status = gr.Markdown(elem_id="search-status")
            find.click(handlers.search, [query, by, top], [results, search_status])
    return page


def serve(source: str, kind: str = "run", host: str = "127.0.0.1", port: int = 7860,
          align: bool = False, face: int = 0) -> None:
    """Loads the models and serves the page until interrupted.

    Args:
        source: A run directory (`kind="run"`; presets are run directories)
            or a SavedModel version folder (`kind="savedmodel"`).
        host: Address to bind (127.0.0.1: this machine only).
        port: Port to bind.
        align: Uploaded images are any face photos, aligned first.
        face: With `align`, which face (0: the largest).
    """
    if kind not in ("run", "savedmodel"):
        raise ValueError(f"kind={kind!r}: expected 'run' or 'savedmodel'")
    models = models_from_run(source) if kind == "run" else models_from_savedmodel(source)
    page = build_app(models, align, face)
    log(f"app: {models.source} on http://{host}:{port} (Ctrl-C stops it)")
    page.launch(server_name=host, server_port=port, show_error=True, share=False,
                ssr_mode=False, allowed_paths=[os.path.dirname(p) for p in models.examples[:1]])

