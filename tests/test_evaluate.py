"""`kerasolr.evaluate`: sections 4.1-4.5 as functions of arrays and models, on known answers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr import editing
from kerasolr import evaluate as sections
from kerasolr.config import EditConfig, ProbeConfig
from kerasolr.seeds import Seeds

NAMES = ("Smiling", "Male", "Eyeglasses")


def _labels(n=200, seed=0, prevalence=(0.5, 0.3, 0.2)):
    rng = np.random.default_rng(seed)
    return (rng.random((n, len(prevalence))) < np.asarray(prevalence)).astype(np.float32)


def _slot_embeddings(labels, k=4, seed=0, noise=0.02):
    """Label l present: its slot is a unit vector (plus small noise); absent: near zero."""
    rng = np.random.default_rng(seed)
    directions = np.eye(k, dtype=np.float32)[: labels.shape[1]]
    emb = labels[:, :, None] * directions[None]
    return (emb + noise * rng.standard_normal(emb.shape)).astype(np.float32)


def test_perfect_embeddings_give_a_probe_near_one():
    train, test = _labels(400, 0), _labels(200, 1)
    results = sections.probe_metrics(_slot_embeddings(train, seed=2), train,
                                     _slot_embeddings(test, seed=3), test, NAMES,
                                     ProbeConfig(epochs=60, batch_size=64, learning_rate=3e-2),
                                     seed=0)
    assert results["probe.mean_accuracy"] > 0.98
    assert results["per_label.Eyeglasses.probe_accuracy"] > 0.97


def test_zero_embeddings_give_the_majority_baseline():
    train, test = _labels(400, 0), _labels(200, 1)
    majority = sections.majority_metrics(train, test, NAMES)
    probe = sections.probe_metrics(np.zeros((400, 3, 4), np.float32), train,
                                   np.zeros((200, 3, 4), np.float32), test, NAMES,
                                   ProbeConfig(epochs=40, batch_size=64, learning_rate=3e-2),
                                   seed=0)
    # Only the bias can learn: every label predicted as its most common training value.
    assert probe["probe.mean_accuracy"] == pytest.approx(majority["majority.mean_accuracy"])
    assert probe["probe.balanced_accuracy"] == pytest.approx(0.5)
    expected = np.mean(test == (train.mean(0) > 0.5))
    assert majority["majority.mean_accuracy"] == pytest.approx(expected)


def test_classifier_metrics_on_known_predictions():
    truth = _labels(100, 4)
    results = sections.classifier_metrics(truth, truth * 0.9 + 0.05, 1.0 - truth, NAMES)
    assert results["classifier.mean_accuracy"] == 1.0
    assert results["classifier.balanced_accuracy"] == 1.0
    assert results["classifier.occluded_mean_accuracy"] == 0.0
    assert results["per_label.Male.classifier_accuracy"] == 1.0


def test_slot_metrics_of_label_shaped_slots():
    truth = _labels(300, 5)
    results = sections.slot_metrics(_slot_embeddings(truth, noise=0.01), truth, NAMES)
    assert results["slots.norm_auc_min"] == 1.0
    assert results["slots.absent_present_norm_ratio"] < 0.1
    # Slot norms are the labels (up to tiny noise): their correlations agree.
    assert results["correlation.norm_vs_label_pearson"] > 0.99


def test_retrieval_by_label_shaped_slots_is_perfect():
    truth = _labels(120, 6)
    noisy_probs = np.clip(truth + np.random.default_rng(0).normal(0, 0.4, truth.shape), 0, 1)
    results = sections.retrieval_metrics(_slot_embeddings(truth, noise=0.01), truth, NAMES,
                                         noisy_probs)
    assert results["retrieval.map_mean"] == pytest.approx(1.0)
    assert results["retrieval.map_corrected_mean"] == pytest.approx(1.0)
    # The classifier's own output, noisy here, ranks worse than the clean slots; chance is
    # the expected mAP of a random ranking for these prevalences.
    assert results["retrieval.classifier_map_mean"] < results["retrieval.map_mean"]
    assert 0.5 < results["retrieval.chance_map_mean"] < results["retrieval.classifier_map_mean"]
    assert results["retrieval.nn_mean"] == pytest.approx(1.0)
    # The whole embedding mixes every label: worse than the label's own slot.
    assert results["retrieval.whole_map_mean"] < results["retrieval.map_mean"]


def test_correlation_matrices_and_truth_agreement():
    truth = _labels(300, 7)
    emb = _slot_embeddings(truth, noise=0.01)
    matrices = sections.correlation_matrices(emb, truth)
    assert set(matrices) == {sections.NORM_MATRIX, sections.LABEL_MATRIX}
    assert sections.correlation_metrics(matrices[sections.NORM_MATRIX]) == {}
    label_corr = matrices[sections.LABEL_MATRIX]
    with_truth = sections.correlation_matrices(emb, truth, label_corr)
    np.testing.assert_array_equal(with_truth[sections.TRUTH_MATRIX], label_corr)
    agreement = sections.correlation_metrics(matrices[sections.NORM_MATRIX], label_corr)
    assert agreement["correlation.norm_vs_truth_pearson"] > 0.99


def test_occluded_batches_are_seeded_and_cover_a_rectangle():
    images = np.ones((4, 16, 16, 3), np.float32)
    batches = tf.data.Dataset.from_tensor_slices(
        {"image": images, "id": np.arange(4, dtype=np.int64)}).batch(2)
    first = [b["image"].numpy() for b in sections.occluded_batches(batches, 0, 0.33, 0.66)]
    again = [b["image"].numpy() for b in sections.occluded_batches(batches, 0, 0.33, 0.66)]
    other = [b["image"].numpy() for b in sections.occluded_batches(batches, 1, 0.33, 0.66)]
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(again))
    assert not np.array_equal(np.concatenate(first), np.concatenate(other))
    covered = (np.concatenate(first) != 1.0).any(-1).mean((1, 2))
    assert np.all((covered >= 0.33 ** 2 - 0.05) & (covered <= 0.66 ** 2 + 0.05))


def _images_and_truth(n=12, size=16, seed=8):
    """Images whose label l is 'channel l is bright on average'."""
    rng = np.random.default_rng(seed)
    truth = _labels(n, seed, (0.5, 0.5, 0.5))
    images = rng.random((n, size, size, 3)).astype(np.float32) * 0.3
    images += truth[:, None, None, :] * 0.6
    return images, truth


def _channel_judge(size):
    """Label l present iff the mean of channel l exceeds 0.45."""
    inputs = keras.Input((size, size, 3))
    means = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Lambda(lambda m: keras.ops.sigmoid(200.0 * (m - 0.45)))(means)
    return keras.Model(inputs, outputs)


def _reshaping_decoder(size, k):
    """A 'decoder' whose output is its (3, k) input reshaped to the image it came from."""
    inputs = keras.Input((3, k))
    image = keras.layers.Reshape((size, size, 3))(inputs)
    return keras.Model(inputs, {"image": image})


def test_reconstruction_section_with_exact_reconstructions():
    size = 16
    images, truth = _images_and_truth(size=size)
    k = size * size
    embeddings = images.reshape(len(images), 3, k)        # decodes back to the image exactly
    batches = tf.data.Dataset.from_tensor_slices({"image": images}).batch(5)
    inputs = keras.Input((size, size, 3))
    identity = keras.Model(inputs, {"image": keras.layers.Identity()(inputs)})
    results = sections.reconstruction_section(
        batches, embeddings, truth, _reshaping_decoder(size, k), _channel_judge(size), NAMES,
        filter_size=7, baselines={"autoencoder_baseline": (identity, None)})
    assert results["recon.ssim"] == pytest.approx(1.0, abs=1e-5)
    assert results["recon.autoencoder_baseline_ssim"] == pytest.approx(1.0, abs=1e-5)
    assert results["judge.mean_accuracy"] == 1.0
    assert results["recon.judge_accuracy"] == 1.0
    assert results["per_label.Smiling.judge_on_recon_accuracy"] == 1.0

    # A decoder that loses the images: SSIM far from 1, and the judge on it no better
    # than the majority of the truth.
    blank = np.zeros_like(embeddings)
    worse = sections.reconstruction_section(
        batches, blank, truth, _reshaping_decoder(size, k), _channel_judge(size), NAMES,
        filter_size=7)
    assert worse["recon.ssim"] < 0.2
    assert worse["recon.judge_accuracy"] == pytest.approx(float(np.mean(truth == 0)))


def test_edit_section_with_a_judge_that_reads_slot_norms():
    # The judge sees label l iff slot l has norm > 0.5, so adding a sample of the
    # label's Gaussian (norm ~1) always succeeds, removing (norm 0) always
    # succeeds, nothing else changes, and generations show exactly what was asked.
    train = _labels(300, 9)
    gaussians = editing.fit_label_gaussians(_slot_embeddings(train, seed=1), train, NAMES)
    test = _labels(40, 10)
    embeddings = _slot_embeddings(test, seed=2)

    def judged(emb):
        return 1.0 / (1.0 + np.exp(-100.0 * (np.linalg.norm(emb, axis=-1) - 0.5)))

    results = sections.edit_section(embeddings, test, judged, gaussians,
                                    EditConfig(num_images=30, num_generations=20), Seeds(0))
    assert results["edit.num_images"] == 30
    assert results["edit.add_success"] == 1.0
    assert results["edit.remove_success"] == 1.0
    assert results["edit.preservation"] == 1.0
    assert results["generation.accuracy"] == 1.0
    assert results["generation.unwanted_absent"] == 1.0
    assert results["generation.exact_match"] == 1.0


def test_disagreements_count_who_is_right_where_they_differ():
    truth = np.array([[1, 0], [1, 1], [0, 0], [0, 1]], np.float32)
    # The classifier is wrong at (0, 1), (1, 0), (3, 1); the probe at (1, 1), (2, 0), (3, 1).
    classifier = np.array([[0.9, 0.8], [0.2, 0.9], [0.1, 0.1], [0.3, 0.2]])
    probe = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.1], [0.2, 0.3]])
    cases = sections.disagreements(truth, classifier, probe)
    np.testing.assert_array_equal(cases["probe_right"], [[0, 1], [1, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(cases["classifier_right"], [[0, 0], [0, 1], [1, 0], [0, 0]])
    counts = sections.disagreement_metrics(cases, ["a", "b"])
    assert counts["disagreement.probe_right"] == 2 and counts["disagreement.classifier_right"] == 2
    assert counts["per_label.a.probe_right"] == 1 and counts["per_label.a.classifier_right"] == 1
    assert counts["per_label.b.probe_right"] == 1 and counts["per_label.b.classifier_right"] == 1


def test_balanced_thresholds_known_answers():
    from kerasolr.evaluation.accuracy import balanced_thresholds

    probs = np.array([[0.1, 0.05, 0.1, 0.3, 0.2],
                      [0.2, 0.10, 0.2, 0.3, 0.4],
                      [0.3, 0.15, 0.7, 0.3, 0.6],
                      [0.4, 0.30, 0.9, 0.3, 0.8]])
    truth = np.array([[0, 0, 0, 0, 1],
                      [0, 0, 1, 1, 1],
                      [1, 0, 0, 0, 1],
                      [1, 1, 1, 1, 1]])
    np.testing.assert_allclose(balanced_thresholds(probs, truth), [
        0.25,     # separable: between the classes
        0.225,    # one rare positive at 0.30, never above 0.5: found anyway
        0.80,     # two equally good cuts (0.15, 0.80): the one nearer 0.5
        0.50,     # one probability for every image: no cut, the default
        0.50])    # one class only: the default
    assert balanced_thresholds(probs, truth, default=0.3)[4] == 0.3
    with pytest.raises(ValueError, match="do not match"):
        balanced_thresholds(probs, truth[:, :2])


def test_judge_thresholds_chosen_on_validation_lift_a_dim_judge():
    from kerasolr.config import RunConfig, override
    from kerasolr.run import judge_thresholds

    size = 16
    images, truth = _images_and_truth(n=24, size=size)
    # Right about every label, but never above 0.4: at 0.5 it says "absent" everywhere.
    inputs = keras.Input((size, size, 3))
    means = keras.layers.GlobalAveragePooling2D()(inputs)
    dim = keras.Model(inputs, keras.layers.Lambda(
        lambda m: 0.4 * keras.ops.sigmoid(200.0 * (m - 0.45)))(means))
    elements = tf.data.Dataset.from_tensor_slices({"image": images})
    fixed, keys = judge_thresholds(RunConfig(), NAMES, dim, elements, {"clean_labels": truth})
    assert fixed == 0.5 and keys == {}
    config = override(RunConfig(), ["edit.judge_thresholds=validation"])
    chosen, keys = judge_thresholds(config, NAMES, dim, elements, {"clean_labels": truth})
    assert chosen.shape == (3,) and np.all((chosen > 0.0) & (chosen < 0.4))
    assert keys == {f"per_label.{n}.judge_threshold": float(t)
                    for n, t in zip(NAMES, chosen, strict=True)}
    k = size * size
    decoder, embeddings = _reshaping_decoder(size, k), images.reshape(len(images), 3, k)
    batches = elements.batch(5)
    at_half = sections.reconstruction_section(batches, embeddings, truth, decoder, dim, NAMES, 7)
    at_chosen = sections.reconstruction_section(batches, embeddings, truth, decoder, dim, NAMES,
                                                7, chosen)
    assert at_half["judge.balanced_accuracy"] == 0.5
    assert at_chosen["judge.balanced_accuracy"] == 1.0
    assert at_chosen["recon.judge_balanced_accuracy"] == 1.0
    with pytest.raises(ValueError, match="edit.judge_thresholds='best' is invalid"):
        override(RunConfig(), ["edit.judge_thresholds=best"])


def test_edit_section_takes_one_threshold_per_label():
    train = _labels(300, 9)
    gaussians = editing.fit_label_gaussians(_slot_embeddings(train, seed=1), train, NAMES)
    test = _labels(40, 10)
    embeddings = _slot_embeddings(test, seed=2)

    def dim(emb):          # reads the slots right, but never above 0.3
        return 0.1 + 0.2 / (1.0 + np.exp(-100.0 * (np.linalg.norm(emb, axis=-1) - 0.5)))

    config = EditConfig(num_images=30, num_generations=20)
    at_half = sections.edit_section(embeddings, test, dim, gaussians, config, Seeds(0))
    per_label = sections.edit_section(embeddings, test, dim, gaussians, config, Seeds(0),
                                      threshold=np.full(3, 0.2))
    assert at_half["edit.add_success"] == 0.0 and np.isnan(at_half["edit.remove_success"])
    assert per_label["edit.add_success"] == 1.0 and per_label["edit.remove_success"] == 1.0
    assert per_label["generation.exact_match"] == 1.0
