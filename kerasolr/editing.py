"""Per-label Gaussians on the embedding slots, and edits of embeddings.

Every label `l` gets the mean and covariance of its slot vectors `e^l` over the
images that have it (paper eq. 4-5). An embedding `(L, k)` is edited by:
- `add_label`: its slot replaced by a sample of the label's Gaussian (times `scale`);
- `remove_label`: its slot zeroed (or replaced by a sample shrunk to a small norm);
- `scale_label`: its slot multiplied by `s` (emphasis when `s > 1`);
- `slerp`: spherical interpolation between two slot vectors (from the ATNL paper);
and `generate` builds embeddings from labels alone (wanted slots sampled, zeros
elsewhere). `LabelStructure` and `structured_edit` change one label the way the
training labels say labels go together: what the new label excludes is
removed, what it implies is added (and, removing it, what implies it goes
too), each changed slot resampled; with `ContextEffects`, the slots it leaves
alone also move by the edited label's mean effect on them. All functions are pure numpy; randomness
comes from a `seed`.

Reference: paper section 4.5, eq. 4-5, Fig. 7-8.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np


@dataclasses.dataclass(frozen=True)
class LabelGaussians:
    """The Gaussian of every label's slot vectors.

    Attributes:
        names: The L label names.
        means: `(L, k)` means (eq. 4).
        covariances: `(L, k, k)` covariances (eq. 5).
        counts: `(L,)` images each Gaussian was fitted on.
    """

    names: tuple[str, ...]
    means: np.ndarray
    covariances: np.ndarray
    counts: np.ndarray

    @property
    def k(self) -> int:
        """Numbers per slot."""
        return int(self.means.shape[1])

    def index(self, name: str) -> int:
        """The slot index of a label; unknown names raise a one-line `ValueError`."""
        if name not in self.names:
            raise ValueError(f"unknown label {name!r}; known: {', '.join(self.names)}")
        return self.names.index(name)

    def sample(self, label: int, n: int, seed: int) -> np.ndarray:
        """`n` samples `(n, k)` of label `label`'s Gaussian.

        A label no image had (count 0) cannot be sampled: `ValueError`.
        """
        if self.counts[label] == 0:
            raise ValueError(f"label {self.names[label]!r} was absent from every image the "
                             "Gaussians were fitted on; it cannot be sampled")
        rng = np.random.default_rng([seed, label])
        normal = rng.standard_normal((n, self.means.shape[1]))
        return (self.means[label] + normal @ self.covariance_root(label).T).astype(np.float32)

    def covariance_root(self, label: int) -> np.ndarray:
        """`(k, k)` R with R R^T = the label's covariance: the eigenvectors scaled
        by the square roots of the eigenvalues, robust to a singular covariance
        (e.g. fewer images than dimensions), unlike Cholesky."""
        values, vectors = np.linalg.eigh(self.covariances[label])
        return vectors * np.sqrt(np.clip(values, 0.0, None))

    def save(self, path: str) -> None:
        """Writes an `.npz` atomically."""
        partial = path + ".partial.npz"
        np.savez(partial, names=np.array(self.names), means=self.means,
                 covariances=self.covariances, counts=self.counts)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: str) -> LabelGaussians:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: fit the label Gaussians first")
        with np.load(path) as f:
            return cls(tuple(str(n) for n in f["names"]), f["means"], f["covariances"],
                       f["counts"])


def fit_label_gaussians(embeddings, labels, names) -> LabelGaussians:
    """Fits each label's Gaussian on the slots of the images that have it.

    Args:
        embeddings: `(N, L, k)` embeddings.
        labels: `(N, L)` binary labels.
        names: The L label names.

    Returns:
        The `LabelGaussians`; a label present in fewer than 2 images gets a zero
        covariance (and, when absent everywhere, a zero mean and count 0).

    Reference: paper eq. 4 (mean) and eq. 5 (covariance `E[XX^T] - E[X]E[X]^T`).
    """
    embeddings = np.asarray(embeddings, np.float64)
    labels = np.asarray(labels) > 0.5
    n, num_labels, k = embeddings.shape
    if labels.shape != (n, num_labels) or len(names) != num_labels:
        raise ValueError(f"embeddings {embeddings.shape}, labels {labels.shape} and "
                         f"{len(names)} names do not agree")
    means = np.zeros((num_labels, k))
    covariances = np.zeros((num_labels, k, k))
    counts = labels.sum(axis=0)
    for label in range(num_labels):
        slots = embeddings[labels[:, label], label]   # (count, k)
        if len(slots) == 0:
            continue
        means[label] = slots.mean(axis=0)
        if len(slots) >= 2:
            covariances[label] = np.cov(slots, rowvar=False, bias=True).reshape(k, k)
    return LabelGaussians(tuple(names), means.astype(np.float32),
                          covariances.astype(np.float32), counts.astype(np.int64))


def _check_label(embedding, label: int) -> None:
    if not 0 <= label < embedding.shape[-2]:
        raise ValueError(f"label index {label} out of range for {embedding.shape[-2]} labels")


def add_label(embedding, label: int, gaussians: LabelGaussians, seed: int,
              scale: float = 1.0) -> np.ndarray:
    """Puts a sample of the label's Gaussian (times `scale`) in its slot.

    Args:
        embedding: `(L, k)` or `(batch, L, k)`.
        label: Slot index.
        gaussians: The fitted Gaussians.
        seed: Sampling seed (one sample per embedding in a batch).
        scale: Multiplies the sample (`> 1` emphasises, `< 1` gives a mild phenotype).

    Returns:
        A new array; only slot `label` differs from the input.
    """
    out = np.array(embedding, np.float32, copy=True)
    _check_label(out, label)
    batch = out.reshape(-1, *out.shape[-2:])
    batch[:, label] = scale * gaussians.sample(label, len(batch), seed)
    return batch.reshape(out.shape)


def remove_label(embedding, label: int, gaussians: LabelGaussians | None = None,
                 seed: int = 0, norm: float = 0.0) -> np.ndarray:
    """Zeros the label's slot, or (`norm > 0`) fills it with a Gaussian sample
    scaled to that norm, the paper's two ways of removing a phenotype."""
    out = np.array(embedding, np.float32, copy=True)
    _check_label(out, label)
    batch = out.reshape(-1, *out.shape[-2:])
    if norm > 0.0:
        if gaussians is None:
            raise ValueError("remove_label with norm > 0 needs the label Gaussians")
        sample = gaussians.sample(label, len(batch), seed)
        sample *= norm / np.maximum(np.linalg.norm(sample, axis=-1, keepdims=True), 1e-12)
        batch[:, label] = sample
    else:
        batch[:, label] = 0.0
    return batch.reshape(out.shape)


def scale_label(embedding, label: int, s: float) -> np.ndarray:
    """Multiplies the label's slot by `s` (paper Fig. 8: `s = 1.5` emphasises)."""
    out = np.array(embedding, np.float32, copy=True)
    _check_label(out, label)
    out[..., label, :] *= s
    return out


def balanced_labels(labels, count: int) -> list[int]:
    """Indices of the `count` labels whose prevalence in `labels` `(n, L)` is
    closest to one half (ties by index)."""
    prevalence = np.asarray(labels, np.float64).mean(axis=0)
    return [int(i) for i in np.argsort(np.abs(prevalence - 0.5), kind="stable")[:count]]


def toggle_edits(embeddings, labels, label_ids, names, gaussians: LabelGaussians,
                 seed: int) -> dict[str, np.ndarray]:
    """Per label: the embeddings with it removed where the image has it and
    added where it does not, keyed `"add/remove <name>"` (`toggle_row_titles`
    says, per image, which of the two each column did)."""
    edits = {}
    for label in label_ids:
        added = add_label(embeddings, label, gaussians, seed)
        removed = remove_label(embeddings, label)
        has = np.asarray(labels)[:, label] > 0.5
        edits[f"add/remove {names[label]}"] = np.where(has[:, None, None], removed, added)
    return edits


def toggle_row_titles(labels, label_ids, names) -> list[str]:
    """Per image, the labels of `label_ids` it has (their `toggle_edits`
    column removed them; every other column added its label)."""
    titles = []
    for row in np.asarray(labels) > 0.5:
        has = [names[label] for label in label_ids if row[label]]
        titles.append("has " + ", ".join(has) if has else "has none")
    return titles


TOGGLE_TITLE = ("each column removes its label where the image has it (left) and adds it where "
                "it does not")


def slerp(a, b, t):
    """Spherical linear interpolation between vectors `a` and `b` `(..., k)`.

    Moves along the great circle at a constant angular rate; the norm goes
    linearly from `|a|` to `|b|`, so slots of different magnitudes interpolate
    without the norm dip of a straight line. `t` is a scalar or `(n,)`
    (giving `(n, ..., k)`). Parallel vectors fall back to linear interpolation.

    Reference: ATNL (semantics-guided representation), slerp between latents.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)
    scalar = t.ndim == 0
    t = t.reshape(-1, *([1] * a.ndim))
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    unit_a = a / np.maximum(norm_a, 1e-12)
    unit_b = b / np.maximum(norm_b, 1e-12)
    cos = np.clip(np.sum(unit_a * unit_b, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(cos)
    sin = np.sin(omega)
    parallel = sin < 1e-6
    safe = np.where(parallel, 1.0, sin)
    direction = np.where(parallel, (1 - t) * unit_a + t * unit_b,
                         (np.sin((1 - t) * omega) * unit_a + np.sin(t * omega) * unit_b) / safe)
    direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-12)
    out = ((1 - t) * norm_a + t * norm_b) * direction
    out = out.astype(np.float32)
    return out[0] if scalar else out


def generate(label_sets, gaussians: LabelGaussians, seed: int,
             scale: float = 1.0) -> np.ndarray:
    """Embeddings from labels alone: every wanted slot sampled, zeros elsewhere.

    Args:
        label_sets: `(n, L)` binary array of wanted labels.
        gaussians: The fitted Gaussians (or anything with their `names`, `k`
            and `sample(label, n, seed)`, such as the web app's `Models`).
        seed: Sampling seed.
        scale: Multiplies every sample.

    Returns:
        `(n, L, k)` float32 embeddings.
    """
    label_sets = np.asarray(label_sets) > 0.5
    n, num_labels = label_sets.shape
    if num_labels != len(gaussians.names):
        raise ValueError(f"label sets have {num_labels} labels, the Gaussians "
                         f"{len(gaussians.names)}")
    out = np.zeros((n, num_labels, gaussians.k), np.float32)
    for label in range(num_labels):
        rows = np.flatnonzero(label_sets[:, label])
        if len(rows):
            out[rows, label] = scale * gaussians.sample(label, len(rows), seed + 7919 * label)
    return out


@dataclasses.dataclass(frozen=True)
class LabelStructure:
    """Which labels exclude or imply each other, read off the training labels.

    Attributes:
        names: The L label names.
        implies: `(L, L)` booleans: `implies[a, b]`, label `a` present means
            `b` present (`P(b | a) >= 1 - tolerance`).
        excludes: `(L, L)` booleans: `excludes[a, b]`, `a` present means `b`
            absent (`P(b | a) <= tolerance`, `b` common enough to matter).
    """

    names: tuple[str, ...]
    implies: np.ndarray
    excludes: np.ndarray

    def pairs(self, kind: str) -> list[tuple[str, str]]:
        """`(a, b)` names of every `"implies"` or `"excludes"` pair."""
        matrix = {"implies": self.implies, "excludes": self.excludes}[kind]
        return [(self.names[a], self.names[b]) for a, b in zip(*np.nonzero(matrix), strict=True)]


def label_structure(labels, names, tolerance: float = 0.02, min_count: int = 20
                    ) -> LabelStructure:
    """`LabelStructure` of `(n, L)` training labels.

    Args:
        labels: `(n, L)` binary labels.
        names: The L names.
        tolerance: How far from 0 or 1 a conditional frequency may be.
        min_count: Labels present in fewer images imply and exclude nothing
            (their frequencies are too noisy), and a label is excluded only
            if at least `min_count` images have it.
    """
    labels = np.asarray(labels) > 0.5
    counts = labels.sum(axis=0).astype(np.float64)
    together = labels.T.astype(np.float64) @ labels.astype(np.float64)     # (L, L)
    given = together / np.maximum(counts[:, None], 1.0)                     # P(b | a)
    trusted = counts >= min_count
    off_diagonal = ~np.eye(len(counts), dtype=bool)
    implies = (given >= 1.0 - tolerance) & trusted[:, None] & off_diagonal
    excludes = (given <= tolerance) & trusted[:, None] & trusted[None, :] & off_diagonal
    return LabelStructure(tuple(names), implies, excludes)


def structured_targets(current, label: int, add, structure: LabelStructure) -> np.ndarray:
    """The label sets after setting `label` (present where `add`, absent
    elsewhere) and following the structure until nothing more changes: a label
    set present adds what it implies and removes what it excludes or what
    excludes it (either way the two do not go together); a label set absent
    removes what implies it.

    Args:
        current: `(n, L)` the images' current labels.
        label: The label edited.
        add: `(n,)` booleans.
        structure: The `LabelStructure`.

    Returns:
        `(n, L)` booleans.
    """
    target = np.array(np.asarray(current) > 0.5, copy=True)
    add = np.asarray(add, bool)
    target[:, label] = add
    fixed = np.zeros_like(target)          # labels the edit has decided, never flipped back
    fixed[:, label] = True
    for _ in range(target.shape[1]):
        before = target.copy()
        present = target & fixed
        absent = ~target & fixed
        # Present labels: add what they imply, remove what they exclude.
        implied = (present.astype(np.int64) @ structure.implies.astype(np.int64)) > 0
        clash = (structure.excludes | structure.excludes.T).astype(np.int64)
        excluded = (present.astype(np.int64) @ clash) > 0
        # Absent labels: remove every label that implies them.
        implying = (absent.astype(np.int64) @ structure.implies.T.astype(np.int64)) > 0
        free = ~fixed
        target = np.where(free & implied, True, target)
        target = np.where(free & (excluded | implying), False, target)
        fixed |= target != before
        if np.array_equal(target, before):
            break
    return target


@dataclasses.dataclass
class ConditionalSlots:
    """Each label's slot given the image's other slots: a linear-Gaussian model
    `y | x ~ N(mean_y + B (x - mean_x), residual)` fitted on the training
    images that have the label (`x`: the other L - 1 slots, flattened), so an
    added slot is drawn as it is in images that look like this one.

    Attributes:
        means_y: `(L, k)`; means_x: `(L, (L - 1) k)`; gains: `(L, k, (L - 1) k)`
        the ridge regression `B`; residual_roots: `(L, k, k)` `R` with `R R^T`
        the residual covariance; counts: `(L,)` images fitted on.
    """

    means_y: np.ndarray
    means_x: np.ndarray
    gains: np.ndarray
    residual_roots: np.ndarray
    counts: np.ndarray

    def sample(self, label: int, embeddings, seed: int) -> np.ndarray:
        """`(n, k)` samples of `label`'s slot given `embeddings` `(n, L, k)`'s other slots."""
        if self.counts[label] == 0:
            raise ValueError(f"label {label} was absent from every image the conditional "
                             "model was fitted on; it cannot be sampled")
        embeddings = np.asarray(embeddings, np.float64)
        others = np.delete(embeddings, label, axis=1).reshape(len(embeddings), -1)
        mean = self.means_y[label] + (others - self.means_x[label]) @ self.gains[label].T
        rng = np.random.default_rng([seed, label])
        normal = rng.standard_normal((len(embeddings), self.means_y.shape[1]))
        return (mean + normal @ self.residual_roots[label].T).astype(np.float32)


def fit_conditional_slots(embeddings, labels, ridge: float = 0.1) -> ConditionalSlots:
    """Fits `ConditionalSlots` on training embeddings `(N, L, k)` and labels `(N, L)`.

    Args:
        ridge: Added to the other slots' covariance as `ridge * mean variance`
            times the identity (there are `(L - 1) k` inputs, often more than
            a rare label's images).
    """
    embeddings = np.asarray(embeddings, np.float64)
    labels = np.asarray(labels) > 0.5
    n, num_labels, k = embeddings.shape
    d = (num_labels - 1) * k
    means_y, means_x = np.zeros((num_labels, k)), np.zeros((num_labels, d))
    gains, roots = np.zeros((num_labels, k, d)), np.zeros((num_labels, k, k))
    counts = labels.sum(axis=0)
    for label in range(num_labels):
        rows = embeddings[labels[:, label]]
        if len(rows) == 0:
            continue
        y = rows[:, label]
        x = np.delete(rows, label, axis=1).reshape(len(rows), -1)
        means_y[label], means_x[label] = y.mean(axis=0), x.mean(axis=0)
        if len(rows) < 2:
            continue
        xc, yc = x - means_x[label], y - means_y[label]
        cxx = xc.T @ xc / len(rows)
        cxx[np.diag_indices(d)] += ridge * max(np.trace(cxx) / d, 1e-12)
        gains[label] = np.linalg.solve(cxx, xc.T @ yc / len(rows)).T
        residual = yc - xc @ gains[label].T
        values, vectors = np.linalg.eigh(residual.T @ residual / len(rows))
        roots[label] = vectors * np.sqrt(np.clip(values, 0.0, None))
    return ConditionalSlots(means_y, means_x, gains, roots, counts)


@dataclasses.dataclass(frozen=True)
class ContextEffects:
    """How the presence of each label moves the *other* labels' slots, read off
    the training embeddings: `effects[a, j, v]` is the mean of slot `j` over the
    images that have label `a` minus its mean over those that lack it, both
    among the images whose own label `j` is `v` (so that `j`'s own presence,
    which the label structure handles, is held fixed). An edit of `a` that adds
    it moves every slot it leaves alone by `+effects[a, j, v]` (removing it, by
    minus that): the rest of the embedding then carries what images with (or
    without) `a` carry, instead of contradicting the edited slot (the encoder
    spreads some of a label over the other slots, and the decoder reads it
    there too).

    The idea is that of attribute vectors (mean latent differences between
    images with and without an attribute; Larsen et al. 2016, White 2016),
    taken slot by slot and given each slot's own label.

    Attributes:
        names: The L label names.
        effects: `(L, L, 2, k)`; zero where a mean rests on fewer than
            `min_count` images, and for `j = a`.
        counts: `(L, L, 2, 2)`: images behind each mean, `[a, j, v, a's value]`.
    """

    names: tuple[str, ...]
    effects: np.ndarray
    counts: np.ndarray


def fit_context_effects(embeddings, labels, names, min_count: int = 20,
                        chunk: int = 8192) -> ContextEffects:
    """`ContextEffects` of training embeddings `(N, L, k)` and labels `(N, L)`,
    read `chunk` images at a time (the embeddings may be an on-disk array)."""
    labels = np.asarray(labels) > 0.5
    n, num_labels = labels.shape
    if len(embeddings) != n:
        raise ValueError(f"{len(embeddings)} embeddings but {n} label rows")
    k = int(embeddings.shape[-1])
    sums = np.zeros((num_labels, num_labels, 2, 2, k))           # [a, j, v, a value, k]
    counts = np.zeros((num_labels, num_labels, 2, 2))
    for start in range(0, n, chunk):
        e = np.asarray(embeddings[start:start + chunk], np.float64)
        y = labels[start:start + chunk]
        for v in (0, 1):
            with_v = (y == bool(v)).astype(np.float64)          # (m, L): label j is v
            slots_v = (with_v[..., None] * e).reshape(len(y), -1)   # slot j where j is v
            for value in (0, 1):
                with_a = (y == bool(value)).astype(np.float64)  # (m, L): label a is value
                sums[:, :, v, value] += (with_a.T @ slots_v).reshape(num_labels, num_labels, k)
                counts[:, :, v, value] += with_a.T @ with_v
    trusted = (counts >= min_count).all(axis=3) & ~np.eye(num_labels, dtype=bool)[:, :, None]
    means = sums / np.maximum(counts, 1.0)[..., None]
    effects = np.where(trusted[..., None], means[:, :, :, 1] - means[:, :, :, 0], 0.0)
    return ContextEffects(tuple(names), effects.astype(np.float32), counts.astype(np.int64))


def fit_edit_structure(embeddings, labels, names) -> tuple[LabelStructure, ContextEffects]:
    """What the structured edit reads off a training split: `(label_structure,
    fit_context_effects)` of its embeddings `(N, L, k)` and labels `(N, L)`."""
    return (label_structure(labels, names), fit_context_effects(embeddings, labels, names))


def save_edit_structure(path: str, structure: LabelStructure, context: ContextEffects) -> None:
    """Writes what the structured edit reads off the training split (the
    label structure and the context effects) to an `.npz`, atomically: a run
    or preset without its training embeddings can still edit that way."""
    if tuple(structure.names) != tuple(context.names):
        raise ValueError(f"the label structure's names {structure.names} are not the context "
                         f"effects' {context.names}")
    partial = path + ".partial.npz"
    np.savez(partial, names=np.array(structure.names), implies=structure.implies,
             excludes=structure.excludes, effects=context.effects, counts=context.counts)
    os.replace(partial, path)


def load_edit_structure(path: str) -> tuple[LabelStructure, ContextEffects]:
    """`(LabelStructure, ContextEffects)` written by `save_edit_structure`."""
    with np.load(path) as f:
        names = tuple(str(n) for n in f["names"])
        return (LabelStructure(names, f["implies"], f["excludes"]),
                ContextEffects(names, f["effects"], f["counts"]))


def shift_context(embeddings, current, target, labels, context: ContextEffects,
                  intensity: float = 1.0, scale: float = 1.0) -> np.ndarray:
    """Moves every slot whose label the edit leaves alone (`current == target`
    there) by `scale * intensity * (+/-) effects[a, j, target_j]` for each
    edited label `a` in `labels` (+ where it is added, - where removed, nothing
    where it did not change)."""
    out = np.array(embeddings, np.float32, copy=True)
    current = np.asarray(current) > 0.5
    target = np.asarray(target) > 0.5
    untouched = current == target
    untouched[:, list(labels)] = False
    columns = np.arange(target.shape[1])[None, :]
    for a in labels:
        sign = (target[:, a].astype(np.float32) - current[:, a].astype(np.float32))
        step = context.effects[a][columns, target.astype(np.int64)]        # (n, L, k)
        out += (scale * intensity * sign)[:, None, None] * step * untouched[..., None]
    return out


def set_labels(embeddings, current, target, gaussians: LabelGaussians, seed: int,
               intensity: float = 1.0, conditional: ConditionalSlots | None = None
               ) -> np.ndarray:
    """Moves every slot whose label changes from `current` to `target`
    towards a sample of its Gaussian (added) or zeros (removed), by
    `s + intensity (g - s)`; the other slots stay as they are.

    Args:
        embeddings: `(n, L, k)`.
        current, target: `(n, L)` label sets before and after.
        gaussians: The label Gaussians; an added label with no training image
            raises `ValueError` (it cannot be sampled).
        seed: Sampling seed (mixed with the label).
        intensity: `t` of `s + t (g - s)`.
        conditional: Draw added slots from `ConditionalSlots` given the
            image's other slots (as edited so far) instead of the plain Gaussian.
    """
    out = np.array(embeddings, np.float32, copy=True)
    current = np.asarray(current) > 0.5
    target = np.asarray(target) > 0.5
    for label in np.flatnonzero((current != target).any(axis=0)):
        rows = np.flatnonzero(current[:, label] != target[:, label])
        goal = np.zeros((len(rows), out.shape[-1]), np.float32)
        adds = target[rows, label]
        if adds.any() and conditional is not None:
            if gaussians.counts[label] == 0:
                gaussians.sample(int(label), 1, seed)       # the one-line error
            goal[adds] = conditional.sample(int(label), out[rows[adds]], seed)
        elif adds.any():
            goal[adds] = gaussians.sample(int(label), int(adds.sum()), seed)
        slot = out[rows, label]
        out[rows, label] = slot + intensity * (goal - slot)
    return out


def structured_edit(embeddings, current, label: int, add, gaussians: LabelGaussians,
                    structure: LabelStructure, seed: int, intensity: float = 1.0,
                    conditional: ConditionalSlots | None = None,
                    context: ContextEffects | None = None, context_scale: float = 1.0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Sets `label` (present where `add`) with `structured_targets` and
    `set_labels` (added slots from `conditional` when given), then, with
    `context`, moves the slots left alone by `label`'s effect on them
    (`shift_context`, times `context_scale`); returns `(edited embeddings,
    target label sets)`."""
    target = structured_targets(current, label, add, structure)
    edited = set_labels(embeddings, current, target, gaussians, seed, intensity, conditional)
    if context is not None and context_scale:
        edited = shift_context(edited, current, target, [label], context, intensity,
                               context_scale)
    return edited, target
