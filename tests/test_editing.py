"""Label Gaussians and embedding edits, with known answers."""

import numpy as np
import pytest

from kerasolr import editing

NAMES = ("A", "B", "C")


def _gaussians(seed=0):
    rng = np.random.default_rng(seed)
    mean = np.array([1.0, -2.0])
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    n = 200_000
    embeddings = np.zeros((n, 3, 2))
    labels = np.zeros((n, 3))
    labels[: n // 2, 1] = 1            # label B on half the images
    embeddings[: n // 2, 1] = rng.multivariate_normal(mean, cov, size=n // 2)
    embeddings[n // 2:, 1] = 100.0     # slots of images without B are ignored
    labels[:, 0] = 1
    embeddings[:, 0] = 3.0
    return editing.fit_label_gaussians(embeddings, labels, NAMES), mean, cov


def test_fit_recovers_known_mean_and_covariance():
    g, mean, cov = _gaussians()
    np.testing.assert_allclose(g.means[1], mean, atol=0.01)
    np.testing.assert_allclose(g.covariances[1], cov, atol=0.02)
    np.testing.assert_allclose(g.means[0], [3.0, 3.0])
    np.testing.assert_allclose(g.covariances[0], 0.0, atol=1e-6)
    assert list(g.counts) == [200_000, 100_000, 0]


def test_samples_follow_the_fitted_gaussian():
    g, mean, cov = _gaussians()
    samples = g.sample(1, 100_000, seed=3)
    np.testing.assert_allclose(samples.mean(axis=0), mean, atol=0.02)
    np.testing.assert_allclose(np.cov(samples, rowvar=False), cov, atol=0.03)
    np.testing.assert_array_equal(samples, g.sample(1, 100_000, seed=3))


def test_absent_label_cannot_be_sampled():
    g, _, _ = _gaussians()
    with pytest.raises(ValueError, match="'C' was absent"):
        g.sample(2, 1, seed=0)


def test_unknown_label_name():
    g, _, _ = _gaussians()
    assert g.index("B") == 1
    with pytest.raises(ValueError, match="unknown label 'Smiling'; known: A, B, C"):
        g.index("Smiling")


def test_save_and_load(tmp_path):
    g, _, _ = _gaussians()
    path = str(tmp_path / "g.npz")
    g.save(path)
    loaded = editing.LabelGaussians.load(path)
    assert loaded.names == NAMES
    np.testing.assert_array_equal(loaded.covariances, g.covariances)
    with pytest.raises(FileNotFoundError, match="missing.npz not found"):
        editing.LabelGaussians.load(str(tmp_path / "missing.npz"))


def test_edits_change_only_their_slot():
    g, _, _ = _gaussians()
    rng = np.random.default_rng(1)
    embedding = rng.normal(size=(5, 3, 2)).astype(np.float32)
    for edited in (editing.add_label(embedding, 1, g, seed=0),
                   editing.remove_label(embedding, 1),
                   editing.remove_label(embedding, 1, g, seed=0, norm=0.1),
                   editing.scale_label(embedding, 1, 1.5)):
        np.testing.assert_array_equal(edited[:, [0, 2]], embedding[:, [0, 2]])
        assert not np.allclose(edited[:, 1], embedding[:, 1])
    np.testing.assert_array_equal(editing.remove_label(embedding, 1)[:, 1], 0.0)
    np.testing.assert_allclose(editing.scale_label(embedding, 1, 1.5)[:, 1], 1.5 * embedding[:, 1],
                               rtol=1e-6)
    shrunk = editing.remove_label(embedding, 1, g, seed=0, norm=0.1)
    np.testing.assert_allclose(np.linalg.norm(shrunk[:, 1], axis=-1), 0.1, rtol=1e-5)
    with pytest.raises(ValueError, match="label index 3 out of range"):
        editing.scale_label(embedding, 3, 2.0)


def test_add_with_scale_multiplies_the_sample():
    g, _, _ = _gaussians()
    embedding = np.zeros((3, 2), np.float32)
    once = editing.add_label(embedding, 1, g, seed=5)
    twice = editing.add_label(embedding, 1, g, seed=5, scale=2.0)
    np.testing.assert_allclose(twice[1], 2.0 * once[1], rtol=1e-6)


def test_slerp_endpoints_and_norm_path():
    a = np.array([3.0, 0.0, 0.0])
    b = np.array([0.0, 0.0, 1.0])
    t = np.linspace(0.0, 1.0, 11)
    path = editing.slerp(a, b, t)
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), 3.0 + t * (1.0 - 3.0), atol=1e-5)
    # Constant angular speed along the great circle between the two directions.
    angles = np.arctan2(path[:, 2], path[:, 0])
    np.testing.assert_allclose(np.diff(angles), np.pi / 2 / 10, atol=1e-5)
    assert path[:, 1].max() == 0.0
    np.testing.assert_allclose(editing.slerp(a, b, 0.5), path[5], atol=1e-6)


def test_slerp_of_parallel_vectors_is_linear():
    a = np.array([1.0, 1.0])
    np.testing.assert_allclose(editing.slerp(a, 3 * a, 0.5), 2 * a, atol=1e-6)


def test_generate_fills_only_wanted_slots():
    g, _, _ = _gaussians()
    wanted = np.array([[1, 1, 0], [1, 0, 0]])
    out = editing.generate(wanted, g, seed=0)
    assert out.shape == (2, 3, 2)
    np.testing.assert_allclose(out[:, 0], 3.0, atol=1e-5)     # zero-covariance label: its mean
    assert np.all(out[0, 1] != 0) and np.all(out[1, 1] == 0) and np.all(out[:, 2] == 0)


def test_toggle_columns_say_add_or_remove_and_rows_say_which():
    labels = np.array([[1, 0, 1], [0, 0, 0]], np.float32)
    g = editing.LabelGaussians(tuple("ABC"), np.ones((3, 2)), np.tile(1e-6 * np.eye(2), (3, 1, 1)),
                               np.ones(3))
    emb = np.zeros((2, 3, 2), np.float32)
    edits = editing.toggle_edits(emb, labels, [0, 2], list("ABC"), g, seed=0)
    assert list(edits) == ["add/remove A", "add/remove C"]
    # Row 0 has A: its A column removed it (zero slot); row 1 lacks it: added (mean 1).
    np.testing.assert_allclose(edits["add/remove A"][0, 0], [0, 0])
    np.testing.assert_allclose(edits["add/remove A"][1, 0], [1, 1], atol=0.01)
    assert editing.toggle_row_titles(labels, [0, 2], list("ABC")) == ["has A, C", "has none"]


def test_conditional_slots_follow_the_other_slots():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 1))
    embeddings = np.stack([x, 2 * x + 1], axis=1)          # (500, 2, 1): slot 1 = 2 slot 0 + 1
    labels = np.ones((500, 2))
    model = editing.fit_conditional_slots(embeddings, labels, ridge=1e-6)
    np.testing.assert_allclose(model.gains[1], [[2.0]], atol=1e-3)
    np.testing.assert_allclose(model.residual_roots[1], [[0.0]], atol=1e-3)
    query = np.array([[[3.0], [0.0]], [[-1.0], [0.0]]], np.float32)
    np.testing.assert_allclose(model.sample(1, query, seed=0), [[7.0], [-1.0]], atol=1e-2)
    # Through set_labels: adding label 1 to images without it draws the conditional sample.
    g = editing.fit_label_gaussians(embeddings, labels, ["A", "B"])
    out = editing.set_labels(query, [[1, 0], [1, 0]], [[1, 1], [1, 1]], g, seed=0,
                             conditional=model)
    np.testing.assert_allclose(out[:, 1], [[7.0], [-1.0]], atol=1e-2)
    np.testing.assert_array_equal(out[:, 0], query[:, 0])
    # A strong ridge shrinks the gain towards the plain Gaussian's mean.
    shrunk = editing.fit_conditional_slots(embeddings, labels, ridge=100.0)
    assert abs(shrunk.gains[1, 0, 0]) < 0.1


def test_conditional_slots_refuse_a_label_no_image_had():
    model = editing.fit_conditional_slots(np.zeros((4, 2, 1)), np.array([[1, 0]] * 4))
    with pytest.raises(ValueError, match="absent from every image"):
        model.sample(1, np.zeros((1, 2, 1)), seed=0)
