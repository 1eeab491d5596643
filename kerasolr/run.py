"""The stages that fill a run directory, and `run_all`, the whole chain.

    train            the classifier, then the Siamese encoder (section 3)
    embed            the un-occluded images of each split -> embeddings/<split>.npz
    train_decoders   the reconstruction decoder on frozen embeddings and its baselines
    train_judge      the independent attribute classifier that judges decoded images
    evaluate         sections 4.1-4.5 on the held-out split -> results.json, figures
    evaluate_on      section 4.1 of a trained run on another dataset or split

The layout of a run directory, and every file name in it, is
`kerasolr.rundir`'s; the metrics are `kerasolr.evaluate`'s. A stage whose
output already exists is skipped, so re-running a command continues an
interrupted run instead of redoing finished stages. Each stage records its
wall time in `timing.json` (`<stage>_seconds`).
"""

from __future__ import annotations

import dataclasses
import json
import time

import keras
import numpy as np
import tensorflow as tf

from kerasolr import augment, editing, figures
from kerasolr import evaluate as sections
from kerasolr import run_figures as rf
from kerasolr.callbacks import VisualCheck
from kerasolr.config import ClassifierConfig, RunConfig
from kerasolr.data import pipeline
from kerasolr.data.images import unit_images
from kerasolr.distribute import barrier, is_chief
from kerasolr.embeddings import embed_array, extract_embeddings, predict_images
from kerasolr.evaluation.accuracy import balanced_thresholds
from kerasolr.evaluation.pca import pca_metrics
from kerasolr.evaluation.protocol import flip_protocol
from kerasolr.models.decoder import build_autoencoder, crop_to, decode, decoder_from_config
from kerasolr.models.siamese import logits_model, target_probabilities
from kerasolr.progress import Progress
from kerasolr.resume import remove_checkpoint
from kerasolr.rundir import (
    DATA_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    RunDir,
    log,
    write_json_atomically,
)
from kerasolr.seeds import Seeds
from kerasolr.summary import format_section_41, format_summary
from kerasolr.training import (
    VALIDATION_IMAGES,
    execution,
    fit_callbacks,
    fit_classifier,
    fit_encoder,
    fit_reconstruction,
    save_finished,
    verbosity,
)

CHECK_IMAGES = 512        # fixed held-out images of the norm-correlation check
BATCH = 256               # inference batch of embedding and evaluation passes


# === Stage 1: classifier and Siamese encoder ===

def train(config: RunConfig, run_dir: str, strategy: tf.distribute.Strategy | None = None):
    """Stage 1 under `config.precision`; see `_train`."""
    with execution(config.validate()):
        return _train(config, RunDir(run_dir), strategy)


def _train(config: RunConfig, run: RunDir, strategy: tf.distribute.Strategy | None = None):
    """Stage 1: trains the classifier, then the Siamese encoder.

    Every fit saves a checkpoint at each epoch end (`checkpoints/<fit>/`), so
    re-running after a crash resumes the interrupted epoch; finished stages are
    skipped. Under a multi-worker strategy every worker trains, the chief
    writes the run directory and the others write to a scratch folder.

    Returns:
        `(classifier, encoder)`.
    """
    start = time.time()
    config.validate()
    names = pipeline.label_names(config.data)    # bad dataset files fail before the run dir exists
    pipeline.check_splits(config.data, names)    # so do tiny splits, bad images, unseen labels
    strategy = strategy or tf.distribute.get_strategy()
    out = run.output_for(strategy)
    if out is run:
        run.prepare(config, names)
    d = config.data
    keras.utils.set_random_seed(config.seed)
    # uint8 images up to the compiled step, which divides them by 255.
    train_ds, shuffle = pipeline.training_split(d, out.cache_dir, config.seed)
    val_ds = pipeline.load_split(d, "validation", uint8=True).take(VALIDATION_IMAGES).cache()
    num_train = pipeline.split_size(d, "train")

    if run.has_model("classifier"):
        log(f"classifier: found {run.model_path('classifier')}, skipping")
        remove_checkpoint(out.checkpoint_dir("classifier"))
        with strategy.scope():
            classifier = run.load_model("classifier")
    else:
        c = config.classifier
        log(f"classifier: {len(names)} labels, {num_train} images of {d.image_size}px, "
            f"{c.epochs} epochs, occlusion on {c.occlusion_rate:.0%} of images")
        classifier, _ = fit_classifier(
            c, len(names), d.image_size,
            pipeline.classifier_batches(train_ds, c.batch_size, config.seed, shuffle, strategy),
            pipeline.classifier_batches(val_ds, c.batch_size), strategy,
            config.siamese.occlusion_min, config.siamese.occlusion_max, seed=config.seed,
            callbacks=fit_callbacks(run, out, "classifier"), verbose=verbosity())
        save_finished(classifier, out, "classifier")
        out.record_timing("classifier_seconds", time.time() - start)

    if run.has_model("encoder"):
        log(f"encoder: found {run.model_path('encoder')}, skipping")
        remove_checkpoint(out.checkpoint_dir("siamese"))
        return classifier, run.load_model("encoder")
    s = config.siamese
    log(f"siamese: L={len(names)} k={s.k}, {s.epochs} epochs of {num_train // 2} pairs, "
        f"occlusion={s.occlusion} on {s.occlusion_rate:.0%} of images, T={s.temperature}")
    start = time.time()
    fixed = pipeline.take(val_ds, CHECK_IMAGES)
    fixed["image"] = fixed["image"].astype(np.float32) / 255.0
    truth_corr = pipeline.truth_correlation(d, names)

    def norm_figure(model):
        # The norm correlation of the fixed held-out images, epoch by epoch.
        embeddings = embed_array(model.encoder, fixed["image"])
        return rf.correlation_figure(embeddings, fixed["clean_labels"], truth_corr, names)

    check = VisualCheck({"norm_correlation": norm_figure}, out.training_figures_dir,
                        every=1, log_dir=out.tensorboard_dir("siamese"))
    targets = None
    if s.clean_targets_once and s.clean_images():
        log("siamese: the classifier's probabilities of the clean training images, once")
        targets = clean_targets(classifier, train_ds, s.temperature)
    encoder, _ = fit_encoder(
        s, classifier, len(names), d.image_size,
        pipeline.pair_batches(train_ds, s.batch_pairs, config.seed, shuffle, strategy,
                              targets),
        # A validation split smaller than one batch of pairs still gives one batch.
        pipeline.pair_batches(val_ds, min(s.batch_pairs, min(
            VALIDATION_IMAGES, pipeline.split_size(d, "validation")) // 2)), strategy,
        seed=config.seed,
        callbacks=fit_callbacks(run, out, "siamese", "encoder", [check]),
        verbose=verbosity())
    save_finished(encoder, out, "siamese", "encoder")
    out.record_timing("siamese_seconds", time.time() - start)
    return classifier, encoder


def clean_targets(classifier: keras.Model, train_ds, temperature: float = 1.0
                  ) -> pipeline.CleanTargets:
    """The frozen classifier's probabilities of every training image (one
    pass over the split, uint8 images divided by 255 as in the step), for
    `siamese.clean_targets_once`."""
    logits = logits_model(classifier) if temperature != 1.0 else None
    probabilities = tf.function(lambda x: target_probabilities(
        classifier, unit_images(x), temperature, logits))
    source = train_ds.decoded() if isinstance(train_ds, pipeline.FileRecords) else train_ds
    ids, probs = [], []
    for batch in pipeline.example_batches(source, BATCH):
        ids.append(batch["id"].numpy())
        probs.append(probabilities(batch["image"]).numpy())
    return pipeline.CleanTargets(np.concatenate(ids), np.concatenate(probs))


# === Stage 2: embeddings ===

def embed(run_dir: str, splits=pipeline.SPLITS, batch_size: int = BATCH,
          force: bool = False) -> dict[str, str]:
    """Stage 2: embeds the un-occluded images of each split into `embeddings/<split>.npz`.

    Returns:
        `{split: path}`.
    """
    start = time.time()
    run = RunDir(run_dir)
    config = run.read_config()
    run.lock()
    encoder = run.load_model("encoder")
    paths, embedded = {}, []
    for split in splits:
        path = run.embeddings_path(split)
        paths[split] = path
        if run.has_embeddings(split) and not force:
            log(f"embed: found {path}, skipping")
            continue
        log(f"embed: {split} split -> {path}")
        batches = pipeline.example_batches(pipeline.load_split(config.data, split), batch_size)
        extract_embeddings(encoder, batches, path, progress=Progress(
            f"embed: {split}", pipeline.split_size(config.data, split)))
        embedded.append(split)
    if embedded:
        # Splits embedded earlier keep their share: a re-run that adds one split
        # adds its seconds; one that embeds nothing records nothing.
        earlier = 0.0 if set(embedded) >= set(pipeline.SPLITS) else run.read_timing().get(
            "embed_seconds", 0.0)
        run.record_timing("embed_seconds", earlier + time.time() - start)
    return paths


# === Stage 3: decoders ===

def train_decoders(run_dir: str, strategy: tf.distribute.Strategy | None = None) -> None:
    """Stage 3 under the run's `precision`; see `_train_decoders`."""
    run = RunDir(run_dir)
    with execution(run.read_config()):
        _train_decoders(run, strategy)


def _train_decoders(run: RunDir, strategy: tf.distribute.Strategy | None = None) -> None:
    """Stage 3: the reconstruction decoder on frozen embeddings, and its baselines.

    Trains `decoder.keras` (paper section 4.4) on the training split's saved
    embeddings, and, with `decoder.baselines`, `decoder_probs.keras` (fed the
    classifier's probabilities) and `autoencoder.keras` (an end-to-end
    autoencoder whose bottleneck has L x k units), all with eq. 3 and RMSprop.
    Fits the label Gaussians first, so the visual checks can show edits.
    Finished models are skipped.
    """
    start = time.time()
    config = run.read_config()
    strategy = strategy or tf.distribute.get_strategy()
    out = run.output_for(strategy)
    if out is run:                   # the chief writes the run; other workers, scratch
        run.lock()
    names = run.label_names()
    d, dec = config.data, config.decoder
    seeds = Seeds(config.seed)
    train_emb = run.load_embeddings("train")
    val_emb = run.load_embeddings("validation")
    gaussians = run.fit_label_gaussians(out)
    k = train_emb["embeddings"].shape[-1]
    keras.utils.set_random_seed(seeds.decoders)
    train_images = pipeline.load_split(
        d, "train", cache=pipeline.cache_argument(d, out.cache_dir, "train")).map(
        lambda e: e["image"])
    # Monitors and the visual checks see the validation split only.
    val = pipeline.take(pipeline.load_split(d, "validation"),
                        min(VALIDATION_IMAGES // 2, pipeline.split_size(d, "validation")))
    fixed = {key: value[:rf.GRID_IMAGES] for key, value in val.items()}
    shuffle = pipeline.shuffle_buffer(d)

    def batches(codes: tf.data.Dataset, images: tf.data.Dataset | None, seed=None):
        # `images=None`: `codes` already yields `(code, image)` pairs.
        ds = codes if images is None else tf.data.Dataset.zip((codes, images))
        if seed is not None:
            ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
        return pipeline.for_fit(ds.batch(dec.batch_size).prefetch(tf.data.AUTOTUNE))

    def val_batches(codes):
        return batches(tf.data.Dataset.from_tensor_slices(codes),
                       tf.data.Dataset.from_tensor_slices(val["image"]))

    def decoder_for(input_shape, name):
        return lambda: decoder_from_config(dec, input_shape, d.image_size, name)

    # The sharper-decoding terms, when asked for, apply to all three decoders alike.
    terms = "".join([f", feature matching x{dec.feature_weight:g}" if dec.feature_weight else "",
                     f" on {dec.feature_batch} images a batch"
                     if dec.feature_weight and dec.feature_batch else "",
                     f", adversarial x{dec.adversarial_weight:g}" if dec.adversarial_weight
                     else ""])
    with strategy.scope():
        feature_classifier = run.load_model("classifier") if dec.feature_weight > 0 else None

    def fit(name, what, build, train_batches, val_data, figure_fns=None):
        log(f"{what}: {dec.epochs} epochs, RMSprop {dec.learning_rate:g}, alpha={dec.alpha}"
            + terms)
        extra = []
        if figure_fns:
            extra.append(VisualCheck(figure_fns, out.training_figures_dir, dec.every,
                                     out.tensorboard_dir(name)))
        model, _ = fit_reconstruction(dec, build, train_batches, val_data, strategy,
                                      fit_callbacks(run, out, name, what, extra), verbosity(),
                                      feature_classifier)
        save_finished(model, out, name)

    def skip(name, what) -> bool:
        if run.has_model(name):
            log(f"{what}: found {run.model_path(name)}, skipping")
            remove_checkpoint(out.checkpoint_dir(name))
            return True
        return False

    # --- OLR decoder, with visual checks on fixed held-out images ---
    fixed_emb = val_emb["embeddings"][:rf.GRID_IMAGES]
    edit_labels = editing.balanced_labels(train_emb["labels"], rf.EDIT_GRID_LABELS)
    edit_emb = fixed_emb[:rf.EDIT_GRID_IMAGES]
    edits = editing.toggle_edits(edit_emb, fixed["labels"][:rf.EDIT_GRID_IMAGES], edit_labels,
                                 names, gaussians, seeds.edits)
    edit_rows = editing.toggle_row_titles(fixed["labels"][:rf.EDIT_GRID_IMAGES], edit_labels,
                                          names)

    def recon_figure(trainer):
        size = trainer.output_size
        return figures.reconstruction_grid(crop_to(fixed["image"], size),
                                           {"OLR decoder": decode(trainer.model, fixed_emb)})

    def edit_figure(trainer):
        size = trainer.output_size
        return figures.edit_grid(
            crop_to(fixed["image"][:rf.EDIT_GRID_IMAGES], size), decode(trainer.model, edit_emb),
            {title: decode(trainer.model, e) for title, e in edits.items()},
            title=editing.TOGGLE_TITLE, row_titles=edit_rows)

    what = "decoder (OLR embeddings)"
    if not skip("decoder", what):
        fit("decoder", what, decoder_for((len(names), k), "decoder"),
            batches(tf.data.Dataset.from_tensor_slices(train_emb["embeddings"]), train_images,
                    config.seed),
            val_batches(val_emb["embeddings"][:len(val["image"])]),
            {"reconstructions": recon_figure, "edits": edit_figure})
        out.record_timing("decoder_seconds", time.time() - start)
    if not dec.baselines:
        return

    # --- Baseline 1: what the labels' probabilities alone can reconstruct ---
    what = "baseline decoder (classifier probabilities)"
    if not skip("decoder_probs", what):
        start = time.time()
        classifier = run.load_model("classifier")
        train_probs = predict_images(
            classifier, pipeline.example_batches(train_images.map(lambda x: {"image": x}), BATCH))
        val_probs = predict_images(
            classifier, tf.data.Dataset.from_tensor_slices({"image": val["image"]}).batch(BATCH))
        fit("decoder_probs", what, decoder_for((len(names),), "decoder_probs"),
            batches(tf.data.Dataset.from_tensor_slices(train_probs), train_images, config.seed),
            val_batches(val_probs))
        out.record_timing("decoder_probs_seconds", time.time() - start)

    # --- Baseline 2: what a code of L x k numbers can hold, trained end to end ---
    def build_ae():
        decoder = decoder_from_config(dec, (len(names) * k,), d.image_size, "ae_decoder")
        return build_autoencoder(d.image_size, len(names) * k, config.siamese.filters, decoder)

    what = "baseline autoencoder (end to end)"
    if not skip("autoencoder", what):
        start = time.time()
        fit("autoencoder", what, build_ae,
            batches(train_images.map(lambda x: (x, x)), None, config.seed),
            val_batches(val["image"]))
        out.record_timing("autoencoder_seconds", time.time() - start)


# === Stage 4: the judge ===

def train_judge(run_dir: str) -> keras.Model:
    """Stage 4: the independent attribute classifier that judges decoded images.

    Trained on the training images cropped to the decoder's output size, half
    of them mirrored and half blurred, with its own seed (`edit.judge_seed`)
    and architecture (`edit.judge_filters`), so its errors are not the run
    classifier's and blur alone does not change its decisions
    (docs/decoder.md); its epochs are chosen on the validation split (early
    stopping after `edit.judge_patience` epochs without a better validation
    loss, at most `edit.judge_epochs`, the best epoch's weights kept).
    Skipped when `judge.keras` exists.

    Returns:
        The judge.
    """
    run = RunDir(run_dir)
    if run.has_model("judge"):
        return run.load_model("judge")
    run.lock()
    start = time.time()
    config = run.read_config()
    names = run.label_names()
    size = int(run.load_model("decoder").output["image"].shape[1])
    e, c, d = config.edit, config.classifier, config.data
    log(f"judge: at most {e.judge_epochs} epochs (early stopping on validation), seed "
        f"{e.judge_seed}, {size}px crops, half mirrored, half blurred")
    keras.utils.set_random_seed(e.judge_seed)
    judge_config = ClassifierConfig(filters=e.judge_filters, dense_units=c.dense_units,
                                    epochs=e.judge_epochs, batch_size=c.batch_size,
                                    learning_rate=c.learning_rate, occlusion_rate=0.0)

    def crop(images, labels):
        # Half of the images blurred: decoded images are smooth, and the judge
        # should decide on attributes, not on sharpness (docs/decoder.md).
        images = augment.random_flip(crop_to(unit_images(images), size), seed=e.judge_seed)
        return augment.random_blur(images, seed=e.judge_seed), labels

    train_batches = pipeline.classifier_batches(
        pipeline.load_split(d, "train"), c.batch_size, e.judge_seed,
        pipeline.shuffle_buffer(d)).map(crop)
    val_batches = pipeline.classifier_batches(
        pipeline.load_split(d, "validation").take(VALIDATION_IMAGES), c.batch_size).map(
        lambda images, labels: (crop_to(unit_images(images), size), labels))
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=e.judge_patience,
                                         restore_best_weights=True)
    judge, _ = fit_classifier(judge_config, len(names), size, train_batches, val_batches,
                              tf.distribute.get_strategy(), seed=e.judge_seed,
                              callbacks=fit_callbacks(run, run, "judge", extra=[stop]),
                              verbose=verbosity())
    save_finished(judge, run, "judge")
    run.record_timing("judge_seconds", time.time() - start)
    return judge


# === Stage 5: evaluation ===

def evaluate(run_dir: str) -> dict[str, float]:
    """Stage 5: paper sections 4.1-4.5 on the held-out split; writes
    `results.json`, `summary.txt`, the figures and the CSV tables.

    Classifier vs linear probe (mean and balanced accuracy, per label) next to
    the majority baseline; slot-norm AUC and absent/present norm ratio;
    retrieval by each label's slot; correlation of slot norms vs the labels'
    (and, on synthfaces, the generator's exact) correlation matrix; PCA; then,
    with a decoder, reconstructions, edits and generations judged by the judge
    (trained first if it is not there yet, as its own stage).

    Returns:
        The flat results dict.
    """
    run = RunDir(run_dir)
    run.read_config()                 # a clear error if this is not a run, before the lock
    run.lock()
    judge = train_judge(run_dir) if run.has_model("decoder") else None
    start = time.time()
    config = run.read_config()
    names = run.label_names()
    # The training embeddings stay on disk (the probe reads them a chunk at a
    # time): evaluation's memory does not grow with the training split.
    train_emb = run.load_embeddings("train", on_disk=("embeddings",))
    val_emb = run.load_embeddings("validation")
    test_emb = run.load_embeddings("test")
    embeddings, truth = test_emb["embeddings"], test_emb["clean_labels"]
    classifier = run.load_model("classifier")
    # Each held-out split decoded once, its images kept on disk for every section
    # after, and removed when the evaluation ends.
    with pipeline.held_out_splits(config.data, ("validation", "test"),
                                  run.cache_dir) as held:
        log("evaluate: linear probe, its epochs chosen on the validation split")
        probe, probe_epochs = sections.fit_probe(
            train_emb["embeddings"], train_emb["labels"], config.probe, config.seed,
            (val_emb["embeddings"], val_emb["labels"]))

        def split_41(split, emb):
            return sections.section_41(
                classifier, pipeline.example_batches(held[split], BATCH),
                train_emb["embeddings"], train_emb["labels"], emb["embeddings"],
                emb["clean_labels"], names, config, probe)

        log("evaluate: classifier on clean and occluded validation and test images, probe")
        val_results, val_predictions = split_41("validation", val_emb)
        results = validation_keys(val_results)
        test_results, predictions = split_41("test", test_emb)
        results.update(test_results)
        results["probe.epochs_chosen"] = float(probe_epochs)
        probs = predictions["classifier"]
        rf.save_disagreements(run, held["test"], names,
                              sections.disagreements(truth, probs, predictions["probe"]))
        log("evaluate: retrieval by each label's slot, the whole embedding and the classifier")
        results.update(sections.retrieval_metrics(embeddings, truth, names, probs,
                                                  config.analysis.query_fraction, config.seed))

        log("evaluate: slot-norm correlations and per-label PCA of slot vectors")
        truth_corr = pipeline.truth_correlation(config.data, names)
        matrices = sections.correlation_matrices(embeddings, truth, truth_corr)
        rf.save_correlations(run, matrices, names)
        pca_results, projections = pca_metrics(embeddings, probs, names)
        results.update(pca_results)
        wanted = config.analysis.pca_strip_label
        strip_label = (names.index(wanted) if wanted in names
                       else editing.balanced_labels(truth, 1)[0])
        rf.save_pca(run, held["test"], names, pca_results, projections, strip_label,
                    note="" if wanted in names else f" ({wanted} is not a label of this run)")
        results["pca.strip_label_index"] = float(strip_label)
        results.update(sections.correlation_metrics(matrices[sections.NORM_MATRIX], truth_corr))

        if judge is not None:
            threshold, threshold_keys = judge_thresholds(config, names, judge,
                                                         held["validation"], val_emb)
            results.update(threshold_keys)
            results.update(_reconstruction_and_edits(run, config, names, held["test"], test_emb,
                                                     probs, judge, train_emb, threshold))
            results["judge.epochs_chosen"] = run.best_epoch("judge")
            log("evaluate: reconstructions of the validation split")
            results.update(validation_keys(_reconstruction(
                run, config, names, held["validation"], val_emb, judge,
                val_predictions["classifier"], threshold)))
        else:
            log("evaluate: no decoder.keras; run `kerasolr train-decoder` for sections 4.4-4.5")
    run.record_timing("evaluate_seconds", time.time() - start)
    timing = run.read_timing()
    for key, value in timing.items():
        results[f"timing.{key}"] = value
    results["timing.total_seconds"] = float(sum(timing.values()))
    run.write_results(results)
    run.write_text(SUMMARY_FILE, format_summary(config, names, results))
    return results


def validation_keys(results: dict[str, float]) -> dict[str, float]:
    """`results` of the validation split under `validation.` keys (per-label
    figures left out: choices are made on the means)."""
    return {f"validation.{key}": value for key, value in results.items()
            if not key.startswith("per_label.")}


def _baseline_decoders(run: RunDir, probs) -> dict:
    """`{results prefix: (model, codes)}` of the baseline decoders the run has
    (`probs`: the classifier's probabilities on the split decoded)."""
    baselines = {}
    for key, name, codes in (("probs_baseline", "decoder_probs", probs),
                             ("autoencoder_baseline", "autoencoder", None)):
        if run.has_model(name):
            baselines[key] = (run.load_model(name), codes)
    return baselines


def _reconstruction(run: RunDir, config: RunConfig, names, split_images: tf.data.Dataset, emb,
                    judge, probs, threshold) -> dict[str, float]:
    """Section 4.4's reconstruction figures (`recon.*`, `judge.*`) on one split
    (`split_images`: its elements; `probs`: the classifier's probabilities on
    it, for the probabilities-only decoder; `threshold`: the judge's, one or
    one per label)."""
    return sections.reconstruction_section(
        pipeline.example_batches(split_images, BATCH),
        emb["embeddings"], emb["clean_labels"], run.load_model("decoder"), judge, names,
        config.decoder.ssim_filter_size, threshold, _baseline_decoders(run, probs))


def judge_thresholds(config: RunConfig, names, judge, val_images: tf.data.Dataset, val_emb
                     ) -> tuple[float | np.ndarray, dict[str, float]]:
    """The judge's decision thresholds under `edit.judge_thresholds`
    (`val_images`: the validation split's elements) and their result keys
    (`per_label.<Name>.judge_threshold`)."""
    e = config.edit
    if e.judge_thresholds == "fixed":
        return e.threshold, {}
    log("evaluate: the judge's threshold for each label, chosen on the validation split")
    probs = sections.judge_probabilities(judge, pipeline.example_batches(val_images, BATCH))
    thresholds = balanced_thresholds(probs, val_emb["clean_labels"], e.threshold)
    return thresholds, {f"per_label.{name}.judge_threshold": float(t)
                        for name, t in zip(names, thresholds, strict=True)}


def _reconstruction_and_edits(run: RunDir, config: RunConfig, names, test_images, test_emb,
                              probs, judge, train_emb, threshold):
    """Sections 4.4-4.5 on the held-out split (`test_images`: its elements),
    judged by `judge` at `threshold` (one, or one per label), and their figures
    (`train_emb`: the training labels and embeddings the structured edit reads
    the labels' structure and their effects on the other slots from)."""
    decoder = run.load_model("decoder")
    gaussians = run.label_gaussians()
    seeds = Seeds(config.seed)
    baselines = _baseline_decoders(run, probs)
    embeddings, truth = test_emb["embeddings"], test_emb["clean_labels"]
    e = config.edit
    log("evaluate: reconstructions of the held-out split")
    results = _reconstruction(run, config, names, test_images, test_emb, judge, probs,
                              threshold)
    log(f"evaluate: add/remove/emphasise every label on {e.num_images} held-out embeddings, "
        f"{e.num_generations} generations from labels alone")
    results.update(sections.edit_section(embeddings, truth,
                                         sections.decode_and_judge(decoder, judge), gaussians,
                                         e, seeds, lambda codes: decode(decoder, codes),
                                         threshold))
    n = min(e.protocol_images, len(embeddings))
    structure, context = editing.fit_edit_structure(train_emb["embeddings"], train_emb["labels"],
                                                    names)
    for mode, name in ((None, "flip"), (structure, "flip_structured")):
        log(f"evaluate: the AttGAN/STGAN protocol ({name}): every label of {n} held-out "
            "images flipped, intensity 1 and 2")
        results.update(flip_protocol(
            embeddings[:n], truth[:n], lambda codes: decode(decoder, codes),
            lambda images: np.asarray(judge(images, training=False)), gaussians,
            seeds.protocol, threshold, filter_size=config.decoder.ssim_filter_size,
            structure=mode, name=name, context=context, context_scale=e.context_scale))
    results["flip_structured.context_scale"] = float(e.context_scale)
    rf.save_decoder_figures(run, test_images, names, test_emb, decoder, baselines, gaussians,
                            e, seeds)
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
        split: `"train"`, `"validation"` or `"test"` of `data`.
        out_dir: Output folder (default `RUN_DIR/evaluations/<dataset>-<split>`).

    Returns:
        The flat results dict.
    """
    run = RunDir(run_dir)
    config = run.read_config()
    names = run.label_names()
    data = dataclasses.replace(data, image_size=config.data.image_size)
    other = pipeline.label_names(data)
    if tuple(other) != tuple(names):
        missing = [n for n in names if n not in other]
        raise ValueError(
            f"the {data.dataset} dataset at {data.root} has labels that differ from the run's "
            + (f"(missing: {', '.join(missing)})" if missing else "(same names, other order)")
            + f"; select the run's labels with --set data.attributes={json.dumps(list(names))}")
    out = RunDir(out_dir or run.evaluation_dir(data.dataset, split))
    write_json_atomically(out.file(DATA_FILE), dataclasses.asdict(data))
    # The training embeddings stay on disk (the probe reads them a chunk at a
    # time): evaluation's memory does not grow with the training split.
    train_emb = run.load_embeddings("train", on_disk=("embeddings",))
    classifier = run.load_model("classifier")
    encoder = run.load_model("encoder")
    path = out.embeddings_path(split)
    validation = None
    if run.has_embeddings("validation"):       # runs from before the validation split lack it
        val_emb = run.load_embeddings("validation")
        validation = (val_emb["embeddings"], val_emb["labels"])
    # The split decoded once: its first pass (the embedding) fills a disk cache
    # that section 4.1's clean and occluded passes read.
    with pipeline.held_out_splits(data, (split,), out.cache_dir) as held:
        log(f"evaluate: embedding the {split} split of {data.dataset} ({data.root}) -> {path}")
        extract_embeddings(encoder, pipeline.example_batches(held[split], BATCH), path,
                           progress=Progress(f"evaluate: embedding {split}",
                                             pipeline.split_size(data, split)))
        evaluated = out.load_embeddings(split)
        probe, epochs = sections.fit_probe(train_emb["embeddings"], train_emb["labels"],
                                           config.probe, config.seed, validation)
        results, _ = sections.section_41(
            classifier, pipeline.example_batches(held[split], BATCH),
            train_emb["embeddings"], train_emb["labels"], evaluated["embeddings"],
            evaluated["clean_labels"], names, config, probe)
    results["probe.epochs_chosen"] = float(epochs)
    write_json_atomically(out.file(RESULTS_FILE), results)
    out.write_text(SUMMARY_FILE, format_section_41(config, names, results,
                                                   f"{data.dataset} {split} split ({data.root})"))
    return results


# === The whole chain ===

def run_all(config: RunConfig, run_dir: str, strategy=None) -> dict[str, float]:
    """Train, embed, train the decoders and the judge, evaluate and report."""
    strategy = strategy or tf.distribute.get_strategy()
    train(config, run_dir, strategy)
    chief = is_chief(strategy)
    if chief:
        embed(run_dir)
    barrier(strategy)           # the other workers wait for the chief's embeddings
    train_decoders(run_dir, strategy)
    results: dict[str, float] = {}
    if chief:
        train_judge(run_dir)
        results = evaluate(run_dir)
        from kerasolr.report import write_report

        log(f"report: {write_report(run_dir)}")
    # The other workers stay until the chief is done: a worker that exits early
    # is reported to the chief as a crashed task.
    barrier(strategy)
    return results
