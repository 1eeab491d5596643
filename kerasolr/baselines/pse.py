"""PSE's own metrics: annotation by the most likely label vector, and its candidates.

PSE (eq. 2) puts every label vector `l` in the image latent space as a
Gaussian `q(z|l)`. Its paper annotates an image with the label whose
Gaussian gives the image's mean `mu_x` the highest likelihood. With multiple
labels per image the candidates are label *vectors*; here they are the
distinct label vectors of the training split (at most `max_candidates`, the
most frequent), so annotation picks one whole, plausible label vector.
"""

from __future__ import annotations

import numpy as np


def candidate_label_sets(labels, max_candidates: int = 4096) -> np.ndarray:
    """The distinct rows of `(n, L)` 0/1 labels, most frequent first (ties in
    row order), at most `max_candidates` of them: `(c, L)` float32."""
    labels = np.asarray(labels) > 0.5
    rows, first, counts = np.unique(labels, axis=0, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))[:max_candidates]
    return rows[order].astype(np.float32)


def gaussian_log_likelihoods(points, means, log_vars) -> np.ndarray:
    """`log N(points[i]; means[j], diag(exp(log_vars[j])))` for every pair.

    Args:
        points: `(n, d)`.
        means: `(c, d)`.
        log_vars: `(c, d)`.

    Returns:
        `(n, c)` float64 log-densities.
    """
    x = np.asarray(points, np.float64)
    mu = np.asarray(means, np.float64)
    log_var = np.asarray(log_vars, np.float64)
    precision = np.exp(-log_var)                                  # (c, d)
    # sum_d (x - mu)^2 / var, expanded into matrix products: (n, c)
    mahalanobis = (x ** 2) @ precision.T - 2.0 * x @ (mu * precision).T + (
        mu ** 2 * precision).sum(axis=1)
    constant = log_var.sum(axis=1) + x.shape[1] * np.log(2.0 * np.pi)
    return -0.5 * (mahalanobis + constant)


def annotate(image_means, candidate_means, candidate_log_vars, candidates,
             chunk: int = 1024) -> np.ndarray:
    """The most likely candidate label vector of every image.

    Args:
        image_means: `(n, d)` means of `q(z|x)`.
        candidate_means: `(c, d)` means of `q(z|l)` for every candidate `l`.
        candidate_log_vars: `(c, d)` their log-variances.
        candidates: `(c, L)` the candidate label vectors.
        chunk: Images scored at once (memory: `chunk x c`).

    Returns:
        `(n, L)` the chosen label vectors.
    """
    chosen = []
    for start in range(0, len(image_means), chunk):
        scores = gaussian_log_likelihoods(image_means[start:start + chunk], candidate_means,
                                          candidate_log_vars)
        chosen.append(np.argmax(scores, axis=1))
    index = np.concatenate(chosen) if chosen else np.zeros((0,), np.int64)
    return np.asarray(candidates)[index]
