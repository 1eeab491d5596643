"""Mutual information between latent dimensions and labels, and the dimension
selection of the retrieval paper (Mendez et al., section 6): for a similarity
criterion, keep the latent dimensions whose mutual information with the
criterion's labels is higher than the mean over all dimensions.

The estimator bins every dimension into `bins` equal-frequency bins (quantiles
of the values given) and computes the discrete mutual information, in nats,
between the bin and the 0/1 label.
"""

from __future__ import annotations

import numpy as np


def _bin_indices(values: np.ndarray, bins: int) -> np.ndarray:
    """`(n, d)` values -> `(n, d)` equal-frequency bin indices in `[0, bins)`."""
    edges = np.quantile(values, np.linspace(0.0, 1.0, bins + 1)[1:-1], axis=0)   # (bins-1, d)
    index = np.empty(values.shape, np.int64)
    for j in range(values.shape[1]):
        index[:, j] = np.searchsorted(edges[:, j], values[:, j], side="right")
    return index


def mutual_information(codes, labels, bins: int = 16) -> np.ndarray:
    """Mutual information (nats) of every dimension with every label.

    Args:
        codes: `(n, d)` representations (e.g. of the training split).
        labels: `(n, L)` 0/1 labels.
        bins: Equal-frequency bins per dimension.

    Returns:
        `(L, d)` estimates; a constant dimension gives 0, a dimension equal to
        a balanced label gives `log 2`.
    """
    codes = np.asarray(codes, np.float64).reshape(len(codes), -1)
    labels = np.asarray(labels) > 0.5
    if len(codes) != len(labels):
        raise ValueError(f"{len(codes)} codes but {len(labels)} label rows")
    if bins < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    n, d = codes.shape
    index = _bin_indices(codes, bins)                                   # (n, d)
    offsets = (2 * bins) * np.arange(d)                                 # one block per dimension
    result = np.zeros((labels.shape[1], d))
    for label in range(labels.shape[1]):
        y = labels[:, label].astype(np.int64)
        # Joint counts of (label value, bin) per dimension: (d, 2, bins).
        joint = np.bincount((index + bins * y[:, None] + offsets).ravel(),
                            minlength=2 * bins * d).reshape(d, 2, bins) / n
        p_label = joint.sum(axis=2, keepdims=True)                     # (d, 2, 1)
        p_bin = joint.sum(axis=1, keepdims=True)                       # (d, 1, bins)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(joint > 0, joint * np.log(joint / (p_label * p_bin)), 0.0)
        result[label] = np.maximum(terms.sum(axis=(1, 2)), 0.0)
    return result


def select_dimensions(information) -> list[np.ndarray]:
    """For each label, the dimensions with more mutual information than the mean.

    Args:
        information: `(L, d)` from `mutual_information`.

    Returns:
        One array of dimension indices per label; all dimensions when none is
        above the mean (every dimension equally informative).
    """
    information = np.asarray(information, np.float64)
    selected = []
    for row in information:
        above = np.flatnonzero(row > row.mean())
        selected.append(above if len(above) else np.arange(len(row)))
    return selected
