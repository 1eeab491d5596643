"""Retrieval by a chosen criterion: rank a gallery against a query by some
labels' slots (or the whole embedding), and the retrieval metrics of
`cbir-weakly-supervised-disentangled.md` (appendix B, eq. 10-12).

Distances are Euclidean, as in that paper. The search is exact (brute force),
in TensorFlow, batched over the gallery, so a gallery of any size fits in
memory a chunk at a time.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def codes(embeddings, labels=None) -> np.ndarray:
    """The vectors a criterion compares: the chosen labels' slots, concatenated.

    Args:
        embeddings: `(n, L, k)` OLR embeddings.
        labels: Slot indices to keep, or `None` for the whole embedding.

    Returns:
        `(n, len(labels) * k)` float32 (or `(n, L * k)`).
    """
    embeddings = np.asarray(embeddings, np.float32)
    if labels is not None:
        embeddings = embeddings[:, list(labels)]
    return embeddings.reshape(len(embeddings), -1)


def search(queries, gallery, top: int, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest neighbours by Euclidean distance.

    Args:
        queries: `(q, d)` vectors.
        gallery: `(n, d)` vectors.
        top: How many neighbours per query (at most n).
        chunk: Gallery rows compared at once.

    Returns:
        `(distances (q, top), indices (q, top))`, nearest first; ties keep the
        lower gallery index first.
    """
    queries = np.asarray(queries, np.float32)
    gallery = np.asarray(gallery, np.float32)
    if queries.ndim != 2 or gallery.ndim != 2 or queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"queries {queries.shape} and gallery {gallery.shape} must be "
                         "(q, d) and (n, d) with the same d")
    queries = tf.constant(queries)
    top = min(int(top), len(gallery))
    best_d = best_i = None
    for start in range(0, len(gallery), chunk):
        part = tf.constant(gallery[start:start + chunk])
        d, i = _chunk_top(queries, part, min(top, len(part)))
        i = i + start
        if best_d is None:
            best_d, best_i = d, i
        else:
            merged_d = tf.concat([best_d, d], axis=1)
            merged_i = tf.concat([best_i, i], axis=1)
            order = tf.argsort(merged_d, axis=1, stable=True)[:, :top]
            best_d = tf.gather(merged_d, order, batch_dims=1)
            best_i = tf.gather(merged_i, order, batch_dims=1)
    return np.sqrt(np.maximum(best_d.numpy(), 0.0)), best_i.numpy()


@tf.function(reduce_retracing=True)
def _chunk_top(queries, part, top):
    squared = (tf.reduce_sum(queries ** 2, axis=1, keepdims=True)
               - 2.0 * tf.matmul(queries, part, transpose_b=True)
               + tf.reduce_sum(part ** 2, axis=1)[None, :])
    negative, indices = tf.math.top_k(-squared, k=top, sorted=True)
    return -negative, indices


def ranking_metrics(relevant) -> dict[str, np.ndarray]:
    """Per-query metrics of ranked relevance (eq. 10-12).

    Args:
        relevant: `(q, N)` booleans: whether the n-th retrieved item shares the
            query's category, in rank order.

    Returns:
        `{"map", "ndcg", "nn"}`, each `(q,)`; a query with no relevant item
        scores 0 on all three.
    """
    relevant = np.asarray(relevant, bool)
    ranks = np.arange(1, relevant.shape[1] + 1)
    hits = np.cumsum(relevant, axis=1)
    total = hits[:, -1]
    precision = hits / ranks                                      # eq. 10
    with np.errstate(invalid="ignore", divide="ignore"):
        average_precision = np.where(
            total > 0, (relevant * precision).sum(axis=1) / total, 0.0)   # eq. 11
        discount = 1.0 / np.log2(ranks + 1)
        ideal = np.cumsum(discount)[np.maximum(total - 1, 0)]
        ndcg = np.where(total > 0, (relevant * discount).sum(axis=1) / ideal, 0.0)  # eq. 12
    return {"map": average_precision, "ndcg": ndcg, "nn": relevant[:, 0].astype(np.float64)}


def chance_average_precision(relevant: np.ndarray, gallery: int) -> np.ndarray:
    """Expected average precision of a uniformly random ranking of `gallery`
    items of which `relevant` are relevant (0 where none is, as in
    `ranking_metrics`):

        E[AP] = (R - 1) / (N - 1) + H_N (N - R) / (N (N - 1)),

    H_N the N-th harmonic number (summing, over ranks i, the chance that rank
    i is relevant times the expected precision at i given that it is).
    """
    relevant = np.asarray(relevant, np.float64)
    n = float(gallery)
    if n <= 1:
        return np.where(relevant > 0, 1.0, 0.0)
    harmonic = float(np.sum(1.0 / np.arange(1, gallery + 1)))
    expected = (relevant - 1) / (n - 1) + harmonic * (n - relevant) / (n * (n - 1))
    return np.where(relevant > 0, expected, 0.0)


def chance_map(categories, gallery_categories=None) -> float:
    """mAP of a random ranking for one binary criterion: leave-one-out over
    the split (each item queries the other `n - 1`, of which those sharing its
    category are relevant), or, given `gallery_categories`, `categories`
    (the queries') against that separate database."""
    categories = np.asarray(categories, bool)
    if gallery_categories is not None:
        gallery = np.asarray(gallery_categories, bool)
        positives = int(gallery.sum())
        relevant = np.where(categories, positives, len(gallery) - positives)
        return float(chance_average_precision(relevant, len(gallery)).mean())
    n = len(categories)
    positives = int(categories.sum())
    relevant = np.where(categories, positives - 1, n - positives - 1)
    return float(chance_average_precision(relevant, n - 1).mean())


def query_database(n: int, query_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of `n` items into queries and a database (sampled
    without replacement, the retrieval paper's protocol, its section 5):
    `(query indices, database indices)`, each sorted, neither empty."""
    if n < 2:
        raise ValueError(f"a query/database split needs at least 2 items, got {n}")
    if not 0.0 < query_fraction < 1.0:
        raise ValueError(f"query_fraction={query_fraction} is invalid: expected in (0, 1)")
    order = np.random.default_rng(seed).permutation(n)
    cut = min(max(1, int(round(query_fraction * n))), n - 1)
    return np.sort(order[:cut]), np.sort(order[cut:])


def corrected(value: float, chance: float) -> float:
    """`(value - chance) / (1 - chance)`: 0 at chance, 1 for a perfect ranking."""
    return float((value - chance) / (1.0 - chance)) if chance < 1.0 else float("nan")


def criterion_metrics(query_codes, query_categories, gallery_codes, gallery_categories,
                      exclude_self: bool = False, query_batch: int = 256) -> dict[str, float]:
    """mAP, NDCG and NN precision of ranking the whole gallery for every query,
    a gallery item being relevant when it shares the query's category.

    Args:
        query_codes: `(q, d)`.
        query_categories: `(q,)` category of each query (e.g. a label's 0/1).
        gallery_codes: `(n, d)`.
        gallery_categories: `(n,)`.
        exclude_self: Queries are the gallery itself: drop each query from its
            own ranking (leave-one-out).
        query_batch: Queries ranked at once.

    Returns:
        `{"map", "ndcg", "nn"}` averaged over queries.
    """
    query_codes = np.asarray(query_codes, np.float32)
    query_categories = np.asarray(query_categories)
    gallery_categories = np.asarray(gallery_categories)
    n = len(gallery_codes)
    per_query: dict[str, list] = {"map": [], "ndcg": [], "nn": []}
    for start in range(0, len(query_codes), query_batch):     # memory: query_batch x n
        _, order = search(query_codes[start:start + query_batch], gallery_codes, n)
        if exclude_self:
            own = np.arange(start, start + len(order))[:, None]
            order = order[order != own].reshape(len(order), n - 1)
        relevant = gallery_categories[order] == query_categories[start:start + len(order), None]
        for name, values in ranking_metrics(relevant).items():
            per_query[name].append(values)
    return {name: float(np.concatenate(values).mean()) for name, values in per_query.items()}


def label_retrieval_metrics(embeddings, labels, names, whole: bool = False) -> dict[str, float]:
    """Retrieval by each label as the criterion over a whole split
    (leave-one-out: every image is a query against all the others).

    Args:
        embeddings: `(n, L, k)`.
        labels: `(n, L)` 0/1 labels (the categories of each criterion).
        names: The L label names.
        whole: Rank by the whole embedding instead of the label's own slot.

    Returns:
        `retrieval.{map,ndcg,nn}_mean` (`retrieval.whole_...` with `whole`) and
        `per_label.<Name>.retrieval_{map,ndcg,nn}` (or `whole_retrieval_...`).
    """
    embeddings = np.asarray(embeddings, np.float32)
    k = embeddings.shape[-1]
    dimensions = None if whole else [np.arange(label * k, (label + 1) * k)
                                     for label in range(len(names))]
    return dimension_retrieval_metrics(codes(embeddings), labels, names, dimensions,
                                       "whole_" if whole else "")


def dimension_retrieval_metrics(vectors, labels, names, dimensions=None,
                                variant: str = "", queries=None) -> dict[str, float]:
    """Retrieval by each label as the criterion, ranking with chosen dimensions
    of any representation (leave-one-out over the whole split, or queries
    against a separate database).

    Args:
        vectors: `(n, d)` representations (or `(n, ...)`, flattened).
        labels: `(n, L)` 0/1 labels.
        names: The L label names.
        dimensions: One index array per label (e.g. a label's slot, or the
            dimensions selected by mutual information), or `None` for all.
        variant: Key infix: `""` gives `retrieval.map_mean` and
            `per_label.<Name>.retrieval_map`; `"whole_"` gives
            `retrieval.whole_map_mean` and `per_label.<Name>.whole_retrieval_map`.
        queries: Indices of the query items (`query_database`); the others
            are the database. `None`: leave-one-out.

    Returns:
        `retrieval.<variant>{map,ndcg,nn,map_corrected}_mean` and the
        per-label values; `map_corrected` is the chance-corrected mAP
        `(mAP - chance) / (1 - chance)` (`chance_map`).
    """
    vectors = np.asarray(vectors, np.float32).reshape(len(vectors), -1)
    labels = np.asarray(labels) > 0.5
    if dimensions is not None and len(dimensions) != len(names):
        raise ValueError(f"{len(dimensions)} dimension sets for {len(names)} labels")
    if queries is None:
        query, database = np.arange(len(vectors)), None
    else:
        query = np.asarray(queries)
        database = np.setdiff1d(np.arange(len(vectors)), query)
    results: dict[str, float] = {}
    means: dict[str, list] = {"map": [], "ndcg": [], "nn": []}
    for label, name in enumerate(names):
        chosen = vectors if dimensions is None else vectors[:, np.asarray(dimensions[label])]
        if database is None:
            metrics = criterion_metrics(chosen, labels[:, label], chosen, labels[:, label],
                                        exclude_self=True)
            chance = chance_map(labels[:, label])
        else:
            metrics = criterion_metrics(chosen[query], labels[query, label], chosen[database],
                                        labels[database, label])
            chance = chance_map(labels[query, label], labels[database, label])
        metrics["map_corrected"] = corrected(metrics["map"], chance)
        for metric, value in metrics.items():
            results[f"per_label.{name}.{variant}retrieval_{metric}"] = value
            means.setdefault(metric, []).append(value)
    for metric, values in means.items():
        results[f"retrieval.{variant}{metric}_mean"] = float(np.mean(values))
    return results
