"""The attribute-editing protocol of AttGAN and STGAN, applied to OLR's slots.

For every test image and every attribute, the *ground-truth* value is flipped:
an attribute the image has is removed, one it lacks is added. The embedding is
edited, decoded and judged by an independent attribute classifier (the
run's judge), and four things are reported per attribute and on average:

- edit accuracy: the fraction of images whose judged target attribute equals
  the flipped value (AttGAN's "attribute editing accuracy");
- attribute preservation: the fraction of the *other* attributes' judge
  decisions that are the same as on the unedited reconstruction;
- pixel preservation: SSIM and PSNR between the edited and the unedited
  reconstruction (how much of the image the edit leaves alone);
- and, elsewhere in `results.json`, the reconstruction SSIM / PSNR
  (`recon.*`) and the judge's own per-attribute test accuracy (`judge.*`).

Intensity follows AttGAN's slide mode: the slot moves from its value `s` to
the edit's target `g` (a sample of the label's Gaussian to add, zeros to
remove, as in the paper) by `s + t (g - s)`; `t = 1` is the paper's edit,
`t = 2` goes as far again (twice the sample to add, the slot negated to
remove). An attribute that no training image had cannot be added: those cases
are left out and counted in `flip.skipped_adds`.

Reference: He et al., AttGAN (2019), section 4; Liu et al., STGAN (2019),
section 4.1; OLR paper section 4.5.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kerasolr import editing
from kerasolr.losses import ssim_per_channel
from kerasolr.progress import Progress

# The 13 attributes AttGAN and STGAN edit on CelebA.
ATTGAN_13 = ("Bald", "Bangs", "Black_Hair", "Blond_Hair", "Brown_Hair", "Bushy_Eyebrows",
             "Eyeglasses", "Male", "Mouth_Slightly_Open", "Mustache", "No_Beard", "Pale_Skin",
             "Young")
INTENSITIES = (1.0, 2.0)
MAX_PSNR = 100.0      # dB: identical images (an edit that changes nothing) score this


def flip_targets(truth) -> np.ndarray:
    """`(n, L)` booleans: every ground-truth label flipped."""
    return ~(np.asarray(truth) > 0.5)


def intensity_edit(embeddings, label: int, add, gaussians: editing.LabelGaussians, seed: int,
                   intensity: float = 1.0) -> np.ndarray:
    """Moves slot `label` of each embedding towards its edit target.

    Args:
        embeddings: `(n, L, k)`.
        label: The slot edited.
        add: `(n,)` booleans: add the label (target: a sample of its Gaussian)
            or remove it (target: zeros).
        gaussians: The run's label Gaussians.
        seed: Sampling seed.
        intensity: `t` of `s + t (g - s)`.

    Returns:
        A new `(n, L, k)` array; only slot `label` differs.
    """
    out = np.array(embeddings, np.float32, copy=True)
    add = np.asarray(add, bool)
    goal = np.zeros_like(out[:, label])
    if add.any():
        goal[add] = gaussians.sample(label, int(add.sum()), seed)
    out[:, label] = out[:, label] + intensity * (goal - out[:, label])
    return out


def pixel_similarity(a, b, filter_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image: `(ssim, psnr)` of two `(n, h, w, 3)` batches in [0, 1]
    (SSIM per colour channel, averaged; PSNR capped at `MAX_PSNR`)."""
    a = tf.convert_to_tensor(np.asarray(a, np.float32))
    b = tf.convert_to_tensor(np.asarray(b, np.float32))
    ssim = tf.reduce_mean(ssim_per_channel(a, b, 1.0, filter_size), axis=-1).numpy()
    mse = np.mean((a.numpy().astype(np.float64) - b.numpy()) ** 2, axis=(1, 2, 3))
    psnr = np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-30)), MAX_PSNR)
    return ssim.reshape(len(mse)), psnr


def _mean(values) -> float:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def flip_protocol(embeddings, truth, decode, judge, gaussians: editing.LabelGaussians,
                  seed: int, threshold: float = 0.5, intensities=INTENSITIES,
                  filter_size: int = 7, batch_size: int = 256,
                  structure: editing.LabelStructure | None = None,
                  name: str = "flip",
                  conditional: editing.ConditionalSlots | None = None,
                  context: editing.ContextEffects | None = None,
                  context_scale: float = 1.0) -> dict[str, float]:
    """The protocol on every image and every label.

    Args:
        embeddings: `(n, L, k)` test embeddings.
        truth: `(n, L)` their clean labels (flipped one at a time).
        decode: `(m, L, k) -> (m, h, w, 3)` images in [0, 1].
        judge: `(m, h, w, 3) -> (m, L)` probabilities.
        gaussians: The run's label Gaussians (`names` gives the labels).
        seed: Sampling seed (`LabelGaussians.sample` mixes in the label), the
            same at every intensity, so `t = 2` goes twice as far along the
            same edit as `t = 1`.
        threshold: Judge probability above which a label is present.
        intensities: The `t` values measured.
        filter_size: SSIM window.
        batch_size: Embeddings decoded at once.
        structure: `None`: the paper's one-slot edit (`intensity_edit`).
            A `LabelStructure`: `editing.structured_edit` from the image's
            ground truth, which also changes the labels the flipped one
            excludes or implies; preservation then counts only the labels the
            edit did not set on purpose, and `<name>.co_changed_mean` is how
            many it set besides the target.
        name: Key prefix (`"flip"`; `"flip_structured"` for the structured
            mode).
        conditional: With `structure`, added slots are drawn given the
            image's other slots (`editing.ConditionalSlots`).
        context, context_scale: With `structure`, the slots the edit leaves
            alone also move by the flipped label's effect on them
            (`editing.shift_context`).

    Returns:
        `per_label.<Name>.<name>_{accuracy,add_accuracy,remove_accuracy,
        preservation,ssim,psnr}_i<t>`, their means over labels
        `<name>.<same>_i<t>_mean`, the same means over the labels of
        `ATTGAN_13` the run has (`<name>.attgan13.*`, with
        `<name>.attgan13.labels`), `<name>.num_images` and `<name>.skipped_adds`.
    """
    embeddings = np.asarray(embeddings, np.float32)
    names = list(gaussians.names)
    current = np.asarray(truth) > 0.5
    targets = flip_targets(truth)
    n = len(embeddings)
    base_images, base_decisions = [], []
    for start in range(0, n, batch_size):
        images = np.asarray(decode(embeddings[start:start + batch_size]))
        base_images.append(images)
        base_decisions.append(np.asarray(judge(images)) > threshold)
    base_images = np.concatenate(base_images)
    base = np.concatenate(base_decisions)
    results: dict[str, float] = {}
    skipped, co_changed = 0, []
    progress = Progress(f"evaluate: {name}", n * len(names) * len(intensities), "edits")
    for label, label_name in enumerate(names):
        possible = targets[:, label] == 0 if gaussians.counts[label] == 0 else np.ones(n, bool)
        skipped += int((~possible).sum())
        rows = np.flatnonzero(possible)
        add = targets[rows, label]
        others = np.arange(len(names)) != label
        for intensity in intensities:
            if structure is None:
                edited = intensity_edit(embeddings[rows], label, add, gaussians, seed,
                                        intensity)
                on_purpose = np.zeros((len(rows), len(names)), bool)
            else:
                edited, target = editing.structured_edit(
                    embeddings[rows], current[rows], label, add, gaussians, structure, seed,
                    intensity, conditional, context, context_scale)
                on_purpose = target != current[rows]
                if intensity == intensities[0]:
                    co_changed.append(on_purpose.sum(axis=1) - 1)
            hit, kept, ssims, psnrs = [], [], [], []
            for start in range(0, len(rows), batch_size):
                part = slice(start, start + batch_size)
                images = np.asarray(decode(edited[part]))
                decided = np.asarray(judge(images)) > threshold
                hit.append(decided[:, label] == add[part])
                same = decided[:, others] == base[rows[part]][:, others]
                kept.append(same[~on_purpose[part][:, others]])
                ssim, psnr = pixel_similarity(images, base_images[rows[part]], filter_size)
                ssims.append(ssim)
                psnrs.append(psnr)
                progress.update(len(images))
            hit = np.concatenate(hit) if hit else np.zeros(0, bool)
            suffix = f"_i{intensity:g}"
            key = f"per_label.{label_name}.{name}_"
            results[key + "accuracy" + suffix] = float(hit.mean()) if len(hit) else np.nan
            results[key + "add_accuracy" + suffix] = (float(hit[add].mean()) if add.any()
                                                      else np.nan)
            results[key + "remove_accuracy" + suffix] = (float(hit[~add].mean())
                                                         if (~add).any() else np.nan)
            kept = np.concatenate(kept) if kept else np.zeros(0, bool)
            results[key + "preservation" + suffix] = float(kept.mean()) if len(kept) else np.nan
            results[key + "ssim" + suffix] = _mean(np.concatenate(ssims)) if ssims else np.nan
            results[key + "psnr" + suffix] = _mean(np.concatenate(psnrs)) if psnrs else np.nan
    attgan = [label_name for label_name in names if label_name in ATTGAN_13]
    for metric in ("accuracy", "add_accuracy", "remove_accuracy", "preservation", "ssim",
                   "psnr"):
        for intensity in intensities:
            suffix = f"_i{intensity:g}"
            values = {label_name: results[f"per_label.{label_name}.{name}_{metric}{suffix}"]
                      for label_name in names}
            results[f"{name}.{metric}{suffix}_mean"] = _mean(list(values.values()))
            if attgan:
                results[f"{name}.attgan13.{metric}{suffix}_mean"] = _mean(
                    [values[label_name] for label_name in attgan])
    if attgan:
        results[f"{name}.attgan13.labels"] = float(len(attgan))
    if structure is not None:
        results[f"{name}.co_changed_mean"] = (_mean(np.concatenate(co_changed))
                                              if co_changed else np.nan)
    progress.done()
    results[f"{name}.num_images"] = float(n)
    results[f"{name}.skipped_adds"] = float(skipped)
    return results
