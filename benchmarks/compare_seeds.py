"""`kerasolr compare` under several seeds: every model's figures as mean ± 95% half-width.

Runs `kerasolr compare --out OUT/seed_<s> --set seed=<s> [--set ...]` for s in
0 .. N-1 (a finished seed, with its `compare.json`, is kept), then writes
`OUT/compare_seeds.json` (per model and key: mean, std, interval, per-seed
values) and `OUT/compare_seeds.md`, the headline columns of `compare.md` as
mean ± half-width. The seed moves every model's weights and shuffles; the
data split stays.

    python benchmarks/compare_seeds.py OUT --seeds 3 [--set F=V ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from kerasolr.repeat import interval

COLUMNS = (("linear probe acc.", "probe.mean_accuracy"),
           ("retrieval mAP, chance-corrected", "retrieval.map_corrected_mean"),
           ("the same, query/database", "retrieval.query_db_map_corrected_mean"),
           ("NN", "retrieval.nn_mean"),
           ("recon. SSIM", "recon.ssim"),
           ("generation balanced acc.", "generation.balanced_accuracy"),
           ("train s", "timing.train_seconds"))


def aggregate(by_seed: dict[int, dict[str, dict[str, float]]]) -> dict[str, dict[str, dict]]:
    """`{seed: {model: {key: value}}}` -> `{model: {key: interval + values}}` over
    the seeds that have the model and key."""
    out: dict[str, dict[str, dict]] = {}
    models = {m for results in by_seed.values() for m in results}
    for model in sorted(models):
        keys = set.intersection(*(set(r[model]) for r in by_seed.values() if model in r))
        out[model] = {}
        for key in sorted(keys):
            values = {s: float(r[model][key]) for s, r in by_seed.items() if model in r}
            out[model][key] = {**interval(values.values()),
                               "values": {str(s): v for s, v in values.items()}}
    return out


def _cell(entry: dict | None, key: str) -> str:
    if entry is None:
        return "-"
    digits = 0 if key.startswith("timing.") else 3
    if entry["n"] < 2:
        return f"{entry['mean']:.{digits}f}"
    return f"{entry['mean']:.{digits}f} ± {entry['ci95_high'] - entry['mean']:.{digits}f}"


def table(aggregated: dict[str, dict[str, dict]]) -> str:
    lines = ["| model | seeds | " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|" + "---|" * (len(COLUMNS) + 2)]
    for model, keys in aggregated.items():
        seeds = max((int(e["n"]) for e in keys.values()), default=0)
        lines.append(f"| {model} | {seeds} | "
                     + " | ".join(_cell(keys.get(k), k) for _, k in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    by_seed = {}
    for seed in range(args.seeds):
        path = os.path.join(args.out, f"seed_{seed}")
        result = os.path.join(path, "compare.json")
        if not os.path.exists(result):
            print(f"[compare_seeds] seed {seed} -> {path}", file=sys.stderr, flush=True)
            command = [sys.executable, "-m", "kerasolr", "compare", "--out", path,
                       "--set", f"seed={seed}"]
            for item in args.overrides:
                command += ["--set", item]
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        with open(result) as f:
            by_seed[seed] = json.load(f)
    aggregated = aggregate(by_seed)
    with open(os.path.join(args.out, "compare_seeds.json"), "w") as f:
        json.dump(aggregated, f, indent=1, sort_keys=True)
    text = table(aggregated)
    with open(os.path.join(args.out, "compare_seeds.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
