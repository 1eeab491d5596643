"""SIGKILL a real `kerasolr train` mid-epoch, re-run the same command, and
check nothing was redone or lost: the same epochs and optimizer steps as an
uninterrupted run, in the classifier stage and in the Siamese stage."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 3
ARGS = ["--preset", "tiny", "--set", f"classifier.epochs={EPOCHS}",
        "--set", f"siamese.epochs={EPOCHS}", "--set", "data.num_train=3072",
        "--set", "data.num_test=64"]

pytestmark = pytest.mark.slow


def _command(out):
    return [sys.executable, "-m", "kerasolr", "train", "--out", str(out), *ARGS]


def _env():
    return {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _run(out):
    proc = subprocess.run(_command(out), capture_output=True, text=True, timeout=600,
                          env=_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def _history(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _state(out, stage):
    path = os.path.join(out, "checkpoints", stage, "state.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _kill_during_second_epoch(out, stage, epoch_seconds, log_path):
    """Starts the command, waits until `stage` has saved epoch 1, then SIGKILLs
    the process a quarter of the way into epoch 2 and checks epoch 2 had not been saved.
    Returns what the process logged."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(_command(out), stdout=subprocess.DEVNULL, stderr=log,
                                env=_env(), cwd=ROOT)
        deadline = time.time() + 300
        while time.time() < deadline:
            state = _state(out, stage)
            if state is not None and state["epoch"] >= 1:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        time.sleep(epoch_seconds / 4)
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    with open(log_path) as f:
        text = f.read()
    assert running, f"{stage}: the process ended before the kill:\n{text[-3000:]}"
    assert _state(out, stage)["epoch"] == 1, "the kill did not land in epoch 2"
    return text


def test_sigkill_mid_epoch_then_rerun_redoes_and_loses_nothing(tmp_path):
    straight = tmp_path / "straight"
    _run(straight)
    reference = {stage: _history(straight / f"history_{stage}.csv")
                 for stage in ("classifier", "siamese")}
    for rows in reference.values():
        assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    # The shortest epoch after the first (which also traces and fills the cache).
    seconds = {stage: min(float(r["seconds"]) for r in rows[1:])
               for stage, rows in reference.items()}

    killed = tmp_path / "killed"
    # 1. Killed in the classifier's second epoch.
    _kill_during_second_epoch(killed, "classifier", seconds["classifier"], tmp_path / "1.log")
    assert not os.path.exists(killed / "classifier.keras")
    # 2. The same command resumes the classifier, then is killed in the Siamese stage.
    log = _kill_during_second_epoch(killed, "siamese", seconds["siamese"], tmp_path / "2.log")
    assert "classifier: resuming after epoch 1" in log
    assert os.path.exists(killed / "classifier.keras")
    # 3. The same command again finishes the run.
    log = _run(killed)
    assert "classifier.keras, skipping" in log
    assert "encoder: resuming after epoch 1" in log
    for stage, rows in reference.items():
        resumed = _history(killed / f"history_{stage}.csv")
        assert [int(r["epoch"]) for r in resumed] == list(range(EPOCHS)), stage
        assert [int(r["steps"]) for r in resumed] == [int(r["steps"]) for r in rows], stage
    assert not os.path.exists(killed / "checkpoints")       # removed once the models are saved
    for name in ("classifier.keras", "encoder.keras"):
        assert os.path.getsize(killed / name) > 0
