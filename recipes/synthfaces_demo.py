"""OLR on synthfaces, end to end, through the library (what `kerasolr demo` runs).

Reproduces paper section 3 (the method) and 4.1 (linear probe vs classifier,
slot norms) on the built-in synthetic faces: 20,000 training and 2,000 test
images at 64x64, 16 labels, k=16. About 11 minutes on 2 CPU cores.

    python recipes/synthfaces_demo.py [RUN_DIR] [--paper]

`--paper` uses the paper's recipe instead of the `demo` preset (see
BENCHMARKS.md for what differs and why).
"""

import sys

from kerasolr import config, run
from kerasolr.distribute import strategy_from_environment

# === Settings ===
args = [a for a in sys.argv[1:] if not a.startswith("--")]
run_dir = args[0] if args else "runs/synthfaces_demo"
cfg = config.paper() if "--paper" in sys.argv else config.demo()

# === Train: the classifier, then the Siamese encoder on occluded pairs ===
run.train(cfg, run_dir, strategy_from_environment())

# === Embed the un-occluded train and test images ===
run.embed(run_dir)

# === Evaluate: section 4.1 table, slot norms, correlations ===
run.evaluate(run_dir)
with open(f"{run_dir}/summary.txt") as f:
    print(f.read())
