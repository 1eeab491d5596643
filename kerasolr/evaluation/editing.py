"""Edits and generations judged by an independent attribute classifier (paper section 4.5).

Every figure is relative to the judge's decisions on the *unedited
reconstruction*, so decoder blur is not counted as an edit:
- add success: of the (image, label) cases the judge says are absent in the
  reconstruction, the fraction it detects after `add_label`;
- remove success: of the cases it says are present, the fraction it no
  longer detects after `remove_label`;
- preservation: the fraction of the *other* labels' decisions unchanged by
  either edit;
- add success at scale: the same with the added sample multiplied by `s`
  (the paper's Fig. 8: upscaled samples make the edit more evident);
- emphasis gain: the mean rise of the judge's probability when a present
  label's slot is scaled by `s`.
"""

from __future__ import annotations

import numpy as np

from kerasolr import editing


def _mean(values) -> float:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def _rate(hits) -> float:
    return float(np.mean(hits)) if len(hits) else float("nan")


def edit_metrics(embeddings, decode_and_judge, gaussians: editing.LabelGaussians, seed: int,
                 threshold: float = 0.5, scale: float = 1.5) -> dict[str, float]:
    """Adds, removes and emphasises every label on every embedding; judges the results.

    Args:
        embeddings: `(n, L, k)` held-out embeddings.
        decode_and_judge: `(n, L, k) -> (n, L)` the judge's probabilities on
            the decoded images.
        gaussians: The fitted label Gaussians.
        seed: Sampling seed.
        threshold: Judge probability above which a label is present.
        scale: Emphasis factor.

    Returns:
        Flat `edit.*` and `per_label.<Name>.{add_success, remove_success,
        edit_preservation, emphasis_gain}` metrics (NaN where no case applies,
        e.g. a label the judge sees in every reconstruction has no add case,
        and a label absent from every training image cannot be added).
    """
    embeddings = np.asarray(embeddings, np.float32)
    names = gaussians.names
    base_probs = decode_and_judge(embeddings)
    base = base_probs > threshold
    results: dict[str, float] = {}
    adds, adds_scaled, removes, keeps, gains = [], [], [], [], []
    for label, name in enumerate(names):
        others = np.arange(len(names)) != label
        removed = decode_and_judge(editing.remove_label(embeddings, label)) > threshold
        absent = ~base[:, label]
        sampled = gaussians.counts[label] > 0      # a label no training image had: no add
        added = (decode_and_judge(editing.add_label(embeddings, label, gaussians, seed))
                 > threshold) if sampled else None
        add = _rate(added[absent, label]) if sampled else float("nan")
        if absent.any() and sampled:
            added_scaled = decode_and_judge(editing.add_label(
                embeddings[absent], label, gaussians, seed, scale)) > threshold
            add_scaled = float(np.mean(added_scaled[:, label]))
        else:
            add_scaled = float("nan")
        remove = _rate(~removed[base[:, label], label])
        kept = [(removed[:, others] == base[:, others]).ravel()]
        if sampled:
            kept.append((added[:, others] == base[:, others]).ravel())
        keep = float(np.mean(np.concatenate(kept)))
        present = base[:, label]
        if present.any():
            scaled = decode_and_judge(editing.scale_label(embeddings[present], label, scale))
            gain = float(np.mean(scaled[:, label] - base_probs[present, label]))
        else:
            gain = float("nan")
        results[f"per_label.{name}.add_success"] = add
        results[f"per_label.{name}.add_success_scaled"] = add_scaled
        results[f"per_label.{name}.remove_success"] = remove
        results[f"per_label.{name}.edit_preservation"] = keep
        results[f"per_label.{name}.emphasis_gain"] = gain
        adds.append(add)
        adds_scaled.append(add_scaled)
        removes.append(remove)
        keeps.append(keep)
        gains.append(gain)
    results["edit.add_success"] = _mean(adds)
    results["edit.add_success_scaled"] = _mean(adds_scaled)
    results["edit.remove_success"] = _mean(removes)
    results["edit.preservation"] = _mean(keeps)
    results["edit.emphasis_gain"] = _mean(gains)
    results["edit.num_images"] = float(len(embeddings))
    return results


def generation_metrics(label_sets, decode_and_judge, gaussians: editing.LabelGaussians,
                       seed: int, threshold: float = 0.5) -> dict[str, float]:
    """Generates from labels alone and checks the judge sees what was asked.

    Args:
        label_sets: `(n, L)` wanted labels (e.g. the held-out images' own label
            vectors, so the combinations are plausible).
        decode_and_judge: `(n, L, k) -> (n, L)` judge probabilities.
        gaussians: The fitted label Gaussians.
        seed: Sampling seed.
        threshold: Judge probability above which a label is present.

    Returns:
        `generation.accuracy` (wanted labels detected, over all wanted
        (image, label) cases), `generation.unwanted_absent` (labels not asked
        for and not detected), `generation.exact_match` (all L decisions right)
        and `per_label.<Name>.generation_accuracy`. Labels absent from every
        training image (no Gaussian) are not asked for.
    """
    # A label no training image had has no Gaussian: it is never asked for.
    wanted = (np.asarray(label_sets) > 0.5) & (np.asarray(gaussians.counts) > 0)
    detected = decode_and_judge(editing.generate(wanted, gaussians, seed)) > threshold
    return generation_scores(wanted, detected, gaussians.names)


def generation_scores(wanted, detected, names) -> dict[str, float]:
    """Scores images generated from label sets, whatever generated them.

    Args:
        wanted: `(n, L)` bool, the labels each image was generated with.
        detected: `(n, L)` bool, the labels the judge sees in it.
        names: The L label names.

    Returns:
        `generation.accuracy` (wanted labels detected, over all wanted
        (image, label) cases), `generation.unwanted_absent`,
        `generation.exact_match` and `per_label.<Name>.generation_accuracy`.
    """
    wanted = np.asarray(wanted, bool)
    detected = np.asarray(detected, bool)
    results = {
        "generation.accuracy": _rate(detected[wanted]),
        "generation.unwanted_absent": _rate(~detected[~wanted]),
        "generation.exact_match": float(np.mean(np.all(detected == wanted, axis=1))),
    }
    balanced, precisions = [], []
    for label, name in enumerate(names):
        asked, seen = wanted[:, label], detected[:, label]
        recall = _rate(seen[asked])
        specificity = _rate(~seen[~asked])
        precision = _rate(asked[seen])
        results[f"per_label.{name}.generation_accuracy"] = recall
        results[f"per_label.{name}.generation_unwanted_absent"] = specificity
        results[f"per_label.{name}.generation_precision"] = precision
        results[f"per_label.{name}.generation_balanced_accuracy"] = _mean([recall, specificity])
        balanced.append(results[f"per_label.{name}.generation_balanced_accuracy"])
        precisions.append(precision)
    # Recall alone rewards drawing every attribute everywhere; the balanced
    # accuracy also counts the labels shown without being asked for.
    results["generation.balanced_accuracy"] = _mean(balanced)
    results["generation.precision"] = _mean(precisions)
    return results


def generation_diversity(label_sets, decode, gaussians: editing.LabelGaussians, seed: int,
                         samples: int = 4) -> float:
    """How different the images generated from one label set are: the mean,
    over label sets, of the root-mean-square pixel difference between every
    two of `samples` images drawn for it (0: the sampling changes nothing).

    Args:
        label_sets: `(n, L)` wanted labels.
        decode: `(m, L, k) -> (m, h, w, 3)` images in [0, 1].
        gaussians: The label Gaussians.
        seed: Sampling seed (sample `j` uses `seed + j`).
        samples: Images per label set (>= 2).
    """
    wanted = (np.asarray(label_sets) > 0.5) & (np.asarray(gaussians.counts) > 0)
    images = np.stack([decode(editing.generate(wanted, gaussians, seed + j))
                       for j in range(samples)], axis=1)           # (n, samples, h, w, 3)
    images = images.reshape(len(wanted), samples, -1).astype(np.float64)
    distances = [np.sqrt(np.mean((images[:, a] - images[:, b]) ** 2, axis=1))
                 for a in range(samples) for b in range(a + 1, samples)]
    return float(np.mean(distances))


def same_label_diversity(embeddings, truth, decode, seed: int, max_pairs: int = 256
                         ) -> tuple[float, int]:
    """The reference for `generation_diversity`: the root-mean-square pixel
    difference between the decoded embeddings of two *real* images with the
    same label vector, averaged over up to `max_pairs` such pairs (a seeded
    sample of all of them). Generated samples of one label set that differ
    as much vary as much as real faces with those labels do, as the decoder
    shows them.

    Args:
        embeddings: `(m, L, k)` embeddings of real images.
        truth: `(m, L)` their labels.
        decode: `(n, L, k) -> (n, h, w, 3)` images in [0, 1].
        seed: Seed of the pair sample.
        max_pairs: Most pairs compared.

    Returns:
        `(mean difference, pairs compared)`; `(nan, 0)` when no two images
        share a label vector.
    """
    keys = [row.tobytes() for row in np.asarray(truth) > 0.5]
    groups: dict[bytes, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    pairs = [(a, b) for members in groups.values()
             for i, a in enumerate(members) for b in members[i + 1:]]
    if not pairs:
        return float("nan"), 0
    rng = np.random.default_rng(seed)
    chosen = np.asarray(pairs)[rng.permutation(len(pairs))[:max_pairs]]
    used = np.unique(chosen)
    position = {int(index): i for i, index in enumerate(used)}
    images = np.asarray(decode(np.asarray(embeddings)[used]), np.float64).reshape(len(used), -1)
    first = images[[position[int(a)] for a in chosen[:, 0]]]
    second = images[[position[int(b)] for b in chosen[:, 1]]]
    return float(np.mean(np.sqrt(np.mean((first - second) ** 2, axis=1)))), len(chosen)
