"""TensorFlow's C++ log lines stay out of the command line's stderr; Python's do not."""

import json
import os
import subprocess
import sys

from kerasolr import config
from kerasolr.native_logs import dropped

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_known_native_lines_are_dropped_and_ours_are_kept():
    for line in (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796057550.920062   20535 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1796057550.920062   20535 cudart_stub.cc:31] Could not find cuda drivers",
        "E0000 00:00:1796057550.920062   20535 cuda_platform.cc:52] failed call to cuInit: "
        "INTERNAL: CUDA error",
        "W0000 00:00:1796057550.920062   20535 shuffle_dataset_op.cc:453] Filling up shuffle",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
        "TensorFlow with the appropriate compiler flags.",
        "Improper call to JPEG library in state 201",
    ):
        assert dropped(line), line
    for line in ("kerasolr: error: run directory x does not exist",
                 "[kerasolr] classifier: 16 labels, 20000 images of 64px",
                 "Traceback (most recent call last):",
                 "E0000 00:00:1796057550.920062   20535 io.cc:12] could not open file"):
        assert not dropped(line), line


def test_an_error_after_tensorflow_loads_is_one_line(tmp_path):
    # A run directory with a config but nothing trained: the error comes after
    # `import tensorflow`, which logs its C++ lines.
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config.tiny().to_dict()))
    (run / "labels.json").write_text(json.dumps({"label_names": ["Male"]}))
    proc = subprocess.run([sys.executable, "-m", "kerasolr", "evaluate", str(run)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("kerasolr: error:") and "train.npz not found" in lines[-1]
    assert not [line for line in lines if dropped(line)], proc.stderr
    assert len(lines) == 1, proc.stderr
