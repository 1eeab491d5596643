"""A run directory and the stages that fill it: train, embed, evaluate.

Layout of `RUN_DIR`:
    config.json              the RunConfig used
    classifier.keras         trained classifier
    encoder.keras            trained Siamese encoder
    history_*.csv            per-epoch losses
    embeddings/{train,test}.npz
    decoder.keras            reconstruction decoder on frozen embeddings (Table 1)
    decoder_probs.keras      baseline: decoder fed the classifier's L probabilities
    autoencoder.keras        baseline: autoencoder with an L x k bottleneck
    label_gaussians.npz      per-label slot Gaussians (eq. 4-5)
    judge.keras              independent attribute classifier judging edits
    figures/*.png            heatmap, PCA strip, reconstructions, edits, generations
    figures/training/*.png   visual checks saved during training
    tensorboard/             the same checks as TensorBoard image summaries
    norm_correlation.csv, pca.csv
    results.json             flat metrics (see README)
    summary.txt              the same, for people
    report.html              everything above on one page (`kerasolr report`)
A stage whose output already exists is skipped, so re-running a command
continues an interrupted run instead of redoing finished stages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import augment, editing, figures, occlusion, plots, retrieval
from kerasolr.callbacks import VisualCheck
from kerasolr.config import ClassifierConfig, RunConfig, read_run_config
from kerasolr.data import pipeline, synthfaces
from kerasolr.distribute import barrier, is_chief
from kerasolr.embeddings import extract_embeddings, load_embeddings
from kerasolr.evaluation.accuracy import majority_predictions, multilabel_accuracy
from kerasolr.evaluation.editing import edit_metrics, generation_metrics
from kerasolr.evaluation.pca import pca_metrics
from kerasolr.evaluation.probe import probe_predictions, train_probe
from kerasolr.evaluation.reconstruction import reconstruction_metrics
from kerasolr.evaluation.slots import matrix_agreement, norm_correlation_matrix, slot_norm_metrics
from kerasolr.models.decoder import build_autoencoder, crop_to, decoder_from_config
from kerasolr.resume import (
    EpochCheckpoint,
    StopOnNaN,
    remove_checkpoint,
    write_text_atomically,
)
from kerasolr.training import (
    fit_classifier,
    fit_encoder,
    fit_reconstruction,
    save_model_atomically,
)

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
TIMING_FILE = "timing.json"
SHUFFLE_BUFFER = 20000
VALIDATION_IMAGES = 1024
CHECK_IMAGES = 512        # fixed held-out images of the norm-correlation check
GRID_IMAGES = 8           # images in reconstruction grids
EDIT_GRID_IMAGES = 4      # images (rows) in edit grids
EDIT_GRID_LABELS = 4      # labels (columns) toggled in edit grids
GENERATION_ROWS = 6       # label sets in the generation figure
GAUSSIANS_FILE = editing.GAUSSIANS_FILE


def log(message: str) -> None:
    print(f"[kerasolr] {message}", file=sys.stderr, flush=True)


def _verbose():
    return 1 if sys.stdout.isatty() else 2


def prepare_run_dir(config: RunConfig, run_dir: str) -> None:
    """Creates `run_dir` and writes `config.json`, refusing a different config
    already there (so a run's figures always match its recorded settings)."""
    config.validate()
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, CONFIG_FILE)
    if os.path.exists(path):
        existing = read_config(run_dir)
        if existing != config:
            raise ValueError(f"{path} holds a different config; use a new --out directory")
        return
    _write_json_atomically(path, config.to_dict())


def read_config(run_dir: str) -> RunConfig:
    """Reads and validates `RUN_DIR/config.json`."""
    return read_run_config(run_dir, CONFIG_FILE)


def _write_json_atomically(path: str, obj) -> None:
    write_text_atomically(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def _record_timing(run_dir: str, key: str, seconds: float) -> None:
    path = os.path.join(run_dir, TIMING_FILE)
    timing = {}
    if os.path.exists(path):
        with open(path) as f:
            timing = json.load(f)
    timing[key] = seconds
    _write_json_atomically(path, timing)


def _load_model(path: str) -> keras.Model:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: run `kerasolr train` on this run first")
    import kerasolr.layers  # noqa: F401  (registers the custom layers)

    return keras.saving.load_model(path, compile=False)


@contextlib.contextmanager
def _precision(policy: str):
    """Builds and fits under a Keras dtype policy (`config.precision`), then
    restores the previous one."""
    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def train(config: RunConfig, run_dir: str, strategy: tf.distribute.Strategy | None = None):
    """Stage 1 under `config.precision`; see `_train`."""
    with _precision(config.validate().precision):
        return _train(config, run_dir, strategy)


def _train(config: RunConfig, run_dir: str, strategy: tf.distribute.Strategy | None = None):
    """Stage 1: trains the classifier, then the Siamese encoder.

    Every fit saves a checkpoint at each epoch end (`checkpoints/<stage>/`), so
    re-running after a crash resumes the interrupted epoch; finished stages are
    skipped. Under a multi-worker strategy every worker trains, the chief
    writes the run directory and the others write to a scratch folder.

    Args:
        config: The run config.
        run_dir: The run directory (created if needed).
        strategy: Strategy to fit under; the default strategy if `None`.

    Returns:
        `(classifier, encoder)`.
    """
    config.validate()
    names = pipeline.label_names(config.data)    # bad dataset files fail before the run dir exists
    strategy = strategy or tf.distribute.get_strategy()
    out = _output_dir(run_dir, strategy)
    if out == run_dir:
        prepare_run_dir(config, run_dir)
    d = config.data
    keras.utils.set_random_seed(config.seed)
    train_ds = pipeline.load_split(d, "train", cache=_cache(d, out, "train"))
    val_ds = pipeline.load_split(d, "test").take(VALIDATION_IMAGES).cache()
    num_train = pipeline.split_size(d, "train")
    shuffle = min(SHUFFLE_BUFFER, num_train)

    classifier_path = os.path.join(run_dir, "classifier.keras")
    if os.path.exists(classifier_path):
        log(f"classifier: found {classifier_path}, skipping")
        remove_checkpoint(_checkpoint_dir(out, "classifier"))
        with strategy.scope():
            classifier = _load_model(classifier_path)
    else:
        c = config.classifier
        log(f"classifier: {len(names)} labels, {num_train} images of {d.image_size}px, "
            f"{c.epochs} epochs, occlusion on {c.occlusion_rate:.0%} of images")
        start = time.time()
        classifier, _ = fit_classifier(
            c, len(names), d.image_size,
            pipeline.classifier_batches(train_ds, c.batch_size, config.seed, shuffle),
            pipeline.classifier_batches(val_ds, c.batch_size), strategy,
            config.siamese.occlusion_min, config.siamese.occlusion_max, seed=config.seed,
            callbacks=_fit_callbacks(run_dir, out, "classifier"), verbose=_verbose())
        _save_finished(classifier, out, "classifier")
        _record_timing(out, "classifier_seconds", time.time() - start)

    encoder_path = os.path.join(run_dir, "encoder.keras")
    if os.path.exists(encoder_path):
        log(f"encoder: found {encoder_path}, skipping")
        remove_checkpoint(_checkpoint_dir(out, "siamese"))
        return classifier, _load_model(encoder_path)
    s = config.siamese
    log(f"siamese: L={len(names)} k={s.k}, {s.epochs} epochs of {num_train // 2} pairs, "
        f"occlusion={s.occlusion} on {s.occlusion_rate:.0%} of images, T={s.temperature}")
    start = time.time()
    fixed = _take(val_ds, CHECK_IMAGES)
    truth_corr = _truth_correlation(config, names)

    def norm_figure(model):
        # The norm correlation of the fixed held-out images, epoch by epoch.
        embeddings = _embed_array(model.encoder, fixed["image"])
        return _correlation_figure(embeddings, fixed["clean_labels"], truth_corr, names)

    check = VisualCheck({"norm_correlation": norm_figure}, _training_figures_dir(out),
                        every=1, log_dir=os.path.join(out, "tensorboard", "siamese"))
    encoder, _ = fit_encoder(
        s, classifier, len(names), d.image_size,
        pipeline.pair_batches(train_ds, s.batch_pairs, config.seed, shuffle),
        pipeline.pair_batches(val_ds, s.batch_pairs), strategy, seed=config.seed,
        callbacks=_fit_callbacks(run_dir, out, "siamese", "encoder", [check]),
        verbose=_verbose())
    _save_finished(encoder, out, "siamese", "encoder")
    _record_timing(out, "siamese_seconds", time.time() - start)
    return classifier, encoder


def _output_dir(run_dir: str, strategy) -> str:
    """Where this process writes: the run directory on the chief (and in a
    single process), a scratch folder on the other workers of a multi-worker
    run, which read the chief's files (the run directory must be on storage
    every worker sees)."""
    if is_chief(strategy):
        return run_dir
    path = os.path.join(tempfile.gettempdir(), f"kerasolr-worker-{os.getpid()}")
    os.makedirs(path, exist_ok=True)
    return path


def _cache(data, out: str, name: str):
    """`load_split`'s cache argument for `data.cache`."""
    if data.cache == "disk":
        return pipeline.disk_cache(os.path.join(out, "cache"), name)
    return data.cache == "memory"


def _checkpoint_dir(run_dir: str, stem: str) -> str:
    return os.path.join(run_dir, "checkpoints", stem)


def _fit_callbacks(run_dir: str, out: str, stem: str, what: str | None = None, extra=()):
    """NaN stop, then the resumable checkpoint (read from the run directory,
    written to `out`) that also writes `history_<stem>.csv`."""
    what = what or stem
    return [StopOnNaN(what, _checkpoint_dir(run_dir, stem)),
            EpochCheckpoint(_checkpoint_dir(run_dir, stem), _checkpoint_dir(out, stem),
                            os.path.join(out, f"history_{stem}.csv"), what, log),
            *extra]


def _save_finished(model, out: str, stem: str, file_stem: str | None = None) -> None:
    """Saves a finished model (atomically), then drops its fit's checkpoint."""
    save_model_atomically(model, os.path.join(out, f"{file_stem or stem}.keras"))
    remove_checkpoint(_checkpoint_dir(out, stem))


def embeddings_path(run_dir: str, split: str) -> str:
    return os.path.join(run_dir, "embeddings", f"{split}.npz")


def embed(run_dir: str, splits=("train", "test"), batch_size: int = 256,
          force: bool = False) -> dict[str, str]:
    """Stage 2: embeds the un-occluded images of each split into `embeddings/<split>.npz`.

    Returns:
        `{split: path}`.
    """
    config = read_config(run_dir)
    encoder = _load_model(os.path.join(run_dir, "encoder.keras"))
    paths = {}
    start = time.time()
    for split in splits:
        path = embeddings_path(run_dir, split)
        paths[split] = path
        if os.path.exists(path) and not force:
            log(f"embed: found {path}, skipping")
            continue
        log(f"embed: {split} split -> {path}")
        batches = pipeline.example_batches(pipeline.load_split(config.data, split), batch_size)
        extract_embeddings(encoder, batches, path, progress=True)
    _record_timing(run_dir, "embed_seconds", time.time() - start)
    return paths


def _predict_images(model, batches) -> np.ndarray:
    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return np.concatenate([fn(e["image"]).numpy() for e in batches])


def evaluate(run_dir: str) -> dict[str, float]:
    """Stage 3: paper sections 4.1-4.5 on the held-out split; writes `results.json`.

    Classifier vs linear probe (mean and balanced accuracy, per label) next to
    the majority baseline; slot-norm AUC and absent/present norm ratio;
    correlation of slot norms vs the labels' (and, on synthfaces, the
    generator's exact) correlation matrix; then PCA, reconstructions and edits.

    Returns:
        The flat results dict.
    """
    config = read_config(run_dir)
    names = pipeline.label_names(config.data)
    start = time.time()
    train_emb = load_embeddings(_require(embeddings_path(run_dir, "train")))
    test_emb = load_embeddings(_require(embeddings_path(run_dir, "test")))
    classifier = _load_model(os.path.join(run_dir, "classifier.keras"))
    results, probs = _section_41(config, config.data, "test", names, classifier, train_emb,
                                 test_emb)
    log("evaluate: retrieval by each label's slot and by the whole embedding")
    for whole in (False, True):
        results.update(retrieval.label_retrieval_metrics(
            test_emb["embeddings"], test_emb["clean_labels"], names, whole))
    results.update(_correlations_and_pca(run_dir, config, names, test_emb, probs,
                                         _truth_correlation(config, names)))
    if os.path.exists(os.path.join(run_dir, "decoder.keras")):
        results.update(_reconstruction_and_edits(run_dir, config, names, test_emb, probs))
    else:
        log("evaluate: no decoder.keras; run `kerasolr train-decoder` for sections 4.4-4.5")
    _record_timing(run_dir, "evaluate_seconds", time.time() - start)
    with open(os.path.join(run_dir, TIMING_FILE)) as f:
        timing = json.load(f)
    for key, value in timing.items():
        results[f"timing.{key}"] = float(value)
    results["timing.total_seconds"] = float(sum(timing.values()))
    _write_json_atomically(os.path.join(run_dir, RESULTS_FILE), results)
    with open(os.path.join(run_dir, "summary.txt"), "w") as f:
        f.write(format_summary(config, names, results))
    return results


def evaluate_on(run_dir: str, data, split: str = "test", out_dir: str | None = None
                ) -> dict[str, float]:
    """Section 4.1 of a trained run on another dataset (or another split).

    The run's classifier and encoder are applied to `split` of `data`; the
    linear probe and the majority baseline are trained on the run's own
    training embeddings. Writes `OUT/embeddings/<split>.npz`, `OUT/data.json`
    (the data config evaluated), `OUT/results.json` (the keys of the run's
    section 4.1 results) and `OUT/summary.txt`.

    Args:
        run_dir: A trained and embedded run.
        data: The `DataConfig` to evaluate on; its labels must be the run's,
            by name and order, and its images are resized to the run's size.
        split: `"train"` or `"test"` of `data`.
        out_dir: Output folder (default `RUN_DIR/evaluations/<dataset>-<split>`).

    Returns:
        The flat results dict.
    """
    config = read_config(run_dir)
    names = pipeline.label_names(config.data)
    data = dataclasses.replace(data, image_size=config.data.image_size)
    other = pipeline.label_names(data)
    if tuple(other) != tuple(names):
        missing = [n for n in names if n not in other]
        raise ValueError(
            f"the {data.dataset} dataset at {data.root} has labels that differ from the run's "
            + (f"(missing: {', '.join(missing)})" if missing else "(same names, other order)")
            + f"; select the run's labels with --set data.attributes={json.dumps(list(names))}")
    out_dir = out_dir or os.path.join(run_dir, "evaluations", f"{data.dataset}-{split}")
    os.makedirs(out_dir, exist_ok=True)
    _write_json_atomically(os.path.join(out_dir, "data.json"), dataclasses.asdict(data))
    train_emb = load_embeddings(_require(embeddings_path(run_dir, "train")))
    classifier = _load_model(os.path.join(run_dir, "classifier.keras"))
    encoder = _load_model(os.path.join(run_dir, "encoder.keras"))
    path = embeddings_path(out_dir, split)
    log(f"evaluate: embedding the {split} split of {data.dataset} ({data.root}) -> {path}")
    extract_embeddings(encoder, pipeline.example_batches(pipeline.load_split(data, split), 256),
                       path, progress=True)
    results, _ = _section_41(config, data, split, names, classifier, train_emb,
                             load_embeddings(path))
    _write_json_atomically(os.path.join(out_dir, RESULTS_FILE), results)
    with open(os.path.join(out_dir, "summary.txt"), "w") as f:
        f.write(format_section_41(config, names, results,
                                  f"{data.dataset} {split} split ({data.root})"))
    return results


def _section_41(config: RunConfig, data, split: str, names, classifier, train_emb, test_emb):
    """Paper section 4.1 on one split of `data`: the classifier on clean and
    occluded images, the linear probe trained on the run's training
    embeddings, the majority baseline, slot norms and their correlations.

    Returns:
        `(results, classifier probabilities on the split)`.
    """
    test_truth = test_emb["clean_labels"]

    log("evaluate: classifier on clean and occluded test images")
    batches = pipeline.example_batches(pipeline.load_split(data, split), 256)
    probs = _predict_images(classifier, batches)
    s = config.siamese

    def occlude_batch(element):
        # Seeded by the batch's first id: reproducible, and different per batch.
        seed = tf.stack([tf.constant(config.seed, tf.int64), element["id"][0]])
        uniforms = tf.random.stateless_uniform([tf.shape(element["image"])[0], 5], seed)
        return {"image": occlusion.occlude(element["image"], uniforms, s.occlusion_min,
                                           s.occlusion_max)}

    occluded = batches.map(occlude_batch)
    occluded_probs = _predict_images(classifier, occluded)

    log("evaluate: linear probe on the training embeddings")
    p = config.probe
    probe = train_probe(train_emb["embeddings"], train_emb["labels"], p.epochs, p.batch_size,
                        p.learning_rate, seed=config.seed)
    probe_probs = probe_predictions(probe, test_emb["embeddings"])

    results: dict[str, float] = {}
    results.update(multilabel_accuracy(test_truth, probs, names, "classifier"))
    occluded_acc = multilabel_accuracy(test_truth, occluded_probs, names, "classifier_occluded")
    results["classifier.occluded_mean_accuracy"] = occluded_acc["classifier_occluded.mean_accuracy"]
    results.update(multilabel_accuracy(test_truth, probe_probs, names, "probe"))
    majority = majority_predictions(train_emb["labels"], len(test_truth))
    results.update(multilabel_accuracy(test_truth, majority, names, "majority"))
    results["probe.gap_to_classifier"] = (results["classifier.mean_accuracy"]
                                          - results["probe.mean_accuracy"])
    results.update(slot_norm_metrics(test_emb["embeddings"], test_truth, names))
    norm_corr = norm_correlation_matrix(test_emb["embeddings"])
    label_corr = np.corrcoef(np.asarray(test_truth, np.float64), rowvar=False)
    results["correlation.norm_vs_label_pearson"] = matrix_agreement(norm_corr, label_corr)
    return results, probs


def _require(path: str) -> str:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: run `kerasolr embed` on this run first")
    return path


def format_section_41(config: RunConfig, names, results: dict[str, float], where: str) -> str:
    """Section 4.1 of a run evaluated on another dataset or split, for people."""
    lines = [f"kerasolr run (preset {config.preset}, trained on {config.data.dataset}) "
             f"evaluated on {where}", "", *_section_41_lines(results, "evaluated split"),
             *_per_label_lines(names, results)]
    return "\n".join(lines) + "\n"


def _per_label_lines(names, r) -> list[str]:
    lines = ["", f"{'label':22s} classifier  probe   norm AUC  absent/present"]
    for name in names:
        lines.append(
            f"{name:22s} {r[f'per_label.{name}.classifier_accuracy']:.4f}     "
            f"{r[f'per_label.{name}.probe_accuracy']:.4f}  {r[f'per_label.{name}.norm_auc']:.4f}"
            f"    {r[f'per_label.{name}.absent_present_norm_ratio']:.3f}")
    return lines


def _section_41_lines(r, split_title: str = "held-out split") -> list[str]:
    return [
        f"Paper section 4.1, {split_title:24s}mean acc   balanced",
        f"  convolutional classifier                  {r['classifier.mean_accuracy']:.4f}"
        f"     {r['classifier.balanced_accuracy']:.4f}",
        f"  linear probe on OLR embeddings            {r['probe.mean_accuracy']:.4f}"
        f"     {r['probe.balanced_accuracy']:.4f}",
        f"  majority-class baseline                   {r['majority.mean_accuracy']:.4f}"
        f"     {r['majority.balanced_accuracy']:.4f}",
        f"  classifier on occluded images             {r['classifier.occluded_mean_accuracy']:.4f}",
        "",
        f"Slot-norm AUC: mean {r['slots.norm_auc_mean']:.4f}, min {r['slots.norm_auc_min']:.4f}; "
        f"median norm absent/present: {r['slots.absent_present_norm_ratio']:.3f}",
        f"Norm-correlation vs label-correlation: r = {r['correlation.norm_vs_label_pearson']:.3f}",
    ]


def format_summary(config: RunConfig, names, results: dict[str, float]) -> str:
    """A short human-readable summary of a run's results."""
    r = results
    lines = [
        f"kerasolr run (preset {config.preset}): {config.data.dataset}, "
        f"{config.data.image_size}px, L={len(names)}, k={config.siamese.k}",
        "", *_section_41_lines(r)]
    if "correlation.norm_vs_truth_pearson" in r:
        lines.append("Norm-correlation vs generator truth:   r = "
                     f"{r['correlation.norm_vs_truth_pearson']:.3f}")
    if "pca.pc1_explained_variance_mean" in r:
        lines.append(f"PCA of slots: PC1 explains {r['pca.pc1_explained_variance_mean']:.3f} of "
                     f"the variance (mean over labels); Spearman(PC1 projection, classifier "
                     f"probability) {r['pca.pc1_prob_spearman_mean']:.3f}")
    if "recon.ssim" in r:
        lines += ["", "Paper section 4.4, held-out split          SSIM     PSNR"]
        for title, key in (("OLR decoder on frozen embeddings", "recon."),
                           ("baseline: probabilities only", "recon.probs_baseline_"),
                           ("baseline: autoencoder, same code size",
                            "recon.autoencoder_baseline_")):
            if f"{key}ssim" in r:
                lines.append(f"  {title:40s} {r[f'{key}ssim']:.4f}   {r[f'{key}psnr']:.2f}")
        lines += [
            f"Judge (independent classifier): {r['judge.mean_accuracy']:.4f} on real images, "
            f"{r['recon.judge_accuracy']:.4f} on OLR reconstructions",
            "",
            "Paper section 4.5 (judged relative to the unedited reconstruction)",
            f"  add success {r['edit.add_success']:.3f} (x{config.edit.scale:g}: "
            f"{r['edit.add_success_scaled']:.3f})   remove success "
            f"{r['edit.remove_success']:.3f}   preservation {r['edit.preservation']:.3f}   "
            f"emphasis gain {r['edit.emphasis_gain']:+.3f}",
            f"  generation from labels alone: accuracy {r['generation.accuracy']:.3f}, "
            f"unwanted absent {r['generation.unwanted_absent']:.3f}",
        ]
    lines += _per_label_lines(names, r)
    lines += ["", f"Total time: {r['timing.total_seconds']:.0f} s"]
    return "\n".join(lines) + "\n"


# === Helpers shared by the stages ===

def _take(ds: tf.data.Dataset, n: int) -> dict[str, np.ndarray]:
    """The first `n` elements of an unbatched split as numpy arrays."""
    batch = next(iter(ds.take(n).batch(n)))
    return {key: value.numpy() for key, value in batch.items()}


def _embed_array(encoder, images, batch_size: int = 256) -> np.ndarray:
    return np.concatenate([encoder(images[i:i + batch_size], training=False).numpy()
                           for i in range(0, len(images), batch_size)])


def _truth_correlation(config: RunConfig, names):
    if config.data.dataset == "synthfaces":
        return synthfaces.exact_correlation_matrix(names)
    return None


def _correlation_matrices(embeddings, labels, truth_corr) -> dict[str, np.ndarray]:
    matrices = {"slot norms (OLR)": norm_correlation_matrix(embeddings),
                "labels": np.corrcoef(np.asarray(labels, np.float64), rowvar=False)}
    if truth_corr is not None:
        matrices["generator truth"] = truth_corr
    return matrices


def _correlation_figure(embeddings, labels, truth_corr, names) -> np.ndarray:
    return plots.correlation_heatmaps(_correlation_matrices(embeddings, labels, truth_corr),
                                      names)


def _training_figures_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "figures", "training")


def _decode(decoder, codes, batch_size: int = 256) -> np.ndarray:
    """Decoded images `(n, o, o, 3)` in [0, 1] (the `Rescale` output)."""
    codes = np.asarray(codes, np.float32)
    return np.concatenate([decoder(codes[i:i + batch_size], training=False)["image"].numpy()
                           for i in range(0, len(codes), batch_size)])


def _balanced_labels(labels, names, count: int) -> list[int]:
    """Indices of the `count` labels whose prevalence is closest to one half."""
    prevalence = np.asarray(labels, np.float64).mean(axis=0)
    return [int(i) for i in np.argsort(np.abs(prevalence - 0.5), kind="stable")[:count]]


def _toggle_edits(embeddings, labels, label_ids, names, gaussians, seed):
    """Per label: remove it where the image has it, add it where it does not."""
    edits = {}
    for label in label_ids:
        added = editing.add_label(embeddings, label, gaussians, seed)
        removed = editing.remove_label(embeddings, label)
        has = np.asarray(labels)[:, label] > 0.5
        edits[f"toggle {names[label]}"] = np.where(has[:, None, None], removed, added)
    return edits


# === Stage 2b: decoders ===

def fit_gaussians(run_dir: str, out: str | None = None) -> editing.LabelGaussians:
    """Fits the label Gaussians (eq. 4-5) on the training embeddings and their
    labels; writes `label_gaussians.npz` (to `out`, default the run directory)."""
    config = read_config(run_dir)
    names = pipeline.label_names(config.data)
    train_emb = load_embeddings(_require(embeddings_path(run_dir, "train")))
    gaussians = editing.fit_label_gaussians(train_emb["embeddings"], train_emb["labels"], names)
    gaussians.save(os.path.join(out or run_dir, GAUSSIANS_FILE))
    return gaussians


def train_decoders(run_dir: str, strategy: tf.distribute.Strategy | None = None) -> None:
    """Stage 2b under the run's `precision`; see `_train_decoders`."""
    with _precision(read_config(run_dir).precision):
        _train_decoders(run_dir, strategy)


def _train_decoders(run_dir: str, strategy: tf.distribute.Strategy | None = None) -> None:
    """Stage 2b: the reconstruction decoder on frozen embeddings, and its baselines.

    Trains `decoder.keras` (paper section 4.4) on the training split's saved
    embeddings, and, with `decoder.baselines`, `decoder_probs.keras` (fed the
    classifier's probabilities) and `autoencoder.keras` (an end-to-end
    autoencoder whose bottleneck has L x k units), all with eq. 3 and RMSprop.
    Fits the label Gaussians first, so the visual checks can show edits.
    Finished models are skipped.
    """
    config = read_config(run_dir)
    strategy = strategy or tf.distribute.get_strategy()
    out = _output_dir(run_dir, strategy)
    names = pipeline.label_names(config.data)
    d, dec = config.data, config.decoder
    train_emb = load_embeddings(_require(embeddings_path(run_dir, "train")))
    test_emb = load_embeddings(_require(embeddings_path(run_dir, "test")))
    gaussians = fit_gaussians(run_dir, out)
    k = train_emb["embeddings"].shape[-1]
    keras.utils.set_random_seed(config.seed + 3)
    train_images = pipeline.load_split(d, "train", cache=_cache(d, out, "train")).map(
        lambda e: e["image"])
    test_split = pipeline.load_split(d, "test")
    val = _take(test_split, min(VALIDATION_IMAGES // 2, pipeline.split_size(d, "test")))
    fixed = {key: value[:GRID_IMAGES] for key, value in val.items()}
    shuffle = min(SHUFFLE_BUFFER, pipeline.split_size(d, "train"))

    def batches(codes: tf.data.Dataset, images: tf.data.Dataset | None, seed=None):
        # `images=None`: `codes` already yields `(code, image)` pairs.
        ds = codes if images is None else tf.data.Dataset.zip((codes, images))
        if seed is not None:
            ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
        return pipeline.shard_by_batch_slices(ds.batch(dec.batch_size).prefetch(tf.data.AUTOTUNE))

    def val_batches(codes):
        return batches(tf.data.Dataset.from_tensor_slices(codes),
                       tf.data.Dataset.from_tensor_slices(val["image"]))

    def decoder_for(input_shape, name):
        return lambda: decoder_from_config(dec, input_shape, d.image_size, name)

    def fit(path, what, build, train_batches, val_data, figure_fns=None):
        stem = os.path.splitext(os.path.basename(path))[0]
        if os.path.exists(path):
            log(f"{what}: found {path}, skipping")
            remove_checkpoint(_checkpoint_dir(out, stem))
            return
        log(f"{what}: {dec.epochs} epochs, RMSprop {dec.learning_rate:g}, alpha={dec.alpha}")
        extra = []
        if figure_fns:
            extra.append(VisualCheck(figure_fns, _training_figures_dir(out), dec.every,
                                     os.path.join(out, "tensorboard", stem)))
        start = time.time()
        model, _ = fit_reconstruction(dec, build, train_batches, val_data, strategy,
                                      _fit_callbacks(run_dir, out, stem, what, extra),
                                      _verbose())
        _save_finished(model, out, stem)
        _record_timing(out, f"{stem}_seconds", time.time() - start)

    # --- OLR decoder, with visual checks on fixed held-out images ---
    fixed_emb = test_emb["embeddings"][:GRID_IMAGES]
    edit_labels = _balanced_labels(train_emb["labels"], names, EDIT_GRID_LABELS)
    edit_emb = fixed_emb[:EDIT_GRID_IMAGES]
    edits = _toggle_edits(edit_emb, fixed["labels"][:EDIT_GRID_IMAGES], edit_labels, names,
                          gaussians, config.seed)

    def recon_figure(trainer):
        size = trainer.output_size
        return figures.reconstruction_grid(crop_to(fixed["image"], size),
                                           {"OLR decoder": _decode(trainer.model, fixed_emb)})

    def edit_figure(trainer):
        size = trainer.output_size
        return figures.edit_grid(
            crop_to(fixed["image"][:EDIT_GRID_IMAGES], size), _decode(trainer.model, edit_emb),
            {title: _decode(trainer.model, e) for title, e in edits.items()})

    fit(os.path.join(run_dir, "decoder.keras"), "decoder (OLR embeddings)",
        decoder_for((len(names), k), "decoder"),
        batches(tf.data.Dataset.from_tensor_slices(train_emb["embeddings"]), train_images,
                config.seed),
        val_batches(test_emb["embeddings"][:len(val["image"])]),
        {"reconstructions": recon_figure, "edits": edit_figure})
    if not dec.baselines:
        return

    # --- Baseline 1: what the labels' probabilities alone can reconstruct ---
    probs_path = os.path.join(run_dir, "decoder_probs.keras")
    if not os.path.exists(probs_path):
        classifier = _load_model(os.path.join(run_dir, "classifier.keras"))
        train_probs = _predict_images(
            classifier, pipeline.example_batches(train_images.map(lambda x: {"image": x}), 256))
        val_probs = _predict_images(
            classifier, tf.data.Dataset.from_tensor_slices({"image": val["image"]}).batch(256))
        fit(probs_path, "baseline decoder (classifier probabilities)",
            decoder_for((len(names),), "decoder_probs"),
            batches(tf.data.Dataset.from_tensor_slices(train_probs), train_images, config.seed),
            val_batches(val_probs))

    # --- Baseline 2: what a code of L x k numbers can hold, trained end to end ---
    def build_ae():
        decoder = decoder_from_config(dec, (len(names) * k,), d.image_size, "ae_decoder")
        return build_autoencoder(d.image_size, len(names) * k, config.siamese.filters, decoder)

    fit(os.path.join(run_dir, "autoencoder.keras"), "baseline autoencoder (end to end)",
        build_ae, batches(train_images.map(lambda x: (x, x)), None, config.seed),
        val_batches(val["image"]))


# === Stage 3b: sections 4.2-4.5 ===

def _write_csv(path: str, header, rows) -> None:
    lines = [",".join(header)] + [
        ",".join(str(v) if isinstance(v, str) else f"{v:.6g}" for v in row) for row in rows]
    write_text_atomically(path, "\n".join(lines) + "\n")


def _correlations_and_pca(run_dir, config, names, test_emb, probs, truth_corr):
    """Sections 4.2-4.3: the norm-correlation heatmap and CSV (and, given the
    generator's exact correlations, their agreement), per-label PCA, and the
    PCA strip of the most balanced label (Fig. 4-5)."""
    figures_dir = os.path.join(run_dir, "figures")
    embeddings, labels = test_emb["embeddings"], test_emb["clean_labels"]
    matrices = _correlation_matrices(embeddings, labels, truth_corr)
    plots.save_png(plots.correlation_heatmaps(matrices, names),
                   os.path.join(figures_dir, "norm_correlation.png"))
    norm_corr = matrices["slot norms (OLR)"]
    _write_csv(os.path.join(run_dir, "norm_correlation.csv"), ["label", *names],
               [[name, *norm_corr[i]] for i, name in enumerate(names)])

    log("evaluate: per-label PCA of slot vectors")
    results, projections = pca_metrics(embeddings, probs, names)
    _write_csv(os.path.join(run_dir, "pca.csv"),
               ["label", "pc1_explained_variance", "pc2_explained_variance",
                "pc1_prob_spearman"],
               [[name, results[f"per_label.{name}.pc1_explained_variance"],
                 results[f"per_label.{name}.pc2_explained_variance"],
                 results[f"per_label.{name}.pc1_prob_spearman"]] for name in names])
    label = _balanced_labels(labels, names, 1)[0]
    order = np.argsort(projections[names[label]], kind="stable")
    chosen = order[plots.strip_indices(len(order), 10)]
    images = _images_at(config, "test", chosen)
    plots.save_png(plots.pca_strip(
        images, projections[names[label]][chosen],
        title=f"{names[label]}: held-out images by projection on its slots' first component"),
        os.path.join(figures_dir, "pca_strip.png"))
    results["pca.strip_label_index"] = float(label)
    if truth_corr is not None:
        results["correlation.norm_vs_truth_pearson"] = matrix_agreement(norm_corr, truth_corr)
    return results


def _images_at(config, split: str, indices) -> np.ndarray:
    """The images of a split at the given positions (in the order given)."""
    wanted = np.asarray(indices)
    found: dict[int, np.ndarray] = {}
    position = 0
    for batch in pipeline.example_batches(pipeline.load_split(config.data, split), 256):
        size = len(batch["image"])
        for i in np.flatnonzero((wanted >= position) & (wanted < position + size)):
            found[int(i)] = batch["image"][wanted[i] - position].numpy()
        position += size
        if len(found) == len(wanted):
            break
    return np.stack([found[i] for i in range(len(wanted))])


def _fit_judge(run_dir, config, names, size: int) -> keras.Model:
    """The independent attribute classifier that judges decoded images.

    Trained on the training images cropped to the decoder's output size, half
    of them blurred, with its own seed and architecture, so its errors are not
    the run classifier's and blur alone does not change its decisions.
    """
    path = os.path.join(run_dir, "judge.keras")
    if os.path.exists(path):
        return _load_model(path)
    e, c, d = config.edit, config.classifier, config.data
    log(f"evaluate: training the judge ({e.judge_epochs} epochs, seed {e.judge_seed})")
    keras.utils.set_random_seed(e.judge_seed)
    judge_config = ClassifierConfig(filters=e.judge_filters, dense_units=c.dense_units,
                                    epochs=e.judge_epochs, batch_size=c.batch_size,
                                    learning_rate=c.learning_rate, occlusion_rate=0.0)

    def crop(images, labels):
        # Half of the images blurred: decoded images are smooth, and the judge
        # should decide on attributes, not on sharpness (docs/decoder.md).
        return augment.random_blur(crop_to(images, size), seed=e.judge_seed), labels

    train_batches = pipeline.classifier_batches(
        pipeline.load_split(d, "train"), c.batch_size, e.judge_seed,
        min(SHUFFLE_BUFFER, pipeline.split_size(d, "train"))).map(crop)
    start = time.time()
    judge, _ = fit_classifier(judge_config, len(names), size, train_batches, None,
                              tf.distribute.get_strategy(), seed=e.judge_seed,
                              callbacks=_fit_callbacks(run_dir, run_dir, "judge"),
                              verbose=_verbose())
    _save_finished(judge, run_dir, "judge")
    _record_timing(run_dir, "judge_seconds", time.time() - start)
    return judge


def _reconstruction_and_edits(run_dir, config, names, test_emb, probs):
    """Sections 4.4-4.5 on the held-out split: SSIM/PSNR next to the baselines,
    edits and generations judged by an independent classifier, and their figures."""
    e, dec = config.edit, config.decoder
    decoder = _load_model(os.path.join(run_dir, "decoder.keras"))
    size = int(decoder.output["image"].shape[1])
    gaussians_path = os.path.join(run_dir, GAUSSIANS_FILE)
    gaussians = (editing.LabelGaussians.load(gaussians_path) if os.path.exists(gaussians_path)
                 else fit_gaussians(run_dir))
    baselines = {}
    for key, file, codes in (("probs_baseline", "decoder_probs.keras", probs),
                             ("autoencoder_baseline", "autoencoder.keras", None)):
        if os.path.exists(os.path.join(run_dir, file)):
            baselines[key] = (_load_model(os.path.join(run_dir, file)), codes)

    log("evaluate: reconstructions of the held-out split")
    sums: dict[str, float] = {}
    position = 0
    judge = _fit_judge(run_dir, config, names, size)
    judged: dict[str, list] = {"judge": [], "recon": []}
    for batch in pipeline.example_batches(pipeline.load_split(config.data, "test"), 256):
        images = batch["image"].numpy()
        target = crop_to(images, size)
        n = len(images)
        rows = slice(position, position + n)
        # Result-key prefix -> reconstructions: recon.ssim, recon.probs_baseline_ssim, ...
        outputs = {"recon.": _decode(decoder, test_emb["embeddings"][rows])}
        for key, (model, codes) in baselines.items():
            outputs[f"recon.{key}_"] = _decode(model, images if codes is None else codes[rows])
        judged["judge"].append(judge(target, training=False).numpy())
        judged["recon"].append(judge(outputs["recon."], training=False).numpy())
        for prefix, reconstructions in outputs.items():
            metrics = reconstruction_metrics(target, reconstructions, "m", dec.ssim_filter_size)
            for metric in ("ssim", "psnr"):
                sums[prefix + metric] = sums.get(prefix + metric, 0.0) + metrics[f"m.{metric}"] * n
        position += n
    results = {key: value / position for key, value in sums.items()}
    truth = test_emb["clean_labels"]
    results.update(multilabel_accuracy(truth, np.concatenate(judged["judge"]) > e.threshold,
                                       names, "judge"))
    recon_judged = multilabel_accuracy(truth, np.concatenate(judged["recon"]) > e.threshold,
                                       names, "judge_on_recon")
    results["recon.judge_accuracy"] = recon_judged.pop("judge_on_recon.mean_accuracy")
    results["recon.judge_balanced_accuracy"] = recon_judged.pop(
        "judge_on_recon.balanced_accuracy")
    results.update(recon_judged)        # per_label.<Name>.judge_on_recon_accuracy

    def decode_and_judge(embeddings):
        return judge(_decode(decoder, embeddings), training=False).numpy()

    log(f"evaluate: add/remove/emphasise every label on {e.num_images} held-out embeddings")
    n_edit = min(e.num_images, len(test_emb["embeddings"]))
    results.update(edit_metrics(test_emb["embeddings"][:n_edit], decode_and_judge, gaussians,
                                config.seed, e.threshold, e.scale))
    log(f"evaluate: {e.num_generations} generations from labels alone")
    label_sets = truth[:e.num_generations]
    results.update(generation_metrics(label_sets, decode_and_judge, gaussians, config.seed + 1,
                                      e.threshold))
    _save_decoder_figures(run_dir, config, names, test_emb, probs, decoder, baselines,
                          gaussians, size)
    return results


def _save_decoder_figures(run_dir, config, names, test_emb, probs, decoder, baselines,
                          gaussians, size):
    figures_dir = os.path.join(run_dir, "figures")
    e = config.edit
    shown = _images_at(config, "test", np.arange(GRID_IMAGES))
    rows = {"OLR decoder": _decode(decoder, test_emb["embeddings"][:GRID_IMAGES])}
    titles = {"probs_baseline": "probabilities only", "autoencoder_baseline": "autoencoder"}
    for key, (model, codes) in baselines.items():
        rows[titles[key]] = _decode(model, shown if codes is None else codes[:GRID_IMAGES])
    plots.save_png(figures.reconstruction_grid(crop_to(shown, size), rows),
                   os.path.join(figures_dir, "reconstructions.png"))

    edit_emb = test_emb["embeddings"][:EDIT_GRID_IMAGES]
    label_ids = _balanced_labels(test_emb["labels"], names, EDIT_GRID_LABELS)
    edits = _toggle_edits(edit_emb, test_emb["clean_labels"][:EDIT_GRID_IMAGES], label_ids,
                          names, gaussians, config.seed)
    for label in label_ids[:2]:
        edits[f"{names[label]} x{e.scale:g}"] = editing.scale_label(edit_emb, label, e.scale)
    plots.save_png(figures.edit_grid(
        crop_to(shown[:EDIT_GRID_IMAGES], size), _decode(decoder, edit_emb),
        {title: _decode(decoder, emb) for title, emb in edits.items()}),
        os.path.join(figures_dir, "edits.png"))

    # Labels no training image had have no Gaussian: not asked for.
    label_sets = (test_emb["clean_labels"][:GENERATION_ROWS] > 0.5) & (gaussians.counts > 0)
    per_row = 8
    generated = _decode(decoder, editing.generate(np.repeat(label_sets, per_row, axis=0),
                                                  gaussians, config.seed + 2))
    plots.save_png(figures.generation_grid(generated, label_sets, names, per_row),
                   os.path.join(figures_dir, "generations.png"))

    # Slerp one label's slot from image A's to that of the first image B whose label
    # differs (with A's other slots), for the two most balanced labels.
    steps = np.linspace(0.0, 1.0, 8)
    slerp_rows, slerp_titles = [], []
    truth = test_emb["clean_labels"] > 0.5
    for label in label_ids[:2]:
        other = np.flatnonzero(truth[:, label] != truth[0, label])
        a = test_emb["embeddings"][0]
        b = test_emb["embeddings"][other[0] if len(other) else 1]
        path = editing.slerp(a[label], b[label], steps)      # (steps, k)
        interpolated = np.repeat(a[None], len(steps), axis=0)
        interpolated[:, label] = path
        slerp_rows.append(_decode(decoder, interpolated))
        state = "with" if truth[0, label] else "without"
        slerp_titles.append(f"{names[label]}: A ({state}) -> B")
    plots.save_png(figures.slerp_grid(np.stack(slerp_rows), slerp_titles),
                   os.path.join(figures_dir, "slerp.png"))


def run_all(config: RunConfig, run_dir: str, strategy=None) -> dict[str, float]:
    """Train, embed, train the decoders, evaluate and report: the whole chain."""
    strategy = strategy or tf.distribute.get_strategy()
    train(config, run_dir, strategy)
    chief = is_chief(strategy)
    if chief:
        embed(run_dir)
    barrier(strategy)           # the other workers wait for the chief's embeddings
    train_decoders(run_dir, strategy)
    results: dict[str, float] = {}
    if chief:
        results = evaluate(run_dir)
        from kerasolr.report import write_report

        log(f"report: {write_report(run_dir)}")
    # The other workers stay until the chief is done: a worker that exits early
    # is reported to the chief as a crashed task.
    barrier(strategy)
    return results
