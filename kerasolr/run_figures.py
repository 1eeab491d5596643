"""The figures and tables the evaluate stage writes into a run directory.

The figures are composed by `kerasolr.figures` (pure, arrays in, uint8 images
out); this module picks what they show (which images, labels and edits),
decodes, and writes the PNGs and CSVs where `RunDir` says.
"""

from __future__ import annotations

import numpy as np

from kerasolr import editing, figures, plots
from kerasolr.data import pipeline
from kerasolr.evaluate import NORM_MATRIX, correlation_matrices
from kerasolr.evaluation import protocol
from kerasolr.models.decoder import crop_to, decode
from kerasolr.resume import write_text_atomically
from kerasolr.rundir import NORM_CORRELATION_CSV, PCA_CSV, RunDir

GRID_IMAGES = 8           # images in reconstruction grids
EDIT_GRID_IMAGES = 4      # images (rows) in edit grids
EDIT_GRID_LABELS = 4      # labels (columns) toggled in edit grids
GENERATION_ROWS = 6       # label sets in the generation figure
GENERATIONS_PER_ROW = 8
SLERP_STEPS = 8
STRIP_IMAGES = 10         # images in the PCA strip
DISAGREEMENT_LABELS = 6   # labels (columns) of the disagreement figure
FLIP_GRID_IMAGES = 6      # images (rows) of the AttGAN-style flip grids
FLIP_GRID_LABELS = 16     # labels (columns) flipped in them


def write_csv(path: str, header, rows) -> None:
    """A small CSV (numbers to 6 significant digits), written atomically."""
    lines = [",".join(header)] + [
        ",".join(str(v) if isinstance(v, str) else f"{v:.6g}" for v in row) for row in rows]
    write_text_atomically(path, "\n".join(lines) + "\n")


def correlation_figure(embeddings, labels, truth_corr, names) -> np.ndarray:
    """The norm-correlation heatmaps of `embeddings` (paper Fig. 4) as an image."""
    return plots.correlation_heatmaps(correlation_matrices(embeddings, labels, truth_corr),
                                      names)


def save_correlations(run: RunDir, matrices: dict[str, np.ndarray], names) -> None:
    """`figures/norm_correlation.png` (paper Fig. 4) and `norm_correlation.csv`."""
    plots.save_png(plots.correlation_heatmaps(matrices, names),
                   run.figure_path("norm_correlation.png"))
    norm_corr = matrices[NORM_MATRIX]
    write_csv(run.file(NORM_CORRELATION_CSV), ["label", *names],
              [[name, *norm_corr[i]] for i, name in enumerate(names)])


def save_disagreements(run: RunDir, test_images, names, cases: dict[str, np.ndarray]
                        ) -> None:
    """`figures/disagreements.png` (paper Fig. 3): for each of the labels with
    the most disagreements (a row, titled with the counts of each kind), one
    held-out image the probe gets right and the classifier wrong, and one the
    reverse; grey where there is none."""
    counts = cases["probe_right"].sum(0) + cases["classifier_right"].sum(0)
    labels = [int(i) for i in np.argsort(-counts, kind="stable")[:DISAGREEMENT_LABELS]
              if counts[i] > 0]
    if not labels:
        return
    wanted = {}
    for kind in ("probe_right", "classifier_right"):
        for label in labels:
            found = np.flatnonzero(cases[kind][:, label])
            if len(found):
                wanted[(kind, label)] = int(found[0])
    images = dict(zip(wanted, pipeline.images_in(test_images, list(wanted.values())),
                      strict=True))
    blank = np.full_like(next(iter(images.values())), 0.5)
    kinds = ("probe_right", "classifier_right")
    rows = [[images.get((kind, label), blank) for kind in kinds] for label in labels]
    titles = [f"{names[label]}: {int(cases['probe_right'][:, label].sum())} / "
              f"{int(cases['classifier_right'][:, label].sum())}" for label in labels]
    plots.save_png(plots.image_grid(
        rows, row_titles=titles, col_titles=["probe right", "classifier right"],
        scale=max(1, 128 // blank.shape[0]),
        title="Probe vs classifier (Fig. 3)"),
        run.figure_path("disagreements.png"))


def save_pca(run: RunDir, test_images, names, results: dict[str, float], projections, label: int,
             note: str = "") -> None:
    """`pca.csv` (per-label PCA figures) and `figures/pca_strip.png`: held-out
    images ordered by their projection on `label`'s first component (Fig. 5)."""
    write_csv(run.file(PCA_CSV),
              ["label", "pc1_explained_variance", "pc2_explained_variance", "pc1_prob_spearman"],
              [[name, results[f"per_label.{name}.pc1_explained_variance"],
                results[f"per_label.{name}.pc2_explained_variance"],
                results[f"per_label.{name}.pc1_prob_spearman"]] for name in names])
    projection = projections[names[label]]
    order = np.argsort(projection, kind="stable")
    chosen = order[plots.strip_indices(len(order), STRIP_IMAGES)]
    images = pipeline.images_in(test_images, chosen)
    plots.save_png(plots.pca_strip(
        images, projection[chosen],
        title=f"{names[label]}: held-out images by projection on its slots' first "
              f"component{note}"),
        run.figure_path("pca_strip.png"))


def save_decoder_figures(run: RunDir, test_images, names, test_emb, decoder, baselines, gaussians,
                         edit_config, seeds) -> None:
    """`figures/reconstructions.png` (Fig. 6), `edits.png` (Fig. 7-8),
    `generations.png` and `slerp.png` of the held-out split.

    Args:
        run: The run directory.
        test_images: The held-out split's elements (`pipeline.held_out`).
        names: The L label names.
        test_emb: The held-out split's embeddings file (`RunDir.load_embeddings`).
        decoder: The OLR decoder.
        baselines: `{key: (model, codes or None)}` as in
            `kerasolr.evaluate.reconstruction_section`.
        gaussians: The label Gaussians.
        edit_config: The run's `EditConfig` (the emphasis scale).
        seeds: The run's `Seeds`.
    """
    size = int(decoder.output["image"].shape[1])
    embeddings = test_emb["embeddings"]
    shown = pipeline.images_in(test_images, np.arange(GRID_IMAGES))
    rows = {"OLR decoder": decode(decoder, embeddings[:GRID_IMAGES])}
    titles = {"probs_baseline": "probabilities only", "autoencoder_baseline": "autoencoder"}
    for key, (model, codes) in baselines.items():
        rows[titles[key]] = decode(model, shown if codes is None else codes[:GRID_IMAGES])
    plots.save_png(figures.reconstruction_grid(crop_to(shown, size), rows),
                   run.figure_path("reconstructions.png"))

    edit_emb = embeddings[:EDIT_GRID_IMAGES]
    label_ids = editing.balanced_labels(test_emb["labels"], EDIT_GRID_LABELS)
    edits = editing.toggle_edits(edit_emb, test_emb["clean_labels"][:EDIT_GRID_IMAGES],
                                 label_ids, names, gaussians, seeds.edits)
    scale = edit_config.scale
    for label in label_ids[:2]:
        edits[f"{names[label]} x{scale:g}"] = editing.scale_label(edit_emb, label, scale)
    plots.save_png(figures.edit_grid(
        crop_to(shown[:EDIT_GRID_IMAGES], size), decode(decoder, edit_emb),
        {title: decode(decoder, emb) for title, emb in edits.items()},
        title=editing.TOGGLE_TITLE + f"; the last {min(2, len(label_ids))} scale a slot",
        row_titles=editing.toggle_row_titles(test_emb["clean_labels"][:EDIT_GRID_IMAGES],
                                             label_ids, names)),
        run.figure_path("edits.png"))

    # Labels no training image had have no Gaussian: not asked for.
    label_sets = (test_emb["clean_labels"][:GENERATION_ROWS] > 0.5) & (gaussians.counts > 0)
    generated = decode(decoder, editing.generate(
        np.repeat(label_sets, GENERATIONS_PER_ROW, axis=0), gaussians, seeds.generation_figure))
    plots.save_png(figures.generation_grid(generated, label_sets, names, GENERATIONS_PER_ROW),
                   run.figure_path("generations.png"))

    # Slerp one label's slot from image A's to that of the first image B whose label
    # differs (with A's other slots), for the two most balanced labels.
    steps = np.linspace(0.0, 1.0, SLERP_STEPS)
    slerp_rows, slerp_titles = [], []
    truth = test_emb["clean_labels"] > 0.5
    for label in label_ids[:2]:
        other = np.flatnonzero(truth[:, label] != truth[0, label])
        a = embeddings[0]
        b = embeddings[other[0] if len(other) else 1]
        path = editing.slerp(a[label], b[label], steps)      # (steps, k)
        interpolated = np.repeat(a[None], len(steps), axis=0)
        interpolated[:, label] = path
        slerp_rows.append(decode(decoder, interpolated))
        state = "with" if truth[0, label] else "without"
        slerp_titles.append(f"{names[label]}: A ({state}) -> B")
    plots.save_png(figures.slerp_grid(np.stack(slerp_rows), slerp_titles),
                   run.figure_path("slerp.png"))
    save_flip_grids(run, names, shown, test_emb, decoder, gaussians, seeds)


def flip_grid_labels(names, gaussians) -> list[int]:
    """The labels of the flip grids: AttGAN's 13 where the run has them, else
    every label (at most `FLIP_GRID_LABELS`), leaving out labels no training
    image had (they cannot be added)."""
    attgan = [i for i, name in enumerate(names) if name in protocol.ATTGAN_13]
    chosen = attgan or list(range(len(names)))
    return [i for i in chosen if gaussians.counts[i] > 0][:FLIP_GRID_LABELS]


def save_flip_grids(run: RunDir, names, shown, test_emb, decoder, gaussians, seeds) -> None:
    """`figures/flips_i1.png` and `flips_i2.png`, the AttGAN-style grid: rows
    are held-out images, columns the input, its reconstruction and each label
    flipped from its ground truth (the protocol's one-slot edit) at intensity
    1 and 2."""
    size = int(decoder.output["image"].shape[1])
    rows = min(FLIP_GRID_IMAGES, len(shown))
    embeddings = test_emb["embeddings"][:rows]
    truth = test_emb["clean_labels"][:rows] > 0.5
    labels = flip_grid_labels(names, gaussians)
    for intensity in protocol.INTENSITIES:
        edits = {f"flip {names[j]}": decode(decoder, protocol.intensity_edit(
                     embeddings, j, ~truth[:, j], gaussians, seeds.protocol, intensity))
                 for j in labels}
        plots.save_png(figures.edit_grid(
            crop_to(shown[:rows], size), decode(decoder, embeddings), edits,
            title=f"Each label flipped from the ground truth (added where absent, removed "
                  f"where present), intensity {intensity:g}"),
            run.figure_path(f"flips_i{intensity:g}.png"))
