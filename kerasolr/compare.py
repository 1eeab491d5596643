"""`kerasolr compare`: OLR beside the representations users would otherwise pick,
trained on the same data and evaluated by the same code.

Models (keys of `compare.json`):
- `olr`: the run's embeddings (`L x k`); retrieval by a label ranks with that
  label's slot.
- `classifier_output`: the run classifier's L probabilities; retrieval by a
  label ranks with the classifier's output for it (the obvious competitor of
  a slot).
- `classifier_features`: the run classifier's penultimate features.
- `autoencoder`: the bottleneck (`L x k` units) of the run's plain autoencoder
  (`decoder.baselines`, trained end to end with eq. 3).
- `beta_vae`: the mean of a beta-VAE's `q(z|x)`, `L x k` dimensions.
- `pse`: the mean of PSE's `q(z|x)` (label-conditioned VAE, its eq. 2).

Every model is measured by the same functions on the same held-out split:
the linear probe of section 4.1 (trained on the training split's codes),
retrieval by each label as the criterion (eq. 10-12, leave-one-out over the
whole split) ranked three ways (`retrieval.whole_*`: the whole
representation; `retrieval.mi_*`: the dimensions whose mutual information
with the label, estimated on the training split, is above the mean, as in the
retrieval paper's section 6; `retrieval.slot_*`, OLR and the classifier's
output: the label's own dimensions), each also chance-corrected
(`map_corrected`: `(mAP - chance) / (1 - chance)`, chance the expected mAP
of a random ranking, `kerasolr.retrieval.chance_map`),
SSIM of reconstructions where the model has a decoder, and the judge's
accuracy on images generated from held-out label sets where the model
generates from labels (OLR through its label Gaussians, PSE through `q(z|l)`).

The headline `retrieval.{map,ndcg,nn}_mean` of each model is the ranking its
own method prescribes: the slot for OLR, the label's output for the
classifier's output, mutual-information selection for the
autoencoder and the beta-VAE (the retrieval paper's protocol for them), the
whole representation for the classifier's features and PSE (neither paper
selects dimensions). Every variant is in `compare.json` too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import evaluate as sections
from kerasolr import retrieval, rundir
from kerasolr import run as runs
from kerasolr.baselines import (
    MODELS,
    annotate,
    autoencoder_codes,
    candidate_label_sets,
    classifier_features,
    fit_vae,
)
from kerasolr.config import RunConfig
from kerasolr.data import pipeline
from kerasolr.distribute import barrier, is_chief
from kerasolr.evaluation.accuracy import multilabel_accuracy
from kerasolr.evaluation.editing import generation_metrics, generation_scores
from kerasolr.evaluation.mutual_information import mutual_information, select_dimensions
from kerasolr.evaluation.probe import probe_predictions
from kerasolr.evaluation.reconstruction import reconstruction_metrics
from kerasolr.models.decoder import crop_to, decode, decoder_from_config
from kerasolr.resume import remove_checkpoint, write_text_atomically
from kerasolr.rundir import GAUSSIANS_FILE, TIMING_FILE, RunDir, log
from kerasolr.seeds import Seeds
from kerasolr.training import (
    VALIDATION_IMAGES,
    execution,
    fit_callbacks,
    verbosity,
)

COMPARE_FILE = rundir.COMPARE_FILE
PER_LABEL_FILE = rundir.COMPARE_PER_LABEL_FILE
TABLE_FILE = rundir.COMPARE_TABLE_FILE
BASELINES_DIR = "baselines"
HEADLINE = ("probe.mean_accuracy", "retrieval.map_mean", "retrieval.map_corrected_mean",
            "retrieval.query_db_map_corrected_mean", "retrieval.ndcg_mean",
            "retrieval.nn_mean", "recon.ssim", "generation.accuracy", "timing.train_seconds")
RANKED_BY = {"olr": "slot", "classifier_output": "slot", "classifier_features": "whole",
             "autoencoder": "mi",
             "beta_vae": "mi", "pse": "whole"}
RANKED_BY_WORDS = {"slot": "the label's own slot (output)", "mi": "MI-selected dimensions",
                   "whole": "whole representation"}
VAE_PARTS = {"beta_vae": ("encoder", "decoder"),
             "pse": ("encoder", "decoder", "label_encoder")}
BATCH = 256


# === The metrics every representation gets ===

def representation_metrics(train_codes, train_labels, test_codes, test_labels, names,
                           probe_config, seed: int = 0, bins: int = 16, slots=None,
                           ranked_by: str = "whole", validation=None,
                           queries=None) -> dict[str, float]:
    """The probe and every retrieval variant of one representation.

    Args:
        train_codes: `(n, d)` (or `(n, ...)`) codes of the training split.
        train_labels: `(n, L)` its (possibly noisy) training labels.
        test_codes: `(m, d)` codes of the held-out split.
        test_labels: `(m, L)` its clean labels.
        names: The L label names.
        probe_config: A `ProbeConfig`.
        seed: Probe seed.
        bins: Bins of the mutual-information estimate.
        slots: Per-label dimension arrays of a label's own slot (OLR), or `None`.
        ranked_by: `"slot"`, `"mi"` or `"whole"`: the variant copied to the
            headline `retrieval.{map,ndcg,nn}_mean`.
        validation: `(codes, labels)` of the validation split, where the
            probe's epochs are chosen, or `None` (`probe_config.epochs`).
        queries: Query indices of the retrieval paper's query/database
            protocol (`retrieval.query_database`), measured for the headline
            ranking as `retrieval.query_db_*`; `None` skips it.

    Returns:
        Flat metrics: `probe.*`, `retrieval.{whole_,mi_,slot_}{map,ndcg,nn}_mean`,
        `retrieval.{map,ndcg,nn}_mean`, `retrieval.mi_dimensions_mean` and
        per-label keys.
    """
    if ranked_by not in RANKED_BY_WORDS or ranked_by == "slot" and slots is None:
        raise ValueError(f"ranked_by={ranked_by!r} is invalid: expected one of "
                         f"{sorted(RANKED_BY_WORDS)} ('slot' needs slots)")
    train_codes = np.asarray(train_codes, np.float32).reshape(len(train_codes), -1)
    test_codes = np.asarray(test_codes, np.float32).reshape(len(test_codes), -1)
    if validation is not None:
        val_codes, val_labels = validation
        validation = (np.asarray(val_codes, np.float32).reshape(len(val_codes), -1), val_labels)
    probe, epochs = sections.fit_probe(train_codes, train_labels, probe_config, seed, validation)
    results = multilabel_accuracy(test_labels, probe_predictions(probe, test_codes), names,
                                  "probe")
    results["probe.epochs_chosen"] = float(epochs)
    results.update(retrieval.dimension_retrieval_metrics(test_codes, test_labels, names, None,
                                                         "whole_"))
    selected = select_dimensions(mutual_information(train_codes, train_labels, bins))
    results.update(retrieval.dimension_retrieval_metrics(test_codes, test_labels, names,
                                                         selected, "mi_"))
    results["retrieval.mi_dimensions_mean"] = float(np.mean([len(s) for s in selected]))
    if slots is not None:
        results.update(retrieval.dimension_retrieval_metrics(test_codes, test_labels, names,
                                                             slots, "slot_"))
    labels = np.asarray(test_labels) > 0.5
    results["retrieval.chance_map_mean"] = float(np.mean(
        [retrieval.chance_map(labels[:, label]) for label in range(labels.shape[1])]))
    for metric in ("map", "map_corrected", "ndcg", "nn"):
        results[f"retrieval.{metric}_mean"] = results[f"retrieval.{ranked_by}_{metric}_mean"]
    if queries is not None:
        chosen = {"whole": None, "mi": selected, "slot": slots}[ranked_by]
        query_db = retrieval.dimension_retrieval_metrics(test_codes, test_labels, names, chosen,
                                                         "query_db_", queries)
        results.update({key: value for key, value in query_db.items()
                        if key.startswith("retrieval.")})
    return results


# === Orchestration ===

def compare(config: RunConfig, out_dir: str, olr_run: str | None = None,
            strategy=None) -> dict[str, dict[str, float]]:
    """Trains (or reuses) OLR and every baseline, evaluates them alike, writes the table.

    Args:
        config: The config of the comparison (data, OLR, decoder, baselines).
        out_dir: Output folder: `config.json`, `olr/` (the OLR run, unless
            `olr_run`), `baselines/` (the VAEs), `compare.json`,
            `compare_per_label.json` and `compare.md`. Re-running resumes.
        olr_run: An existing, fully evaluated OLR run directory to reuse
            instead of training one; its config must equal `config` except
            for the `baselines` section.
        strategy: Strategy to train under (default: the current one).

    Returns:
        `{model: flat metrics}` as written to `compare.json`.
    """
    config.validate()
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    if olr_run is not None:
        _check_same_run(config, olr_run)
        _check_finished(olr_run)
        olr_dir = olr_run
    else:
        olr_dir = os.path.join(out_dir, "olr")
    if chief:
        RunDir(out_dir).prepare(config, pipeline.label_names(config.data))
    if olr_run is None:
        log(f"compare: OLR run in {olr_dir}")
        runs.run_all(config, olr_dir, strategy)
        _check_finished(olr_dir)
    with execution(config):
        for model in VAE_PARTS:
            _train_vae(config, out_dir, model, strategy)
    results: dict[str, dict[str, float]] = {}
    if chief:
        results = _evaluate_all(config, olr_dir, out_dir)
        if olr_run is None:         # the OLR run's own report gains the comparison table
            from kerasolr.report import write_report

            write_report(olr_dir)
    barrier(strategy)
    return results


def _check_finished(olr_dir: str) -> None:
    run = RunDir(olr_dir)
    needed = [run.model_path(name) for name in ("classifier", "encoder", "decoder",
                                                 "autoencoder", "judge")]
    needed += [run.embeddings_path(split) for split in pipeline.SPLITS]
    needed += [
               run.file(GAUSSIANS_FILE), run.file(TIMING_FILE)]
    for path in needed:
        if not os.path.exists(path):
            hint = ("it was trained with decoder.baselines=false"
                    if path == run.model_path("autoencoder")
                    else "finish it with `kerasolr demo` / `kerasolr evaluate` first")
            raise FileNotFoundError(f"{path} not found: compare needs a finished, evaluated "
                                    f"OLR run ({hint})")


def _check_same_run(config: RunConfig, olr_run: str) -> None:
    existing = RunDir(olr_run).read_config()
    mine = dataclasses.replace(config, baselines=existing.baselines)
    if existing != mine:
        differing = [f.name for f in dataclasses.fields(RunConfig)
                     if getattr(existing, f.name) != getattr(mine, f.name)]
        raise ValueError(f"{olr_run}/config.json differs from the comparison's config in "
                         f"{', '.join(differing)}; compare needs the same data and settings")


def _baselines(out_dir: str) -> RunDir:
    """`out_dir/baselines/`: the VAEs' models, checkpoints and timing."""
    return RunDir(os.path.join(out_dir, BASELINES_DIR))


def _train_vae(config: RunConfig, out_dir: str, model: str, strategy) -> None:
    """Trains the beta-VAE or PSE into `out_dir/baselines/` (skipped when done)."""
    parts = VAE_PARTS[model]
    folder = _baselines(out_dir)
    out = folder.output_for(strategy)
    if all(folder.has_model(f"{model}_{part}") for part in parts):
        log(f"{model}: found {folder.path}/{model}_*.keras, skipping")
        return
    os.makedirs(out.path, exist_ok=True)
    d, dec, b = config.data, config.decoder, config.baselines
    names = pipeline.label_names(d)
    latent = len(names) * config.siamese.k
    beta = b.pse_beta if model == "pse" else b.beta
    log(f"{model}: latent {len(names)} x {config.siamese.k} = {latent}, at most "
        f"{b.max_epochs} epochs (stops after {b.patience} without a better validation loss), "
        f"Adam {b.learning_rate:g}, KL weight {beta:g}")
    seeds = Seeds(config.seed)
    keras.utils.set_random_seed(seeds.pse if model == "pse" else seeds.beta_vae)
    train = pipeline.load_split(d, "train",
                                cache=pipeline.cache_argument(d, out.cache_dir, "train"))
    val = pipeline.load_split(d, "validation").take(VALIDATION_IMAGES // 2).cache()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=b.patience,
                                         restore_best_weights=True)
    shuffle = pipeline.shuffle_buffer(d)
    start = time.time()
    models, _ = fit_vae(
        d.image_size, len(names), latent, config.siamese.filters,
        lambda: decoder_from_config(dec, (latent,), d.image_size, f"{model}_decoder"),
        pipeline.classifier_batches(train, dec.batch_size, config.seed, shuffle),
        pipeline.classifier_batches(val, dec.batch_size), strategy, beta, b.learning_rate,
        b.max_epochs, pse=model == "pse", label_units=b.label_units, seed=config.seed,
        callbacks=fit_callbacks(folder, out, model, extra=[stop]), verbose=verbosity())
    for part in parts:
        out.save_model(models[part], f"{model}_{part}")
    remove_checkpoint(out.checkpoint_dir(model))
    out.record_timing(f"{model}_seconds", time.time() - start)


def _codes_and_reconstructions(specs, batches, size: int, filter_size: int):
    """One pass over a split for every model.

    Args:
        specs: `{model: (encode, reconstruct or None)}`; `encode(images)` gives
            codes, or `encode` is the split's codes already computed (an array
            in the split's order, read batch by batch); `reconstruct(images,
            codes)` gives images of side `size`.
        batches: Batches of element dicts.
        size: Side the targets are cropped to.
        filter_size: SSIM window.

    Returns:
        `({model: (n, d) codes}, {model: mean SSIM}, (n,) ids)`.
    """
    codes: dict[str, list] = {model: [] for model in specs}
    ssim_sums = {model: 0.0 for model, (_, rebuild) in specs.items() if rebuild is not None}
    ids, count = [], 0
    for batch in batches:
        images = batch["image"]
        target = crop_to(images.numpy(), size)
        for model, (encode, reconstruct) in specs.items():
            code = (encode[count:count + len(target)] if isinstance(encode, np.ndarray)
                    else np.asarray(encode(images)))
            codes[model].append(code.reshape(len(code), -1))
            if reconstruct is not None:
                metrics = reconstruction_metrics(target, reconstruct(images, code), "m",
                                                 filter_size)
                ssim_sums[model] += metrics["m.ssim"] * len(target)
        ids.append(batch["id"].numpy())
        count += len(target)
    return ({model: np.concatenate(parts) for model, parts in codes.items()},
            {model: total / count for model, total in ssim_sums.items()}, np.concatenate(ids))


def _predict(model):
    """A numpy-returning inference function of `model` (traced once per shape)."""

    @tf.function(reduce_retracing=True)
    def forward(x):
        return model(x, training=False)

    def predict(x):
        return tf.nest.map_structure(np.asarray, forward(x))

    return predict


def _evaluate_all(config: RunConfig, olr_dir: str, out_dir: str) -> dict[str, dict[str, float]]:
    d, dec, e, b = config.data, config.decoder, config.edit, config.baselines
    run = RunDir(olr_dir)
    names = run.label_names()
    train_emb = run.load_embeddings("train")
    test_emb = run.load_embeddings("test")
    train_labels, test_labels = train_emb["labels"], test_emb["clean_labels"]
    L, k = train_emb["embeddings"].shape[1:]
    load = run.load_model
    decoder = load("decoder")
    size = int(decoder.output["image"].shape[1])
    judge = _predict(load("judge"))
    olr_timing = run.read_timing()
    baselines = _baselines(out_dir)
    vae_timing = baselines.read_timing()

    # Per model: code of a batch of images, reconstruction from (images, codes), seconds
    # (OLR's codes: the run's embedding files, see `split_specs`).
    classifier = load("classifier")
    outputs = _predict(classifier)
    features = _predict(classifier_features(classifier))
    autoencoder = load("autoencoder")
    ae_codes = _predict(autoencoder_codes(autoencoder))
    vae = {model: {part: baselines.load_model(f"{model}_{part}") for part in parts}
           for model, parts in VAE_PARTS.items()}
    means = {model: _predict(parts["encoder"]) for model, parts in vae.items()}
    specs = {
        "olr": (None, lambda x, c: decode(decoder, c.reshape(len(c), L, k)),
                olr_timing["classifier_seconds"] + olr_timing["siamese_seconds"]),
        "classifier_output": (outputs, None, olr_timing["classifier_seconds"]),
        "classifier_features": (features, None, olr_timing["classifier_seconds"]),
        "autoencoder": (ae_codes, lambda x, c: decode(autoencoder, x),
                        olr_timing["autoencoder_seconds"]),
        "beta_vae": (lambda x: means["beta_vae"](x)["mean"],
                     lambda x, c: decode(vae["beta_vae"]["decoder"], c),
                     vae_timing.get("beta_vae_seconds", float("nan"))),
        "pse": (lambda x: means["pse"](x)["mean"],
                lambda x, c: decode(vae["pse"]["decoder"], c),
                vae_timing.get("pse_seconds", float("nan"))),
    }
    # Each label's own dimensions: its slot in OLR, its output in the classifier's.
    slots = {"olr": [np.arange(label * k, (label + 1) * k) for label in range(L)],
             "classifier_output": [np.array([label]) for label in range(L)]}
    # OLR's codes are the run's embedding files (made by the same encoder from the
    # same pixels): read, not encoded again.
    def split_specs(emb, rebuild: bool):
        return {model: (emb["embeddings"] if model == "olr" else encode,
                        rebuilt if rebuild else None)
                for model, (encode, rebuilt, _) in specs.items()}

    log("compare: codes of the training split (every model)")
    train_codes, _, train_ids = _codes_and_reconstructions(
        split_specs(train_emb, False),
        pipeline.example_batches(pipeline.load_split(d, "train"), BATCH), size,
        dec.ssim_filter_size)
    log("compare: codes of the validation split (every model)")
    val_emb = run.load_embeddings("validation")
    val_codes, _, val_ids = _codes_and_reconstructions(
        split_specs(val_emb, False),
        pipeline.example_batches(pipeline.load_split(d, "validation"), BATCH), size,
        dec.ssim_filter_size)
    log("compare: codes and reconstructions of the held-out split (every model)")
    test_codes, ssims, test_ids = _codes_and_reconstructions(
        split_specs(test_emb, True),
        pipeline.example_batches(pipeline.load_split(d, "test"), BATCH), size,
        dec.ssim_filter_size)
    if not (np.array_equal(train_ids, train_emb["ids"])
            and np.array_equal(val_ids, val_emb["ids"])
            and np.array_equal(test_ids, test_emb["ids"])):
        raise ValueError(f"{olr_dir}/embeddings do not hold the images of the run's splits "
                         "in order; re-run `kerasolr embed --force` on it")
    queries, _ = retrieval.query_database(len(test_labels), config.analysis.query_fraction,
                                          config.seed)
    results: dict[str, dict[str, float]] = {}
    for model in MODELS:
        log(f"compare: {model}: probe, mutual information and retrieval")
        metrics = representation_metrics(train_codes[model], train_labels, test_codes[model],
                                         test_labels, names, config.probe, config.seed,
                                         b.mi_bins, slots.get(model),
                                         RANKED_BY[model],
                                         (val_codes[model], val_emb["labels"]), queries)
        if model in ssims:
            metrics["recon.ssim"] = ssims[model]
        metrics["timing.train_seconds"] = float(specs[model][2])
        if model in VAE_PARTS:
            metrics["train.epochs_chosen"] = baselines.best_epoch(model)
        metrics["representation.dimensions"] = float(train_codes[model].shape[1])
        results[model] = metrics

    # Generation from held-out label sets (those of section 4.5), judged alike.
    gaussians = run.label_gaussians()
    seeds = Seeds(config.seed)
    label_sets = test_labels[:e.num_generations]
    wanted = (label_sets > 0.5) & (gaussians.counts > 0)
    log(f"compare: {len(wanted)} generations from labels alone (OLR and PSE)")
    results["olr"].update(generation_metrics(
        label_sets, lambda embeddings: judge(decode(decoder, embeddings)), gaussians,
        seeds.generation, e.threshold))
    label_encoder = _predict(vae["pse"]["label_encoder"])
    prior = label_encoder(wanted.astype(np.float32))
    noise = np.random.default_rng(seeds.generation).standard_normal(prior["mean"].shape)
    z = prior["mean"] + np.exp(0.5 * prior["log_var"]) * noise.astype(np.float32)
    pse_images = decode(vae["pse"]["decoder"], z)
    results["pse"].update(_generation(wanted, judge(pse_images), e.threshold, names))

    log("compare: PSE annotation (most likely training label vector)")
    candidates = candidate_label_sets(train_labels, b.max_candidates)
    candidate_prior = label_encoder(candidates)
    chosen = annotate(test_codes["pse"], candidate_prior["mean"], candidate_prior["log_var"],
                      candidates)
    annotation = multilabel_accuracy(test_labels, chosen, names, "annotation")
    annotation["annotation.candidates"] = float(len(candidates))
    results["pse"].update(annotation)
    results["olr"]["timing.decoder_seconds"] = float(olr_timing["decoder_seconds"])
    _write(out_dir, results)
    return results


def _generation(wanted, judged, threshold, names) -> dict[str, float]:
    return generation_scores(wanted, np.asarray(judged) > threshold, names)


def _write(out_dir: str, results: dict[str, dict[str, float]]) -> None:
    flat = {model: {key: value for key, value in metrics.items()
                    if not key.startswith("per_label.")} for model, metrics in results.items()}
    per_label = {model: {key: value for key, value in metrics.items()
                         if key.startswith("per_label.")} for model, metrics in results.items()}
    write_text_atomically(os.path.join(out_dir, COMPARE_FILE),
                          json.dumps(flat, indent=2, sort_keys=True) + "\n")
    write_text_atomically(os.path.join(out_dir, PER_LABEL_FILE),
                          json.dumps(per_label, indent=2, sort_keys=True) + "\n")
    write_text_atomically(os.path.join(out_dir, TABLE_FILE), format_table(flat) + "\n")


def _cell(metrics: dict[str, float], key: str, digits: int = 4) -> str:
    value = metrics.get(key)
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.0f}" if key.startswith("timing.") else f"{value:.{digits}f}"


def format_table(results: dict[str, dict[str, float]]) -> str:
    """The comparison as Markdown: the headline table, then every retrieval variant."""
    lines = ["| model | linear probe acc. | retrieval mAP | chance-corrected | "
             "corrected, query/database | NDCG | NN | "
             "ranked by | recon. SSIM | generation acc. (balanced) | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, m in results.items():
        lines.append(
            f"| {model} | {_cell(m, 'probe.mean_accuracy')} | {_cell(m, 'retrieval.map_mean')} "
            f"| {_cell(m, 'retrieval.map_corrected_mean')} "
            f"| {_cell(m, 'retrieval.query_db_map_corrected_mean')} "
            f"| {_cell(m, 'retrieval.ndcg_mean')} | {_cell(m, 'retrieval.nn_mean')} "
            f"| {RANKED_BY_WORDS[RANKED_BY.get(model, 'whole')]} | {_cell(m, 'recon.ssim')} "
            f"| {_cell(m, 'generation.accuracy')} ({_cell(m, 'generation.balanced_accuracy')}) "
            f"| {_cell(m, 'timing.train_seconds')} |")
    lines += ["", "Retrieval mAP (mean over labels; chance-corrected in brackets) by how each "
              "model ranks:", "",
              "| model | label's own slot (output) | MI-selected dims (mean count) | "
              "whole representation | PSE annotation acc. |", "|---|---|---|---|---|"]
    for model, m in results.items():
        lines.append(
            f"| {model} | {_cell(m, 'retrieval.slot_map_mean')} "
            f"({_cell(m, 'retrieval.slot_map_corrected_mean')}) "
            f"| {_cell(m, 'retrieval.mi_map_mean')} "
            f"({_cell(m, 'retrieval.mi_map_corrected_mean')}; "
            f"{_cell(m, 'retrieval.mi_dimensions_mean', 1)} of "
            f"{_cell(m, 'representation.dimensions', 0)}) "
            f"| {_cell(m, 'retrieval.whole_map_mean')} "
            f"({_cell(m, 'retrieval.whole_map_corrected_mean')}) "
            f"| {_cell(m, 'annotation.mean_accuracy')} |")
    return "\n".join(lines)
