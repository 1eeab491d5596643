"""Do two runs give the same figures? Every `results.json` key of two run
directories, compared after rounding to a number of decimals.

    python benchmarks/same_results.py runs/before runs/after [--decimals 4]
        [--ignore timing.]

For refactors that must not move a figure: prints each key that is missing on
one side or differs after rounding (NaN equals NaN), then one line
`same=<True|False> keys=<compared> differing=<n> ignored=<n>`; exits 1 when
they differ. Keys starting with an `--ignore` prefix (default `timing.`: wall
times cannot repeat) are left out.
"""

from __future__ import annotations

import argparse
import math
import sys

from kerasolr.rundir import RunDir


def same(a: float, b: float, decimals: int) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return round(a, decimals) == round(b, decimals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--decimals", type=int, default=4)
    parser.add_argument("--ignore", action="append", default=None,
                        help="key prefix to leave out (repeatable; default: timing.)")
    args = parser.parse_args()
    ignore = tuple(args.ignore or ["timing."])
    before, after = RunDir(args.before).read_results(), RunDir(args.after).read_results()
    keys = sorted(set(before) | set(after))
    ignored = [key for key in keys if key.startswith(ignore)]
    compared = [key for key in keys if not key.startswith(ignore)]
    differing = 0
    for key in compared:
        if key not in before or key not in after:
            side = args.after if key not in after else args.before
            print(f"{key}: missing in {side}")
            differing += 1
        elif not same(float(before[key]), float(after[key]), args.decimals):
            print(f"{key}: {before[key]!r} -> {after[key]!r}")
            differing += 1
    print(f"same={differing == 0} keys={len(compared)} differing={differing} "
          f"ignored={len(ignored)}")
    return 0 if differing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
