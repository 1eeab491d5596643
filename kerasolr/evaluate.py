"""The paper's sections 4.1-4.5 as functions of arrays and models.

Each function takes embeddings, labels, predictions or models (and batches of
images where a pass over a split is needed) and returns a flat
`dict[str, float]` of results keys (`classifier.mean_accuracy`,
`per_label.<Name>.probe_accuracy`, ...), so the evaluate stage
(`kerasolr.run.evaluate`), `evaluate_on` and `kerasolr compare` compute every
figure with the same code. Nothing here reads or writes a run directory.

Reference: paper sections 4.1-4.5.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from kerasolr import occlusion, retrieval
from kerasolr.embeddings import predict_images
from kerasolr.evaluation.accuracy import majority_predictions, multilabel_accuracy
from kerasolr.evaluation.editing import (
    edit_metrics,
    generation_diversity,
    generation_metrics,
    same_label_diversity,
)
from kerasolr.evaluation.probe import fit_probe as train_linear_probe
from kerasolr.evaluation.probe import probe_predictions
from kerasolr.evaluation.reconstruction import reconstruction_metrics
from kerasolr.evaluation.slots import (
    correlation_matrix,
    matrix_agreement,
    norm_correlation_matrix,
    slot_norm_metrics,
)
from kerasolr.models.decoder import crop_to, decode

NORM_MATRIX = "slot norms (OLR)"
LABEL_MATRIX = "labels"
TRUTH_MATRIX = "generator truth"


# === Section 4.1: classifier, linear probe, majority, slot norms ===

def occluded_batches(batches: tf.data.Dataset, seed: int, occlusion_min: float,
                     occlusion_max: float) -> tf.data.Dataset:
    """The images of batched element dicts, each covered by one random
    rectangle, seeded by `(seed, the batch's first id)`: reproducible, and
    different per batch."""

    def occlude_batch(element):
        batch_seed = tf.stack([tf.constant(seed, tf.int64), element["id"][0]])
        uniforms = tf.random.stateless_uniform([tf.shape(element["image"])[0], 5], batch_seed)
        return {"image": occlusion.occlude(element["image"], uniforms, occlusion_min,
                                           occlusion_max)}

    return batches.map(occlude_batch)


def classifier_metrics(truth, probs, occluded_probs, names) -> dict[str, float]:
    """`classifier.*` on clean images (per label too) and
    `classifier.occluded_mean_accuracy` on occluded ones."""
    results = multilabel_accuracy(truth, probs, names, "classifier")
    occluded = multilabel_accuracy(truth, occluded_probs, names, "classifier_occluded")
    results["classifier.occluded_mean_accuracy"] = occluded["classifier_occluded.mean_accuracy"]
    return results


def fit_probe(train_embeddings, train_labels, probe_config, seed: int, validation=None
              ) -> tuple[keras.Model, int]:
    """The linear probe of section 4.1 on the training embeddings and their
    (possibly noisy) labels, its epochs chosen on `validation`
    (`(embeddings, labels)`, see `ProbeConfig`); returns `(probe, epochs)`."""
    p = probe_config
    return train_linear_probe(train_embeddings, train_labels, p.epochs, p.batch_size,
                              p.learning_rate, seed=seed, validation=validation,
                              patience=p.patience)


def probe_probabilities(train_embeddings, train_labels, embeddings, probe_config,
                        seed: int, validation=None) -> np.ndarray:
    """`(m, L)` probabilities on `embeddings` of the probe `fit_probe` trains."""
    probe, _ = fit_probe(train_embeddings, train_labels, probe_config, seed, validation)
    return probe_predictions(probe, embeddings)


def probe_metrics(train_embeddings, train_labels, embeddings, truth, names, probe_config,
                  seed: int, validation=None) -> dict[str, float]:
    """`probe.*`: the accuracy of `probe_probabilities` against `truth`."""
    probs = probe_probabilities(train_embeddings, train_labels, embeddings, probe_config, seed,
                                validation)
    return multilabel_accuracy(truth, probs, names, "probe")


def disagreements(truth, classifier_probs, probe_probs, threshold: float = 0.5
                  ) -> dict[str, np.ndarray]:
    """Where the probe and the classifier disagree and one of them is right
    (paper Fig. 3): `(m, L)` booleans `"probe_right"` (the probe right, the
    classifier wrong) and `"classifier_right"` (the reverse)."""
    truth = np.asarray(truth) > 0.5
    classifier_ok = (np.asarray(classifier_probs) > threshold) == truth
    probe_ok = (np.asarray(probe_probs) > threshold) == truth
    return {"probe_right": probe_ok & ~classifier_ok, "classifier_right": classifier_ok & ~probe_ok}


def disagreement_metrics(cases: dict[str, np.ndarray], names) -> dict[str, float]:
    """Counts of `disagreements`: `disagreement.{probe_right,classifier_right}`
    over all label decisions, and `per_label.<Name>.{probe_right,classifier_right}`."""
    results: dict[str, float] = {}
    for kind, mask in cases.items():
        results[f"disagreement.{kind}"] = float(mask.sum())
        for label, name in enumerate(names):
            results[f"per_label.{name}.{kind}"] = float(mask[:, label].sum())
    return results


def majority_metrics(train_labels, truth, names) -> dict[str, float]:
    """`majority.*`: every label predicted as its most common training value."""
    return multilabel_accuracy(truth, majority_predictions(train_labels, len(truth)), names,
                               "majority")


def slot_metrics(embeddings, truth, names) -> dict[str, float]:
    """`slots.*` (norm AUC, absent/present norm ratio) and
    `correlation.norm_vs_label_pearson`: the Pearson r of the off-diagonal
    entries of the slot-norm and label correlation matrices."""
    results = slot_norm_metrics(embeddings, truth, names)
    label_corr = correlation_matrix(truth)
    results["correlation.norm_vs_label_pearson"] = matrix_agreement(
        norm_correlation_matrix(embeddings), label_corr)
    return results


def section_41(classifier, batches: tf.data.Dataset, train_embeddings, train_labels,
               embeddings, truth, names, config, probe: keras.Model | None = None
               ) -> tuple[dict[str, float], np.ndarray]:
    """Paper section 4.1 on one split.

    Args:
        classifier: The run's classifier `(B, S, S, 3) -> (B, L)`.
        batches: Batched element dicts of the split, in the order of `embeddings`.
        train_embeddings: `(n, L, k)` embeddings of the training split.
        train_labels: `(n, L)` its training labels.
        embeddings: `(m, L, k)` embeddings of the split evaluated.
        truth: `(m, L)` its clean labels.
        names: The L label names.
        config: The run's `RunConfig` (occlusion bounds, probe settings, seed).
        probe: The trained linear probe (`fit_probe`); `None` trains one for
            `config.probe.epochs` epochs.

    Returns:
        `(results, {"classifier": its (m, L) probabilities on the clean images,
        "probe": the probe's})`.
    """
    s = config.siamese
    probs = predict_images(classifier, batches)
    occluded = predict_images(classifier, occluded_batches(batches, config.seed,
                                                           s.occlusion_min, s.occlusion_max))
    results = classifier_metrics(truth, probs, occluded, names)
    if probe is None:
        probe, _ = fit_probe(train_embeddings, train_labels, config.probe, config.seed)
    probe_probs = probe_predictions(probe, embeddings)
    results.update(multilabel_accuracy(truth, probe_probs, names, "probe"))
    results.update(majority_metrics(train_labels, truth, names))
    results["probe.gap_to_classifier"] = (results["classifier.mean_accuracy"]
                                          - results["probe.mean_accuracy"])
    results.update(slot_metrics(embeddings, truth, names))
    results.update(disagreement_metrics(disagreements(truth, probs, probe_probs), names))
    return results, {"classifier": probs, "probe": probe_probs}


def retrieval_metrics(embeddings, truth, names, probs=None, query_fraction: float = 0.75,
                      seed: int = 0) -> dict[str, float]:
    """Retrieval with each label as the criterion, leave-one-out over the split.

    `retrieval.{map,ndcg,nn,map_corrected}_mean` rank by each label's slot,
    `retrieval.whole_*` by the whole embedding and, given the classifier's
    `(n, L)` probabilities, `retrieval.classifier_*` by the classifier's own
    output for the label (the obvious competitor of a slot);
    `retrieval.chance_map_mean` is a random ranking's expected mAP, and every
    `map_corrected` is `(mAP - chance) / (1 - chance)`. The retrieval paper's
    protocol beside it: a seeded `query_fraction` of the split queries the
    rest (`retrieval.query_db_*` by the slot, `retrieval.classifier_query_db_*`
    by the classifier's output).
    """
    results: dict[str, float] = {}
    for whole in (False, True):
        results.update(retrieval.label_retrieval_metrics(embeddings, truth, names, whole))
    embeddings = np.asarray(embeddings, np.float32)
    k = embeddings.shape[-1]
    slots = [np.arange(label * k, (label + 1) * k) for label in range(len(names))]
    queries, _ = retrieval.query_database(len(embeddings), query_fraction, seed)
    results.update(retrieval.dimension_retrieval_metrics(
        retrieval.codes(embeddings), truth, names, slots, "query_db_", queries))
    if probs is not None:
        outputs = [[label] for label in range(len(names))]
        results.update(retrieval.dimension_retrieval_metrics(probs, truth, names, outputs,
                                                             "classifier_"))
        results.update(retrieval.dimension_retrieval_metrics(
            probs, truth, names, outputs, "classifier_query_db_", queries))
    chance = [retrieval.chance_map(np.asarray(truth)[:, label] > 0.5)
              for label in range(len(names))]
    for name, value in zip(names, chance, strict=True):
        results[f"per_label.{name}.retrieval_chance_map"] = value
    results["retrieval.chance_map_mean"] = float(np.mean(chance))
    return results


# === Sections 4.2-4.3: norm correlations and PCA ===

def correlation_matrices(embeddings, labels, truth_corr=None) -> dict[str, np.ndarray]:
    """The slot-norm correlation matrix, the labels' and (if given) the
    generator's exact one, keyed by their figure titles."""
    matrices = {NORM_MATRIX: norm_correlation_matrix(embeddings),
                LABEL_MATRIX: correlation_matrix(labels)}
    if truth_corr is not None:
        matrices[TRUTH_MATRIX] = truth_corr
    return matrices


def correlation_metrics(norm_corr, truth_corr=None) -> dict[str, float]:
    """`correlation.norm_vs_truth_pearson` where the true correlations are known."""
    if truth_corr is None:
        return {}
    return {"correlation.norm_vs_truth_pearson": matrix_agreement(norm_corr, truth_corr)}


# === Section 4.4: reconstructions ===

def reconstruction_section(batches: tf.data.Dataset, embeddings, truth, decoder, judge, names,
                           filter_size: int, threshold: float = 0.5,
                           baselines=None) -> dict[str, float]:
    """SSIM / PSNR of the decoder's reconstructions (and the baselines'), and
    the judge's accuracy on real images and on the reconstructions, in one pass.

    Args:
        batches: Batched element dicts of the split, in the order of `embeddings`.
        embeddings: `(m, L, k)` embeddings of the split.
        truth: `(m, L)` clean labels.
        decoder: The OLR decoder `(B, L, k) -> {"image", ...}`.
        judge: The independent attribute classifier at the decoder's output size.
        names: The L label names.
        filter_size: SSIM window.
        threshold: Judge probability above which a label is present, one for
            all labels or `(L,)`, one each.
        baselines: `{key: (model, codes or None)}`: each baseline decoder and
            its `(m, ...)` inputs (`None`: it takes the images, an autoencoder);
            scored as `recon.<key>_{ssim,psnr}`.

    Returns:
        `recon.{ssim,psnr}`, `recon.<key>_{ssim,psnr}`, `judge.*`,
        `recon.judge_accuracy`, `recon.judge_balanced_accuracy` and
        `per_label.<Name>.judge_on_recon_*`.
    """
    baselines = baselines or {}
    size = int(decoder.output["image"].shape[1])
    sums: dict[str, float] = {}
    position = 0
    judged: dict[str, list] = {"judge": [], "recon": []}
    for batch in batches:
        images = batch["image"].numpy()
        target = crop_to(images, size)
        n = len(images)
        rows = slice(position, position + n)
        # Result-key prefix -> reconstructions: recon.ssim, recon.probs_baseline_ssim, ...
        outputs = {"recon.": decode(decoder, embeddings[rows])}
        for key, (model, codes) in baselines.items():
            outputs[f"recon.{key}_"] = decode(model, images if codes is None else codes[rows])
        judged["judge"].append(judge(target, training=False).numpy())
        judged["recon"].append(judge(outputs["recon."], training=False).numpy())
        for prefix, reconstructions in outputs.items():
            metrics = reconstruction_metrics(target, reconstructions, "m", filter_size)
            for metric in ("ssim", "psnr"):
                sums[prefix + metric] = sums.get(prefix + metric, 0.0) + metrics[f"m.{metric}"] * n
        position += n
    results = {key: value / position for key, value in sums.items()}
    results.update(multilabel_accuracy(truth, np.concatenate(judged["judge"]) > threshold,
                                       names, "judge"))
    recon_judged = multilabel_accuracy(truth, np.concatenate(judged["recon"]) > threshold,
                                       names, "judge_on_recon")
    results["recon.judge_accuracy"] = recon_judged.pop("judge_on_recon.mean_accuracy")
    results["recon.judge_balanced_accuracy"] = recon_judged.pop(
        "judge_on_recon.balanced_accuracy")
    results.update(recon_judged)        # per_label.<Name>.judge_on_recon_accuracy
    return results


def judge_probabilities(judge, batches: tf.data.Dataset) -> np.ndarray:
    """`(m, L)`: the judge's probabilities on a split's real images (batched
    element dicts), cropped centrally to the judge's input side."""
    size = int(judge.input_shape[1])
    return predict_images(judge, batches.map(lambda batch: {"image": crop_to(batch["image"],
                                                                                size)}))


# === Section 4.5: edits and generations ===

def decode_and_judge(decoder, judge):
    """`(n, L, k) embeddings -> (n, L)` the judge's probabilities on their decoded images."""

    def judged(embeddings):
        return np.asarray(judge(decode(decoder, embeddings), training=False))

    return judged


DIVERSITY_SETS = 32       # label sets whose samples are compared for `generation.diversity`


def edit_section(embeddings, truth, judged, gaussians, edit_config, seeds, decode_fn=None,
                 threshold=None) -> dict[str, float]:
    """Adds, removes and emphasises every label on the first
    `edit_config.num_images` embeddings (`edit.*`), and generates from the first
    `edit_config.num_generations` label sets (`generation.*`), judged alike.

    Args:
        embeddings: `(m, L, k)` held-out embeddings.
        truth: `(m, L)` their clean labels (the generations' label sets).
        judged: `(n, L, k) -> (n, L)` judge probabilities on decoded embeddings
            (`decode_and_judge`).
        gaussians: The run's `LabelGaussians`.
        edit_config: The run's `EditConfig`.
        seeds: The run's `Seeds`.
        decode_fn: `(n, L, k) -> images`; with it, `generation.diversity`
            (`evaluation.editing.generation_diversity`) of the first
            `DIVERSITY_SETS` label sets, and its reference
            `generation.diversity_reference` (`same_label_diversity`: decoded
            real images that share a label vector; over
            `generation.diversity_reference_pairs` pairs).
        threshold: The judge's thresholds (one, or `(L,)`); default
            `edit_config.threshold`.
    """
    e = edit_config
    threshold = e.threshold if threshold is None else threshold
    n_edit = min(e.num_images, len(embeddings))
    results = edit_metrics(embeddings[:n_edit], judged, gaussians, seeds.edits, threshold,
                           e.scale)
    results.update(generation_metrics(truth[:e.num_generations], judged, gaussians,
                                      seeds.generation, threshold))
    if decode_fn is not None:
        results["generation.diversity"] = generation_diversity(
            truth[:min(DIVERSITY_SETS, e.num_generations)], decode_fn, gaussians,
            seeds.diversity)
        reference, pairs = same_label_diversity(embeddings, truth, decode_fn, seeds.diversity)
        results["generation.diversity_reference"] = reference
        results["generation.diversity_reference_pairs"] = float(pairs)
    return results
