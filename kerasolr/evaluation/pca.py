"""Per-label PCA of slot vectors (paper section 4.3, Fig. 5)."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def slot_pca(slots, num_components: int = 2) -> dict[str, np.ndarray]:
    """PCA of one label's slot vectors.

    Args:
        slots: `(N, k)` slot vectors of one label over all images.
        num_components: Components whose explained variance is returned.

    Returns:
        `{"explained": (num_components,) variance ratios, "component": (k,) first
        eigenvector, "projection": (N,) projections on it}`. The component's sign
        is chosen so the projection grows with the slot norm (a larger projection
        then means "more of the label", as in Fig. 5).
    """
    slots = np.asarray(slots, np.float64)
    centred = slots - slots.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    total = variance.sum()
    explained = variance / total if total > 0 else np.zeros_like(variance)
    explained = np.pad(explained, (0, max(0, num_components - len(explained))))
    component = vt[0]
    projection = centred @ component
    norms = np.linalg.norm(slots, axis=1)
    if np.std(norms) > 0 and np.std(projection) > 0 and np.corrcoef(projection, norms)[0, 1] < 0:
        component, projection = -component, -projection
    return {"explained": explained[:num_components], "component": component,
            "projection": projection}


def pca_metrics(embeddings, probabilities, names) -> tuple[dict[str, float], dict]:
    """Per-label PCA explained variance and the rank correlation of the first
    component's projection with the classifier's probability for that label.

    Args:
        embeddings: `(N, L, k)`.
        probabilities: `(N, L)` the classifier's probabilities on the same images.
        names: The L label names.

    Returns:
        `(results, projections)`: flat `pca.*` and `per_label.<Name>.pc*` metrics,
        and `{name: (N,) projection}`.
    """
    embeddings = np.asarray(embeddings)
    probabilities = np.asarray(probabilities)
    results: dict[str, float] = {}
    projections = {}
    pc1, pc2, rho = [], [], []
    for label, name in enumerate(names):
        pca = slot_pca(embeddings[:, label])
        projections[name] = pca["projection"]
        r = spearmanr(pca["projection"], probabilities[:, label]).statistic
        r = float(r) if np.isfinite(r) else float("nan")
        results[f"per_label.{name}.pc1_explained_variance"] = float(pca["explained"][0])
        results[f"per_label.{name}.pc2_explained_variance"] = float(pca["explained"][1])
        results[f"per_label.{name}.pc1_prob_spearman"] = r
        pc1.append(pca["explained"][0])
        pc2.append(pca["explained"][1])
        rho.append(r)
    results["pca.pc1_explained_variance_mean"] = float(np.mean(pc1))
    results["pca.pc2_explained_variance_mean"] = float(np.mean(pc2))
    results["pca.pc1_prob_spearman_mean"] = float(np.nanmean(rho))
    return results, projections
