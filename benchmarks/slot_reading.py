"""Where each label lives in a finished run's embeddings, and where its decoder reads it.

Two measurements per label, on the validation split (fits on the training split):

- probes (logistic regression, balanced accuracy): the label read from its own slot, from the
  other L - 1 slots, and from the other labels' ground truth (what the data's own correlations
  allow). "Other slots" far above "other labels" means the encoder spread the label beyond
  its slot.
- swaps, decoded and judged by the run's judge: pairs of images with opposite values of the
  label; "slot swap" gives image a the label's slot of image b, "context swap" gives image b's
  other slots the label's slot of image a. Each reports how often the judged label follows the
  slot. A decoder that reads the label from its slot alone scores 1 on both.

    python benchmarks/slot_reading.py RUN [--pairs 400] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from kerasolr.models.decoder import decode
from kerasolr.rundir import RunDir


def probe(x_train, y_train, x_val, y_val) -> float:
    """Balanced validation accuracy of a logistic regression (nan for a one-valued label)."""
    if len(np.unique(y_train)) < 2 or len(np.unique(y_val)) < 2:
        return float("nan")
    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    return float(balanced_accuracy_score(y_val, model.predict(x_val)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--pairs", type=int, default=400,
                        help="image pairs swapped per label (half each way)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run = RunDir(args.run)
    config, names = run.read_config(), run.label_names()
    decoder, judge = run.load_model("decoder"), run.load_model("judge")
    train, val = run.load_embeddings("train"), run.load_embeddings("validation")
    e_tr, y_tr = np.asarray(train["embeddings"], np.float32), train["labels"] > 0.5
    e_va, y_va = np.asarray(val["embeddings"], np.float32), val["clean_labels"] > 0.5
    rng = np.random.default_rng(args.seed)

    def judged(codes):
        parts = [np.asarray(judge(decode(decoder, codes[s:s + 256]), training=False))
                 for s in range(0, len(codes), 256)]
        return np.concatenate(parts) > config.edit.threshold

    print("| label | probe: own slot | probe: other slots | probe: other labels' truth "
          "| slot swap follows the slot | context swap follows the slot |")
    print("|---|---|---|---|---|---|")
    for i, name in enumerate(names):
        rest = [j for j in range(len(names)) if j != i]
        own = probe(e_tr[:, i], y_tr[:, i], e_va[:, i], y_va[:, i])
        others = probe(e_tr[:, rest].reshape(len(e_tr), -1), y_tr[:, i],
                       e_va[:, rest].reshape(len(e_va), -1), y_va[:, i])
        truth = probe(y_tr[:, rest], y_tr[:, i], y_va[:, rest], y_va[:, i])
        pos, neg = np.flatnonzero(y_va[:, i]), np.flatnonzero(~y_va[:, i])
        m = min(args.pairs // 2, len(pos), len(neg))
        slot_swap = context_swap = float("nan")
        if m >= 10:
            a = np.concatenate([rng.choice(pos, m, replace=False),
                                rng.choice(neg, m, replace=False)])
            b = np.concatenate([rng.choice(neg, m), rng.choice(pos, m)])   # opposite values
            swapped = e_va[a].copy()
            swapped[:, i] = e_va[b, i]                 # a's other slots, b's slot
            slot_swap = float((judged(swapped)[:, i] == y_va[b, i]).mean())
            kept = e_va[b].copy()
            kept[:, i] = e_va[a, i]                    # b's other slots, a's slot
            context_swap = float((judged(kept)[:, i] == y_va[a, i]).mean())
        print(f"| {name} | {own:.3f} | {others:.3f} | {truth:.3f} | {slot_swap:.3f} "
              f"| {context_swap:.3f} |", flush=True)


if __name__ == "__main__":
    main()
