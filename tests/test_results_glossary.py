"""docs/results.md names every results.json key a real run writes (a 38-label CelebA run's
keys, tests/data/celeba_results_keys.json, plus the synthfaces-only one)."""

import fnmatch
import itertools
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _expand(token: str) -> list[str]:
    """`a_{x,y}_<t>` -> [`a_x_i*`, `a_y_i*`]."""
    token = token.replace("<t>", "i*").replace("<Name>", "*")
    parts = re.split(r"\{([^}]*)\}", token)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def _glossary():
    keys, per_label = [], []
    for line in open(os.path.join(ROOT, "docs", "results.md")):
        if not line.startswith("| `"):
            continue
        first, meaning = line.split("|")[1:3]
        patterns = [p for t in re.findall(r"`([^`]+)`", first) for p in _expand(t)]
        keys += patterns
        if "per_label." in first:
            per_label += [p for t in re.findall(r"`([^`]+)`", meaning) for p in _expand(t)]
    return keys, per_label


def test_every_key_of_a_real_run_is_in_the_glossary():
    with open(os.path.join(ROOT, "tests", "data", "celeba_results_keys.json")) as f:
        spec = json.load(f)
    patterns, per_label = _glossary()
    assert len(patterns) > 50 and len(per_label) > 30
    missing = []
    for key in [*spec["keys"], "correlation.norm_vs_truth_pearson"]:
        bare = key.removeprefix("validation.")
        if not any(fnmatch.fnmatchcase(bare, p) for p in patterns if p != "validation.*"):
            missing.append(key)
    for metric in spec["per_label_metrics"]:
        if not any(fnmatch.fnmatchcase(metric, p) for p in per_label):
            missing.append(f"per_label.<Name>.{metric}")
    assert not missing, missing


def test_the_check_can_fail():
    patterns, _ = _glossary()
    assert not any(fnmatch.fnmatchcase("retrieval.made_up_key", p) for p in patterns)
