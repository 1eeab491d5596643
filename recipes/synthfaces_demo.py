"""OLR on synthfaces, end to end, through the library (what `kerasolr demo` runs).

Reproduces paper section 3 (the method), 4.1 (linear probe vs classifier,
slot norms), 4.2 (norm correlations), 4.3 (PCA of slots), 4.4 (reconstruction
from frozen embeddings, next to two baselines) and 4.5 (label Gaussians,
editing, generation) on the built-in synthetic faces: 20,000 training and
2,000 test images at 64x64, 16 labels, k=16. About 17 minutes on 2 CPU cores.

    python recipes/synthfaces_demo.py [RUN_DIR] [--paper]

`--paper` uses the paper's recipe instead of the `demo` preset (see
BENCHMARKS.md for what differs and why; its Table 1 decoder at RMSprop 1e-4
takes hours on a CPU).
"""

import sys

from kerasolr.distribute import strategy_from_environment

strategy = strategy_from_environment()     # before any other TensorFlow work (multi-worker)

from kerasolr import config, run  # noqa: E402
from kerasolr.report import write_report  # noqa: E402
from kerasolr.rundir import SUMMARY_FILE, RunDir  # noqa: E402

# === Settings ===
args = [a for a in sys.argv[1:] if not a.startswith("--")]
run_dir = args[0] if args else "runs/synthfaces_demo"
cfg = config.paper() if "--paper" in sys.argv else config.demo()

# === Train: the classifier, then the Siamese encoder on occluded pairs ===
run.train(cfg, run_dir, strategy)

# === Embed the un-occluded train and test images ===
run.embed(run_dir)

# === Decoders on the frozen embeddings (and the two baselines) ===
run.train_decoders(run_dir, strategy)

# === The judge: an independent classifier that scores decoded images ===
run.train_judge(run_dir)

# === Evaluate sections 4.1-4.5, then one HTML page of everything ===
run.evaluate(run_dir)
print(open(RunDir(run_dir).file(SUMMARY_FILE)).read())
print("report:", write_report(run_dir))
