"""Retrieval: exact search and the metrics of eq. 10-12, against hand-computed rankings."""

import math

import numpy as np
import pytest

from kerasolr import retrieval


def test_a_perfect_ranking_scores_one():
    r = retrieval.ranking_metrics([[True, True, False, False]])
    assert r["map"][0] == r["ndcg"][0] == r["nn"][0] == 1.0


def test_a_reversed_ranking_has_its_known_values():
    # Relevant items at ranks 3 and 4 of 4: P(3) = 1/3, P(4) = 2/4.
    r = retrieval.ranking_metrics([[False, False, True, True]])
    assert r["map"][0] == pytest.approx((1 / 3 + 2 / 4) / 2)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert r["ndcg"][0] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / ideal)
    assert r["nn"][0] == 0.0


def test_a_query_without_relevant_items_scores_zero():
    r = retrieval.ranking_metrics([[False, False, False]])
    assert r["map"][0] == r["ndcg"][0] == r["nn"][0] == 0.0


def test_search_equals_a_full_sort_across_chunks():
    rng = np.random.default_rng(0)
    queries, gallery = rng.normal(size=(5, 6)), rng.normal(size=(1000, 6))
    distances, indices = retrieval.search(queries, gallery, top=10, chunk=97)
    full = np.linalg.norm(queries[:, None] - gallery[None], axis=-1)
    np.testing.assert_array_equal(indices, np.argsort(full, axis=1, kind="stable")[:, :10])
    np.testing.assert_allclose(distances, np.sort(full, axis=1)[:, :10], rtol=1e-4, atol=1e-4)


def test_codes_keep_only_the_chosen_slots():
    embeddings = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    np.testing.assert_array_equal(retrieval.codes(embeddings, [2, 0]),
                                  [[4, 5, 0, 1], [10, 11, 6, 7]])
    assert retrieval.codes(embeddings).shape == (2, 6)


def test_retrieval_by_one_slot_ignores_the_others():
    # Slot 0 encodes the category, slot 1 is loud noise: by slot 0 the ranking is
    # perfect, by the whole embedding it is not.
    rng = np.random.default_rng(1)
    categories = rng.integers(0, 2, size=200)
    embeddings = np.zeros((200, 2, 3), np.float32)
    embeddings[:, 0, 0] = categories * 1.0 + rng.normal(0, 0.01, 200)
    embeddings[:, 1] = rng.normal(0, 10.0, (200, 3))
    by_slot = retrieval.criterion_metrics(retrieval.codes(embeddings, [0]), categories,
                                          retrieval.codes(embeddings, [0]), categories,
                                          exclude_self=True)
    assert by_slot == pytest.approx({"map": 1.0, "ndcg": 1.0, "nn": 1.0}, abs=1e-12)
    whole = retrieval.criterion_metrics(retrieval.codes(embeddings), categories,
                                        retrieval.codes(embeddings), categories,
                                        exclude_self=True)
    assert whole["map"] < 0.7


def test_vectors_of_different_sizes_are_a_clear_error():
    with pytest.raises(ValueError, match="same d"):
        retrieval.search(np.zeros((1, 4)), np.zeros((10, 3)), top=2)


def test_label_retrieval_metrics_by_slot_and_whole():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=(60, 2))
    embeddings = rng.normal(0, 1.0, (60, 2, 3)).astype(np.float32)
    embeddings[:, 0, 0] += 20.0 * labels[:, 0]        # slot 0 separates label 0 cleanly
    r = retrieval.label_retrieval_metrics(embeddings, labels, ("A", "B"))
    assert r["per_label.A.retrieval_map"] == pytest.approx(1.0)
    assert r["per_label.B.retrieval_map"] < 0.8       # slot 1 is noise for label B
    assert r["retrieval.map_mean"] == pytest.approx(
        (r["per_label.A.retrieval_map"] + r["per_label.B.retrieval_map"]) / 2)
    w = retrieval.label_retrieval_metrics(embeddings, labels, ("A", "B"), whole=True)
    assert "retrieval.whole_map_mean" in w and "per_label.B.whole_retrieval_nn" in w


def test_chance_average_precision_matches_random_rankings():
    rng = np.random.default_rng(0)
    for n, r in ((10, 3), (30, 1), (25, 20)):
        relevant = np.zeros((20000, n), bool)
        relevant[:, :r] = True
        relevant = rng.permuted(relevant, axis=1)
        simulated = retrieval.ranking_metrics(relevant)["map"].mean()
        expected = float(retrieval.chance_average_precision(np.array([r]), n)[0])
        assert simulated == pytest.approx(expected, abs=0.004), (n, r)
    assert retrieval.chance_average_precision(np.array([4, 0]), 4).tolist() == [1.0, 0.0]


def test_chance_map_of_binary_criteria_and_the_corrected_map():
    # Binary criteria favour the majority class: a random ranking's mAP is about
    # p^2 + (1 - p)^2 (0.905 at 5% prevalence, 0.625 at 25%), not the prevalence.
    for prevalence, approx in ((0.05, 0.905), (0.25, 0.625)):
        labels = np.arange(2000) < prevalence * 2000
        assert retrieval.chance_map(labels) == pytest.approx(approx, abs=0.01)
    labels = (np.random.default_rng(1).random((400, 2)) < [0.1, 0.5]).astype(np.float32)
    perfect = retrieval.dimension_retrieval_metrics(labels, labels, ["a", "b"], [[0], [1]])
    assert perfect["retrieval.map_corrected_mean"] == pytest.approx(1.0)
    noise = np.random.default_rng(2).standard_normal((400, 2))
    random = retrieval.dimension_retrieval_metrics(noise, labels, ["a", "b"], [[0], [1]])
    assert abs(random["retrieval.map_corrected_mean"]) < 0.05
    assert retrieval.corrected(0.95, 0.9) == pytest.approx(0.5)


def test_query_database_split_is_seeded_disjoint_and_complete():
    queries, database = retrieval.query_database(100, 0.75, seed=3)
    assert (len(queries), len(database)) == (75, 25)
    assert set(queries).isdisjoint(database) and set(queries) | set(database) == set(range(100))
    np.testing.assert_array_equal(queries, retrieval.query_database(100, 0.75, seed=3)[0])
    assert not np.array_equal(queries, retrieval.query_database(100, 0.75, seed=4)[0])
    assert len(retrieval.query_database(3, 0.99, seed=0)[1]) == 1       # never empty
    with pytest.raises(ValueError, match="query_fraction=1.0 is invalid"):
        retrieval.query_database(10, 1.0, seed=0)


def test_chance_map_of_queries_against_a_database():
    # Query 1 against database [1, 0, 0]: a random order puts the one relevant
    # item at rank 1, 2 or 3, AP 1, 1/2 or 1/3; query 0 has 2 relevant: over the
    # 3 orders of one irrelevant item, AP (1 + 1) / 2, (1 + 2/3) / 2, (1/2 + 2/3) / 2.
    ap_one = (1 + 1 / 2 + 1 / 3) / 3
    ap_zero = (1.0 + (1 + 2 / 3) / 2 + (1 / 2 + 2 / 3) / 2) / 3
    assert retrieval.chance_map([True, False], [True, False, False]) == pytest.approx(
        (ap_one + ap_zero) / 2)
    # Random codes score chance on average, exact codes score 1, both corrected.
    labels = (np.random.default_rng(1).random((400, 2)) < [0.1, 0.5]).astype(np.float32)
    queries, _ = retrieval.query_database(400, 0.75, seed=0)
    perfect = retrieval.dimension_retrieval_metrics(labels, labels, ["a", "b"], [[0], [1]],
                                                    "query_db_", queries)
    assert perfect["retrieval.query_db_map_corrected_mean"] == pytest.approx(1.0)
    assert perfect["retrieval.query_db_nn_mean"] == 1.0
    noise = np.random.default_rng(2).standard_normal((400, 2))
    random = retrieval.dimension_retrieval_metrics(noise, labels, ["a", "b"], [[0], [1]],
                                                   "query_db_", queries)
    assert abs(random["retrieval.query_db_map_corrected_mean"]) < 0.06
