"""Multi-label accuracy: mean over all decisions, balanced, per label."""

from __future__ import annotations

import numpy as np


def multilabel_accuracy(y_true, y_pred, names, prefix: str) -> dict[str, float]:
    """Accuracy figures of binary multi-label decisions.

    Args:
        y_true: `(n, L)` 0/1 truth.
        y_pred: `(n, L)` 0/1 decisions.
        names: The L label names.
        prefix: Key prefix, e.g. `"classifier"`.

    Returns:
        Flat dict: `<prefix>.mean_accuracy` (over all n * L decisions),
        `<prefix>.balanced_accuracy` (mean over labels of (TPR + TNR) / 2; a
        label with one class only in `y_true` counts its one defined rate), and
        `per_label.<name>.<prefix>_accuracy` / `_balanced_accuracy`.
    """
    y_true = np.asarray(y_true) > 0.5
    y_pred = np.asarray(y_pred) > 0.5
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or y_true.shape[1] != len(names):
        raise ValueError(f"shapes {y_true.shape} and {y_pred.shape} do not match {len(names)} "
                         "labels")
    correct = y_true == y_pred
    per_label_acc = correct.mean(axis=0)
    per_label_bal = np.array([_balanced(y_true[:, i], y_pred[:, i]) for i in range(len(names))])
    out = {
        f"{prefix}.mean_accuracy": float(correct.mean()),
        f"{prefix}.balanced_accuracy": float(per_label_bal.mean()),
    }
    for i, name in enumerate(names):
        out[f"per_label.{name}.{prefix}_accuracy"] = float(per_label_acc[i])
        out[f"per_label.{name}.{prefix}_balanced_accuracy"] = float(per_label_bal[i])
    return out


def _balanced(truth: np.ndarray, pred: np.ndarray) -> float:
    rates = []
    if truth.any():
        rates.append(pred[truth].mean())
    if (~truth).any():
        rates.append((~pred[~truth]).mean())
    return float(np.mean(rates))


def majority_predictions(train_labels, n: int) -> np.ndarray:
    """The majority-class baseline: each label's most frequent training value.

    Args:
        train_labels: `(n_train, L)` 0/1.
        n: Rows to predict.

    Returns:
        `(n, L)` 0/1 predictions.
    """
    majority = (np.asarray(train_labels).mean(axis=0) > 0.5).astype(np.float32)
    return np.tile(majority, (n, 1))


def balanced_thresholds(probs, truth, default: float = 0.5) -> np.ndarray:
    """Each label's decision threshold with the best balanced accuracy on
    `(probs, truth)` (a validation split's), for decisions `probs > threshold`.

    The threshold is the midpoint between the two probabilities the best cut
    falls between; among equally good cuts, the one nearest `default`. A
    label with one class only, or one probability for every image, keeps
    `default`.

    Args:
        probs: `(n, L)` probabilities.
        truth: `(n, L)` 0/1 truth.
        default: The threshold where none can be chosen.

    Returns:
        `(L,)` thresholds.
    """
    probs = np.asarray(probs, np.float64)
    truth = np.asarray(truth) > 0.5
    if probs.shape != truth.shape or probs.ndim != 2:
        raise ValueError(f"probabilities {probs.shape} and truth {truth.shape} do not match")
    thresholds = np.full(probs.shape[1], float(default))
    for label in range(probs.shape[1]):
        order = np.argsort(probs[:, label], kind="stable")
        p, y = probs[order, label], truth[order, label]
        positives, negatives = int(y.sum()), int((~y).sum())
        if positives == 0 or negatives == 0:
            continue
        # A cut after position i calls images 0..i absent and the rest present.
        tnr = np.cumsum(~y)[:-1] / negatives
        tpr = (positives - np.cumsum(y)[:-1]) / positives
        cuts = (p[:-1] + p[1:]) / 2
        valid = p[1:] > p[:-1]                     # a cut between two equal values is none
        if not valid.any():
            continue
        score = np.where(valid, (tpr + tnr) / 2, -np.inf)
        best = np.flatnonzero(score >= score.max() - 1e-12)
        thresholds[label] = cuts[best[np.argmin(np.abs(cuts[best] - default))]]
    return thresholds
