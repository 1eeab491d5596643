"""Baselines: KL terms, PSE annotation, mutual-information selection, the
shared representation metrics, and the VAE trainer, with known answers."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr import losses, retrieval
from kerasolr.baselines import (
    VAETrainer,
    annotate,
    autoencoder_codes,
    build_gaussian_encoder,
    build_label_encoder,
    candidate_label_sets,
    classifier_features,
    gaussian_log_likelihoods,
)
from kerasolr.compare import format_table, representation_metrics
from kerasolr.config import ProbeConfig
from kerasolr.evaluation.mutual_information import mutual_information, select_dimensions
from kerasolr.models import build_classifier
from kerasolr.models.decoder import build_decoder

NAMES = ("A", "B", "C")


# === KL terms ===

def test_kl_of_a_distribution_with_itself_is_zero():
    mean = np.array([[0.3, -1.0, 2.0]], np.float32)
    log_var = np.array([[0.1, -2.0, 1.0]], np.float32)
    np.testing.assert_allclose(losses.gaussian_kl(mean, log_var, mean, log_var), [0.0],
                               atol=1e-6)


def test_kl_to_the_standard_normal_has_its_known_values():
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension; KL(N(0, e) || N(0, 1)) = (e - 2) / 2.
    kl = losses.gaussian_kl(np.ones((1, 4), np.float32), np.zeros((1, 4), np.float32))
    np.testing.assert_allclose(kl, [2.0], rtol=1e-6)
    kl = losses.gaussian_kl(np.zeros((1, 1), np.float32), np.ones((1, 1), np.float32))
    np.testing.assert_allclose(kl, [(math.e - 2.0) / 2.0], rtol=1e-6)


def test_kl_between_two_gaussians_matches_the_closed_form():
    # KL(N(0, 1) || N(2, 4)) = log 2 + (1 + 4) / 8 - 1/2.
    kl = losses.gaussian_kl(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32),
                            np.full((1, 1), 2.0, np.float32),
                            np.full((1, 1), math.log(4.0), np.float32))
    np.testing.assert_allclose(kl, [math.log(2.0) + 5.0 / 8.0 - 0.5], rtol=1e-6)


def test_sse_sums_every_pixel():
    target = np.zeros((2, 3, 3, 3), np.float32)
    pred = np.full((2, 3, 3, 3), 0.5, np.float32)
    np.testing.assert_allclose(losses.gaussian_sse(target, pred), [27 * 0.25] * 2)


# === PSE annotation ===

def test_log_likelihoods_match_the_direct_formula():
    rng = np.random.default_rng(0)
    x, mu, log_var = rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    direct = np.array([[np.sum(-0.5 * ((xi - m) ** 2 / np.exp(v) + v + math.log(2 * math.pi)))
                        for m, v in zip(mu, log_var, strict=True)] for xi in x])
    np.testing.assert_allclose(gaussian_log_likelihoods(x, mu, log_var), direct, rtol=1e-10)


def test_annotation_picks_the_candidate_whose_gaussian_holds_the_image():
    candidates = np.array([[0, 0], [1, 0], [1, 1]], np.float32)
    means = np.array([[0.0, 0.0], [5.0, 0.0], [5.0, 5.0]])
    log_vars = np.zeros((3, 2))
    images = np.array([[4.8, 0.3], [0.1, -0.2], [5.2, 4.9], [5.0, 0.1]])
    np.testing.assert_array_equal(annotate(images, means, log_vars, candidates, chunk=3),
                                  candidates[[1, 0, 2, 1]])


def test_annotation_weighs_variances():
    # Equidistant from both means, but the broad Gaussian gives the higher likelihood
    # far out: x = 3 is 3 sigmas from N(0, 1) and 1 sigma from N(6, 9).
    chosen = annotate(np.array([[3.0]]), np.array([[0.0], [6.0]]),
                      np.array([[0.0], [math.log(9.0)]]), np.array([[0.0], [1.0]]))
    assert chosen[0, 0] == 1.0


def test_candidates_are_distinct_label_vectors_most_frequent_first():
    labels = np.array([[0, 1], [1, 1], [0, 1], [1, 0], [1, 1], [0, 1]])
    np.testing.assert_array_equal(candidate_label_sets(labels), [[0, 1], [1, 1], [1, 0]])
    np.testing.assert_array_equal(candidate_label_sets(labels, max_candidates=2),
                                  [[0, 1], [1, 1]])


# === Mutual information and dimension selection ===

def test_mutual_information_known_answers():
    labels = np.tile([[0], [1]], (500, 1))                          # exactly balanced
    codes = np.c_[labels[:, 0] * 3.0 - 1.0, np.zeros(1000), np.arange(1000) % 7]
    mi = mutual_information(codes, labels, bins=8)
    assert mi.shape == (1, 3)
    assert mi[0, 0] == pytest.approx(math.log(2.0), abs=1e-12)     # a copy of the label
    assert mi[0, 1] == 0.0                                          # a constant
    assert mi[0, 2] < 0.01                                          # unrelated
    rng = np.random.default_rng(0)
    noisy = mutual_information(rng.normal(size=(4000, 2)), rng.integers(0, 2, (4000, 2)), 16)
    assert noisy.max() < 0.01


def test_selection_keeps_dimensions_above_the_mean():
    information = np.array([[0.6, 0.0, 0.01, 0.5], [0.1, 0.1, 0.1, 0.1]])
    selected = select_dimensions(information)
    np.testing.assert_array_equal(selected[0], [0, 3])
    np.testing.assert_array_equal(selected[1], [0, 1, 2, 3])       # all equal: all kept


def test_mutual_information_rejects_mismatched_rows():
    with pytest.raises(ValueError, match="3 codes but 2 label rows"):
        mutual_information(np.zeros((3, 2)), np.zeros((2, 1)))


# === Retrieval by chosen dimensions and the shared metrics ===

def _toy(n=200, seed=0):
    """Codes whose dimension j copies label j (j < 3), then 5 noise dimensions."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, (n, 3)).astype(np.float32)
    codes = np.c_[labels * 4.0, rng.normal(size=(n, 5))].astype(np.float32)
    return codes, labels


def test_ranking_by_a_labels_own_dimension_is_perfect():
    codes, labels = _toy()
    r = retrieval.dimension_retrieval_metrics(codes, labels, NAMES, [[0], [1], [2]], "mi_")
    assert r["retrieval.mi_map_mean"] == pytest.approx(1.0)
    assert r["per_label.B.mi_retrieval_nn"] == pytest.approx(1.0)
    whole = retrieval.dimension_retrieval_metrics(codes, labels, NAMES)
    assert whole["retrieval.map_mean"] < 0.95      # the other labels and noise interfere


def test_label_retrieval_metrics_is_ranking_by_slot_dimensions():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(40, 3, 2)).astype(np.float32)
    labels = rng.integers(0, 2, (40, 3))
    by_slot = retrieval.label_retrieval_metrics(embeddings, labels, NAMES)
    same = retrieval.dimension_retrieval_metrics(
        embeddings.reshape(40, 6), labels, NAMES, [[0, 1], [2, 3], [4, 5]])
    assert by_slot == same


def test_representation_metrics_on_known_representations():
    codes, labels = _toy(400)
    probe = ProbeConfig(epochs=40, batch_size=64, learning_rate=0.05)
    r = representation_metrics(codes[:300], labels[:300], codes[300:], labels[300:], NAMES,
                               probe, ranked_by="mi")
    assert r["probe.mean_accuracy"] > 0.97
    assert r["retrieval.mi_map_mean"] == pytest.approx(1.0)     # MI finds each label's copy
    assert r["retrieval.map_mean"] == r["retrieval.mi_map_mean"]
    assert r["retrieval.whole_map_mean"] < r["retrieval.mi_map_mean"]
    assert "retrieval.slot_map_mean" not in r
    zeros = representation_metrics(np.zeros((300, 4)), labels[:300], np.zeros((100, 4)),
                                   labels[300:], NAMES, probe)
    majority = np.mean((labels[300:] > 0.5) == (labels[:300].mean(axis=0) > 0.5))
    assert zeros["probe.mean_accuracy"] == pytest.approx(majority)
    with pytest.raises(ValueError, match="ranked_by='slot'"):
        representation_metrics(codes, labels, codes, labels, NAMES, probe, ranked_by="slot")


def test_table_lists_every_model_and_dashes_what_does_not_apply():
    table = format_table({"olr": {"probe.mean_accuracy": 0.9, "retrieval.map_mean": 0.8,
                                  "recon.ssim": 0.5, "timing.train_seconds": 12.4},
                          "classifier_features": {"probe.mean_accuracy": 0.7}})
    olr_row = next(line for line in table.splitlines() if line.startswith("| olr |"))
    assert "0.9000" in olr_row and "0.8000" in olr_row and "| 12 |" in olr_row
    features = next(line for line in table.splitlines()
                    if line.startswith("| classifier_features |"))
    assert features.count("| - ") >= 5


# === Models ===

def test_feature_models_take_the_named_layers():
    classifier = build_classifier(3, 16, filters=(4,), dense_units=5)
    features = classifier_features(classifier)
    images = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    assert features(images).shape == (2, 5)
    with pytest.raises(ValueError, match="no layer 'ae_bottleneck'"):
        autoencoder_codes(classifier)


def _vae(beta, pse, seed=0):
    keras.utils.set_random_seed(seed)
    encoder = build_gaussian_encoder(16, 6, (4, 8))
    decoder = build_decoder((6,), 16, 8, (8, 4), (4, 4))
    label_encoder = build_label_encoder(3, 6, 8) if pse else None
    return VAETrainer(encoder, decoder, label_encoder, beta=beta, seed=seed)


def test_vae_loss_is_sse_plus_beta_kl():
    images = np.random.default_rng(0).random((4, 16, 16, 3)).astype(np.float32)
    labels = np.array([[1, 0, 1]] * 4, np.float32)
    for pse in (False, True):
        loss, sse, kl = _vae(2.5, pse).compute_losses((images, labels), False)
        assert float(loss) == pytest.approx(float(sse) + 2.5 * float(kl), rel=1e-5)
        assert float(kl) >= 0.0


def test_pse_prior_is_the_label_encoders_gaussian():
    # With zero-initialised log-variance heads both Gaussians start with unit
    # variance, so KL = |mean_x - mean_l|^2 / 2 exactly.
    trainer = _vae(1.0, True)
    images = np.random.default_rng(1).random((2, 16, 16, 3)).astype(np.float32)
    labels = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    q, p = trainer.encoder(images), trainer.label_encoder(labels)
    expected = 0.5 * np.sum((q["mean"].numpy() - p["mean"].numpy()) ** 2, axis=1).mean()
    _, _, kl = trainer.compute_losses((images, labels), False)
    assert float(kl) == pytest.approx(expected, rel=1e-5)


def test_vae_training_lowers_its_loss():
    rng = np.random.default_rng(0)
    images = rng.random((64, 16, 16, 3)).astype(np.float32) * 0.2 + 0.4
    labels = rng.integers(0, 2, (64, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    for pse in (False, True):
        trainer = _vae(1.0, pse)
        trainer.compile(optimizer=keras.optimizers.Adam(3e-3))
        history = trainer.fit(ds, epochs=5, verbose=0).history
        assert np.all(np.isfinite(history["loss"]))
        assert history["loss"][-1] < 0.5 * history["loss"][0]
