"""Disentanglement of the per-label slots: slot norms as label scores.

Reference: paper sections 4.1-4.2 (a label's slot norm is near zero when the
label is absent; norms correlate the way the labels do).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def slot_norms(embeddings) -> np.ndarray:
    """`(n, L, k)` embeddings -> `(n, L)` Euclidean norms of each label's slot."""
    return np.linalg.norm(np.asarray(embeddings, np.float64), axis=-1)


def slot_norm_metrics(embeddings, labels, names) -> dict[str, float]:
    """How well each slot's norm tells whether its label is present.

    Args:
        embeddings: `(n, L, k)`.
        labels: `(n, L)` 0/1 truth.
        names: The L label names.

    Returns:
        Flat dict: `slots.norm_auc_min`, `slots.norm_auc_mean` (ROC AUC of
        `||e_l||` as a score for label l), `slots.absent_present_norm_ratio`
        (mean over labels of median norm when absent / when present), and
        `per_label.<name>.norm_auc` / `.absent_present_norm_ratio`. A label
        with one class only in `labels` gets NaN and is left out of the
        summaries.
    """
    norms = slot_norms(embeddings)
    truth = np.asarray(labels) > 0.5
    aucs, ratios = [], []
    out: dict[str, float] = {}
    for i, name in enumerate(names):
        present, absent = norms[truth[:, i], i], norms[~truth[:, i], i]
        if len(present) == 0 or len(absent) == 0:
            auc = ratio = float("nan")
        else:
            auc = float(roc_auc_score(truth[:, i], norms[:, i]))
            ratio = float(np.median(absent) / max(np.median(present), 1e-12))
        aucs.append(auc)
        ratios.append(ratio)
        out[f"per_label.{name}.norm_auc"] = auc
        out[f"per_label.{name}.absent_present_norm_ratio"] = ratio
    out["slots.norm_auc_min"] = float(np.nanmin(aucs))
    out["slots.norm_auc_mean"] = float(np.nanmean(aucs))
    out["slots.absent_present_norm_ratio"] = float(np.nanmean(ratios))
    return out


def slot_label_auc_matrix(embeddings, labels) -> np.ndarray:
    """`(L, L)` ROC AUC of slot `j`'s norm as a score for label `l`, at `[j, l]`.

    A run whose slots belong to their labels has each column's largest entry
    on the diagonal: a label is told best by its own slot. A label with one
    class only in `labels` gets a NaN column.
    """
    norms = slot_norms(embeddings)
    truth = np.asarray(labels) > 0.5
    matrix = np.full((norms.shape[1], truth.shape[1]), np.nan)
    for label in range(truth.shape[1]):
        if 0 < truth[:, label].sum() < len(truth):
            for slot in range(norms.shape[1]):
                matrix[slot, label] = roc_auc_score(truth[:, label], norms[:, slot])
    return matrix


def own_slot_margins(auc_matrix) -> np.ndarray:
    """Per label, its own slot's AUC minus the best other slot's (positive:
    the label is told best by its own slot)."""
    matrix = np.asarray(auc_matrix, np.float64)
    own = np.diag(matrix)
    others = np.where(np.eye(len(matrix), dtype=bool), -np.inf, matrix).max(axis=0)
    return own - others


def correlation_matrix(x) -> np.ndarray:
    """`(d, d)` Pearson correlations of the columns of `(n, d)` `x`; the row and
    column of a constant column (e.g. a label no image of a small split has)
    are NaN, without numpy's divide warning."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(np.asarray(x, np.float64), rowvar=False)


def norm_correlation_matrix(embeddings) -> np.ndarray:
    """`(L, L)` Pearson correlations between the labels' slot norms (Fig. 4)."""
    return correlation_matrix(slot_norms(embeddings))


def matrix_agreement(a, b) -> float:
    """Pearson correlation of the off-diagonal upper triangles of two `(L, L)` matrices."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    rows, cols = np.triu_indices(a.shape[0], k=1)
    x, y = a[rows, cols], b[rows, cols]
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    return float(correlation_matrix(np.stack([x[keep], y[keep]], axis=1))[0, 1])
