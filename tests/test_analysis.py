"""PCA of slots, reconstruction metrics and edit/generation metrics, with known answers."""

import math

import numpy as np
import pytest

from kerasolr import editing
from kerasolr.evaluation.editing import edit_metrics, generation_metrics
from kerasolr.evaluation.pca import pca_metrics, slot_pca
from kerasolr.evaluation.reconstruction import reconstruction_metrics

NAMES = ("A", "B", "C")


def test_slots_on_a_line_have_one_component():
    direction = np.array([3.0, 4.0]) / 5.0
    t = np.linspace(0.1, 2.0, 50)
    pca = slot_pca(t[:, None] * direction)
    np.testing.assert_allclose(pca["explained"], [1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(np.abs(pca["component"]), direction, atol=1e-9)
    # Oriented so the projection grows with the norm.
    assert np.all(np.diff(pca["projection"]) > 0)


def test_pca_metrics_rank_correlation_with_probabilities():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 1, size=200)
    embeddings = np.zeros((200, 3, 2))
    embeddings[:, 0] = t[:, None] * [1.0, 1.0]
    embeddings[:, 1] = rng.normal(size=(200, 2))
    embeddings[:, 2] = t[:, None] * [1.0, -1.0]
    probs = np.stack([t, rng.uniform(size=200), 1 - t], axis=1)
    results, projections = pca_metrics(embeddings, probs, NAMES)
    assert results["per_label.A.pc1_prob_spearman"] == pytest.approx(1.0)
    assert results["per_label.C.pc1_prob_spearman"] == pytest.approx(-1.0)
    assert results["per_label.A.pc1_explained_variance"] == pytest.approx(1.0)
    assert 0.4 < results["per_label.B.pc1_explained_variance"] < 0.7
    assert set(projections) == set(NAMES)
    assert results["pca.pc1_explained_variance_mean"] == pytest.approx(
        np.mean([results[f"per_label.{n}.pc1_explained_variance"] for n in NAMES]))


def test_reconstruction_metrics_known_answers():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.2, 0.8, size=(3, 16, 16, 3)).astype("float32")
    same = reconstruction_metrics(images, images)
    assert same["recon.ssim"] == pytest.approx(1.0, abs=1e-5)
    shifted = np.clip(images + 0.1, 0, 1)       # MSE exactly 0.01 -> PSNR 20 dB
    assert reconstruction_metrics(images, shifted)["recon.psnr"] == pytest.approx(20.0, abs=1e-3)
    with pytest.raises(ValueError, match="differ"):
        reconstruction_metrics(images, images[:, :8])


def _gaussians():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(500, 3, 4)) * 0.1 + 2.0     # slot norm ~4 when present
    labels = np.ones((500, 3))
    return editing.fit_label_gaussians(embeddings, labels, NAMES)


def _norm_judge(embeddings):
    """A perfect judge for a perfect decoder: a label is seen iff its slot is large."""
    return (np.linalg.norm(embeddings, axis=-1) > 1.0).astype(np.float32)


def test_edit_metrics_with_a_judge_that_reads_the_slots():
    rng = np.random.default_rng(1)
    embeddings = np.zeros((20, 3, 4), np.float32)
    present = rng.uniform(size=(20, 3)) > 0.5
    embeddings[present] = 2.0
    r = edit_metrics(embeddings, _norm_judge, _gaussians(), seed=0)
    assert r["edit.add_success"] == 1.0
    assert r["edit.remove_success"] == 1.0
    assert r["edit.preservation"] == 1.0
    assert r["per_label.B.add_success"] == 1.0


def test_edit_metrics_with_a_judge_blind_to_edits():
    embeddings = np.full((10, 3, 4), 2.0, np.float32)
    embeddings[:5] = 0.0

    def constant(e):
        return np.tile([[0.9, 0.1, 0.9]], (len(e), 1)).astype(np.float32)

    r = edit_metrics(embeddings, constant, _gaussians(), seed=0)
    assert r["edit.add_success"] == 0.0          # B never appears
    assert r["edit.remove_success"] == 0.0       # A and C never go
    assert r["edit.preservation"] == 1.0
    assert np.isnan(r["per_label.A.add_success"])  # A is seen everywhere: no add case


def test_generation_metrics():
    wanted = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]])
    r = generation_metrics(wanted, _norm_judge, _gaussians(), seed=0)
    assert r["generation.accuracy"] == 1.0
    assert r["generation.unwanted_absent"] == 1.0
    assert r["generation.exact_match"] == 1.0

    def sees_nothing(e):
        return np.zeros(e.shape[:2], np.float32)

    r = generation_metrics(wanted, sees_nothing, _gaussians(), seed=0)
    assert r["generation.accuracy"] == 0.0 and r["generation.exact_match"] == 0.25


def test_gaussian_blur_keeps_constants_and_smooths_an_impulse():
    from kerasolr.augment import gaussian_blur, random_blur

    flat = np.full((1, 9, 9, 3), 0.3, np.float32)
    np.testing.assert_allclose(gaussian_blur(flat, 1.5), flat, atol=1e-6)
    impulse = np.zeros((1, 21, 21, 1), np.float32)     # far from the borders
    impulse[0, 10, 10, 0] = 1.0
    blurred = gaussian_blur(impulse, 1.0).numpy()[0, :, :, 0]
    assert blurred.sum() == pytest.approx(1.0, abs=1e-5)
    assert blurred[10, 10] == blurred.max() < 0.2
    np.testing.assert_allclose(blurred, blurred.T, atol=1e-7)
    images = np.random.default_rng(0).uniform(size=(64, 9, 9, 3)).astype(np.float32)
    out = random_blur(images, rate=0.5, seed=1).numpy()
    unchanged = np.all(out == images, axis=(1, 2, 3))
    assert 10 < unchanged.sum() < 54
    np.testing.assert_array_equal(random_blur(images, rate=0.0, seed=1), images)


def test_a_label_no_training_image_had_is_not_added_or_generated():
    fitted = _gaussians()
    counts = np.array(fitted.counts)
    counts[1] = 0                                   # B: absent from the training set
    gaussians = editing.LabelGaussians(fitted.names, fitted.means, fitted.covariances, counts)
    embeddings = np.zeros((10, 3, 4), np.float32)
    embeddings[:5] = 2.0
    r = edit_metrics(embeddings, _norm_judge, gaussians, seed=0)
    assert np.isnan(r["per_label.B.add_success"]) and np.isnan(r["per_label.B.add_success_scaled"])
    assert r["per_label.B.remove_success"] == 1.0
    assert r["edit.add_success"] == 1.0             # A and C still measured
    wanted = np.array([[1, 1, 0], [0, 1, 1]])
    g = generation_metrics(wanted, _norm_judge, gaussians, seed=0)
    assert g["generation.accuracy"] == 1.0 and np.isnan(g["per_label.B.generation_accuracy"])


def test_generation_scores_count_what_was_not_asked_for():
    from kerasolr.evaluation.editing import generation_scores

    wanted = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], bool)
    everything = np.ones_like(wanted)              # draws every attribute everywhere
    r = generation_scores(wanted, everything, ["a", "b"])
    assert r["generation.accuracy"] == 1.0                 # recall alone is fooled
    assert r["generation.balanced_accuracy"] == 0.5        # nothing unwanted is ever absent
    assert r["per_label.a.generation_precision"] == 0.5    # 2 of 4 images asked for a
    exact = generation_scores(wanted, wanted, ["a", "b"])
    assert exact["generation.balanced_accuracy"] == 1.0 and exact["generation.precision"] == 1.0


def test_generation_diversity_is_zero_without_sampling_noise_and_grows_with_it():
    from kerasolr.evaluation.editing import generation_diversity

    names = ("a", "b")
    means = np.array([[1.0, 0.0], [0.0, 1.0]])
    fixed = editing.LabelGaussians(names, means, np.zeros((2, 2, 2)), np.array([5, 5]))
    spread = editing.LabelGaussians(names, means, np.stack([np.eye(2) * 0.25] * 2),
                                    np.array([5, 5]))

    def decode(codes):              # a "decoder" that paints the codes as a 2x2 image
        return np.repeat(codes.reshape(len(codes), 2, 2, 1), 3, axis=-1)

    label_sets = np.array([[1, 0], [1, 1], [0, 1]])
    assert generation_diversity(label_sets, decode, fixed, 0) == 0.0
    # Each asked label draws 2 pixels ~ N(mean, 0.25): two samples differ there by
    # N(0, 0.5), elsewhere by 0, so the squared RMS over the 4 pixels is
    # 0.125 * chi2(2 * asked), whose square root has mean
    # sqrt(0.125) * sqrt(2) * Gamma((d + 1) / 2) / Gamma(d / 2).
    def mean_rms(asked):
        d = 2 * asked
        return np.sqrt(0.125) * np.sqrt(2) * math.gamma((d + 1) / 2) / math.gamma(d / 2)

    expected = np.mean([mean_rms(1), mean_rms(2), mean_rms(1)])     # 0.517
    assert generation_diversity(label_sets, decode, spread, 0, samples=300) == pytest.approx(
        expected, rel=0.05)


def test_same_label_diversity_compares_only_images_with_one_label_vector():
    from kerasolr.evaluation.editing import same_label_diversity

    def decode(codes):              # paints the (1, 1) code as a 1-pixel image
        return np.repeat(codes.reshape(len(codes), 1, 1, 1), 3, axis=-1)

    # Images 0, 2, 3 share labels [1, 0] (codes 0, 0.3, 0.9); image 1 is alone.
    truth = np.array([[1, 0], [0, 1], [1, 0], [1, 0]])
    codes = np.array([0.0, 5.0, 0.3, 0.9]).reshape(4, 1, 1)
    value, pairs = same_label_diversity(codes, truth, decode, seed=0)
    assert pairs == 3
    assert value == pytest.approx((0.3 + 0.9 + 0.6) / 3)         # never the lone image 1
    value, pairs = same_label_diversity(codes, truth, decode, seed=0, max_pairs=1)
    assert pairs == 1 and value in (pytest.approx(0.3), pytest.approx(0.9),
                                    pytest.approx(0.6))
    value, pairs = same_label_diversity(codes[:2], truth[:2], decode, seed=0)
    assert pairs == 0 and math.isnan(value)
