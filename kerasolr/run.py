"""A run directory and the stages that fill it: train, embed, evaluate.

Layout of `RUN_DIR`:
    config.json              the RunConfig used
    classifier.keras         trained classifier
    encoder.keras            trained Siamese encoder
    history_*.csv            per-epoch losses
    embeddings/{train,test}.npz
    results.json             flat metrics (see README)
    summary.txt              the same, for people
A stage whose output already exists is skipped, so re-running a command
continues an interrupted run instead of redoing finished stages.
"""

from __future__ import annotations

import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import occlusion
from kerasolr.config import RunConfig
from kerasolr.data import pipeline, synthfaces
from kerasolr.embeddings import extract_embeddings, load_embeddings
from kerasolr.evaluation.accuracy import majority_predictions, multilabel_accuracy
from kerasolr.evaluation.probe import probe_predictions, train_probe
from kerasolr.evaluation.slots import matrix_agreement, norm_correlation_matrix, slot_norm_metrics
from kerasolr.training import fit_classifier, fit_encoder, save_model_atomically

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
TIMING_FILE = "timing.json"
SHUFFLE_BUFFER = 20000
VALIDATION_IMAGES = 1024


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
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: not a kerasolr run directory")
    try:
        with open(path) as f:
            return RunConfig.from_dict(json.load(f)).validate()
    except (json.JSONDecodeError, TypeError) as err:
        raise ValueError(f"{path} is not a valid kerasolr config: {err}") from None


def _write_json_atomically(path: str, obj) -> None:
    partial = path + ".partial"
    with open(partial, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(partial, path)


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


def train(config: RunConfig, run_dir: str, strategy: tf.distribute.Strategy | None = None) -> None:
    """Stage 1: trains the classifier, then the Siamese encoder.

    Args:
        config: The run config.
        run_dir: The run directory (created if needed).
        strategy: Strategy to fit under; the default strategy if `None`.
    """
    prepare_run_dir(config, run_dir)
    strategy = strategy or tf.distribute.get_strategy()
    names = pipeline.label_names(config.data)
    d = config.data
    keras.utils.set_random_seed(config.seed)
    train_ds = pipeline.load_split(d, "train", cache=True)
    val_ds = pipeline.load_split(d, "test").take(VALIDATION_IMAGES).cache()
    shuffle = min(SHUFFLE_BUFFER, d.num_train)

    classifier_path = os.path.join(run_dir, "classifier.keras")
    if os.path.exists(classifier_path):
        log(f"classifier: found {classifier_path}, skipping")
        with strategy.scope():
            classifier = _load_model(classifier_path)
    else:
        c = config.classifier
        log(f"classifier: {len(names)} labels, {d.num_train} images of {d.image_size}px, "
            f"{c.epochs} epochs, occlusion on {c.occlusion_rate:.0%} of images")
        start = time.time()
        classifier, _ = fit_classifier(
            c, len(names), d.image_size,
            pipeline.classifier_batches(train_ds, c.batch_size, config.seed, shuffle),
            pipeline.classifier_batches(val_ds, c.batch_size), strategy,
            config.siamese.occlusion_min, config.siamese.occlusion_max, seed=config.seed,
            callbacks=[keras.callbacks.CSVLogger(os.path.join(run_dir, "history_classifier.csv"))],
            verbose=_verbose())
        save_model_atomically(classifier, classifier_path)
        _record_timing(run_dir, "classifier_seconds", time.time() - start)

    encoder_path = os.path.join(run_dir, "encoder.keras")
    if os.path.exists(encoder_path):
        log(f"encoder: found {encoder_path}, skipping")
        return
    s = config.siamese
    log(f"siamese: L={len(names)} k={s.k}, {s.epochs} epochs of {d.num_train // 2} pairs, "
        f"occlusion={s.occlusion} on {s.occlusion_rate:.0%} of images, T={s.temperature}")
    start = time.time()
    encoder, _ = fit_encoder(
        s, classifier, len(names), d.image_size,
        pipeline.pair_batches(train_ds, s.batch_pairs, config.seed, shuffle),
        pipeline.pair_batches(val_ds, s.batch_pairs), strategy, seed=config.seed,
        callbacks=[keras.callbacks.CSVLogger(os.path.join(run_dir, "history_siamese.csv"))],
        verbose=_verbose())
    save_model_atomically(encoder, encoder_path)
    _record_timing(run_dir, "siamese_seconds", time.time() - start)


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
    """Stage 3: paper section 4.1 on the held-out split; writes `results.json`.

    Classifier vs linear probe (mean and balanced accuracy, per label) next to
    the majority baseline; slot-norm AUC and absent/present norm ratio;
    correlation of slot norms vs the labels' (and, on synthfaces, the
    generator's exact) correlation matrix.

    Returns:
        The flat results dict.
    """
    config = read_config(run_dir)
    names = pipeline.label_names(config.data)
    start = time.time()
    train_emb = load_embeddings(_require(embeddings_path(run_dir, "train")))
    test_emb = load_embeddings(_require(embeddings_path(run_dir, "test")))
    classifier = _load_model(os.path.join(run_dir, "classifier.keras"))
    test_truth = test_emb["clean_labels"]

    log("evaluate: classifier on clean and occluded test images")
    batches = pipeline.example_batches(pipeline.load_split(config.data, "test"), 256)
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
    if config.data.dataset == "synthfaces":
        truth_corr = synthfaces.exact_correlation_matrix(names)
        results["correlation.norm_vs_truth_pearson"] = matrix_agreement(norm_corr, truth_corr)
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


def _require(path: str) -> str:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: run `kerasolr embed` on this run first")
    return path


def format_summary(config: RunConfig, names, results: dict[str, float]) -> str:
    """A short human-readable summary of a run's results."""
    r = results
    lines = [
        f"kerasolr run (preset {config.preset}): {config.data.dataset}, "
        f"{config.data.image_size}px, L={len(names)}, k={config.siamese.k}",
        "",
        "Paper section 4.1, held-out split          mean acc   balanced",
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
    if "correlation.norm_vs_truth_pearson" in r:
        lines.append("Norm-correlation vs generator truth:   r = "
                     f"{r['correlation.norm_vs_truth_pearson']:.3f}")
    lines += ["", f"{'label':22s} classifier  probe   norm AUC  absent/present"]
    for name in names:
        lines.append(
            f"{name:22s} {r[f'per_label.{name}.classifier_accuracy']:.4f}     "
            f"{r[f'per_label.{name}.probe_accuracy']:.4f}  {r[f'per_label.{name}.norm_auc']:.4f}"
            f"    {r[f'per_label.{name}.absent_present_norm_ratio']:.3f}")
    lines += ["", f"Total time: {r['timing.total_seconds']:.0f} s"]
    return "\n".join(lines) + "\n"


def run_all(config: RunConfig, run_dir: str, strategy=None) -> dict[str, float]:
    """Train, embed and evaluate: the whole chain into one run directory."""
    train(config, run_dir, strategy)
    embed(run_dir)
    return evaluate(run_dir)
