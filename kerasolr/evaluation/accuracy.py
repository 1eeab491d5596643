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
