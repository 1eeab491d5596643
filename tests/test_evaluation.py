import numpy as np
import pytest

from kerasolr.evaluation import probe as probe_module
from kerasolr.evaluation.accuracy import majority_predictions, multilabel_accuracy
from kerasolr.evaluation.probe import probe_predictions, train_probe
from kerasolr.evaluation.slots import matrix_agreement, norm_correlation_matrix, slot_norm_metrics

NAMES = ("A", "B", "C", "D")


def _labels(n=400, seed=0):
    return (np.random.default_rng(seed).random((n, 4)) < [0.2, 0.5, 0.7, 0.4]).astype(np.float32)


def test_accuracy_known_answers():
    truth = np.array([[1, 0], [1, 0], [0, 0], [0, 1]])
    pred = np.array([[1, 0], [0, 0], [0, 0], [0, 0]])
    r = multilabel_accuracy(truth, pred, ("x", "y"), "m")
    assert r["m.mean_accuracy"] == pytest.approx(6 / 8)
    # x: TPR 1/2, TNR 1 -> 0.75; y: TPR 0, TNR 1 -> 0.5
    assert r["m.balanced_accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    assert r["per_label.y.m_accuracy"] == pytest.approx(0.75)


def test_majority_baseline_is_chance_level_balanced():
    labels = _labels()
    pred = majority_predictions(labels, len(labels))
    r = multilabel_accuracy(labels, pred, NAMES, "majority")
    assert r["majority.balanced_accuracy"] == pytest.approx(0.5)
    expected = np.maximum(labels.mean(0), 1 - labels.mean(0)).mean()
    assert r["majority.mean_accuracy"] == pytest.approx(expected)


def test_perfect_embeddings_give_probe_accuracy_near_one_and_zeros_chance():
    train, test = _labels(800, 1), _labels(400, 2)
    def onehot(y):
        return np.stack([y, np.zeros_like(y)], -1)  # (n, L, 2): slot 0 = label
    probe = train_probe(onehot(train), train, epochs=60, batch_size=64, learning_rate=0.05)
    r = multilabel_accuracy(test, probe_predictions(probe, onehot(test)) > 0.5, NAMES, "p")
    assert r["p.mean_accuracy"] > 0.99
    probe = train_probe(np.zeros((800, 4, 2)), train, epochs=20, batch_size=64,
                        learning_rate=0.05)
    r = multilabel_accuracy(test, probe_predictions(probe, np.zeros((400, 4, 2))) > 0.5, NAMES,
                            "p")
    assert r["p.balanced_accuracy"] == pytest.approx(0.5)


def test_probe_batches_shuffle_every_row_once_an_epoch_from_memory_or_disk(tmp_path,
                                                                          monkeypatch):
    from kerasolr.embeddings import NpzArray, write_npz_streaming

    # Small chunks and buffer, so that a 50-row split is read in 7 chunks.
    monkeypatch.setattr(probe_module, "CHUNK_BYTES", 8 * 4 * 3)       # 8 rows of (3,) floats
    monkeypatch.setattr(probe_module, "SHUFFLE_BYTES", 20 * 4 * 3)    # 20 rows
    features = np.repeat(np.arange(50, dtype=np.float32)[:, None], 3, axis=1)   # row i = i
    labels = (np.arange(50)[:, None] % np.array([2, 3]) == 0).astype(np.float32)
    write_npz_streaming(str(tmp_path / "e.npz"), [{"embeddings": features}])
    on_disk = NpzArray(str(tmp_path / "e.npz"), "embeddings")
    epochs = []
    for source in (features, on_disk):
        batches, dim = probe_module.training_batches(source, labels, 16, seed=4)
        assert dim == 3
        orders = []
        for _ in range(2):
            rows = [(x.numpy(), y.numpy()) for x, y in batches]
            assert [len(x) for x, _ in rows] == [16, 16, 16, 2]
            x = np.concatenate([x for x, _ in rows])
            y = np.concatenate([y for _, y in rows])
            order = x[:, 0].astype(int)
            assert sorted(order) == list(range(50))                 # every row, once
            np.testing.assert_array_equal(y, labels[order])         # with its own labels
            orders.append(order)
        assert not np.array_equal(orders[0], orders[1])             # reshuffled each epoch
        assert not np.array_equal(orders[0], np.arange(50))
        epochs.append(orders)
    np.testing.assert_array_equal(epochs[0], epochs[1])     # the file gives the same batches


def test_a_probe_trained_from_the_file_equals_one_trained_in_memory(tmp_path):
    from kerasolr.embeddings import load_embeddings, write_npz_streaming

    train = _labels(300, 4)
    features = np.stack([train, np.random.default_rng(5).random(train.shape)], -1)
    write_npz_streaming(str(tmp_path / "e.npz"), [{"embeddings": features.astype(np.float32)}])
    on_disk = load_embeddings(str(tmp_path / "e.npz"), on_disk=("embeddings",))["embeddings"]
    assert on_disk.shape == (300, 4, 2)
    kept = train_probe(features.astype(np.float32), train, epochs=3, batch_size=32, seed=2)
    read = train_probe(on_disk, train, epochs=3, batch_size=32, seed=2)
    for a, b in zip(kept.get_weights(), read.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_slot_norms_of_perfect_and_reversed_embeddings():
    labels = _labels()
    rng = np.random.default_rng(3)
    direction = rng.normal(size=(4, 5))
    perfect = labels[..., None] * direction  # norm > 0 exactly when present
    r = slot_norm_metrics(perfect, labels, NAMES)
    assert r["slots.norm_auc_min"] == pytest.approx(1.0)
    assert r["slots.absent_present_norm_ratio"] == pytest.approx(0.0)
    reversed_ = (1 - labels)[..., None] * direction
    assert slot_norm_metrics(reversed_, labels, NAMES)["slots.norm_auc_mean"] == pytest.approx(0.0)
    noise = rng.normal(size=(400, 4, 5))
    assert 0.4 < slot_norm_metrics(noise, labels, NAMES)["slots.norm_auc_mean"] < 0.6


def test_norm_correlation_matches_label_correlation_for_perfect_slots():
    labels = _labels()
    perfect = labels[..., None] * np.ones((1, 4, 3))
    np.testing.assert_allclose(norm_correlation_matrix(perfect),
                               np.corrcoef(labels, rowvar=False), atol=1e-9)
    a = np.corrcoef(labels, rowvar=False)
    assert matrix_agreement(a, a) == pytest.approx(1.0)
    assert matrix_agreement(a, -a) == pytest.approx(-1.0)


def test_slot_label_auc_matrix_is_diagonal_for_own_slots_and_not_when_permuted():
    from kerasolr.evaluation.slots import own_slot_margins, slot_label_auc_matrix

    rng = np.random.default_rng(0)
    labels = (rng.random((300, 4)) < 0.4).astype(np.float32)
    emb = labels[:, :, None] * np.ones(3, np.float32) + 0.05 * rng.standard_normal((300, 4, 3))
    matrix = slot_label_auc_matrix(emb, labels)
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    assert np.all(own_slot_margins(matrix) > 0.3)
    swapped = emb[:, [1, 0, 2, 3]]                      # slots 0 and 1 exchanged
    margins = own_slot_margins(slot_label_auc_matrix(swapped, labels))
    assert margins[0] < 0 and margins[1] < 0 and np.all(margins[2:] > 0.3)
    one_class = labels.copy()
    one_class[:, 3] = 1
    assert np.isnan(slot_label_auc_matrix(emb, one_class)[:, 3]).all()


def test_correlation_matrix_of_a_constant_column_is_nan_without_a_warning():
    import warnings

    from kerasolr.evaluation.slots import correlation_matrix

    x = np.array([[0, 1, 1], [1, 2, 1], [0, 3, 1], [1, 5, 1]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = correlation_matrix(x)
    assert c.shape == (3, 3) and np.isnan(c[2]).all() and np.isnan(c[:, 2]).all()
    assert c[0, 1] == pytest.approx(np.corrcoef(x[:, 0], x[:, 1])[0, 1])
