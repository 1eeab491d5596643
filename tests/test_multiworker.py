"""Two `MultiWorkerMirroredStrategy` workers on 127.0.0.1 train the tiny run
and end with the weights of one process training alone."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "multiworker_train.py")

pytestmark = pytest.mark.slow


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _env(tf_config=None):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def _weights(path):
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def _run_workers(tmp_path, stem, command, expected_codes=(0, 0)):
    """Runs `command(i)` as workers 0 and 1 of one cluster on 127.0.0.1; both
    must exit with `expected_codes`. Returns their logs."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    logs = [open(tmp_path / f"{stem}{i}.log", "w") for i in range(2)]   # noqa: SIM115
    procs = [subprocess.Popen(
        command(i), stdout=logs[i], stderr=subprocess.STDOUT, cwd=ROOT,
        env=_env({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}))
        for i in range(2)]
    try:
        codes = [proc.wait(timeout=600) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
        for log in logs:
            log.close()
    outputs = [(tmp_path / f"{stem}{i}.log").read_text() for i in range(2)]
    assert codes == list(expected_codes), "\n".join(o[-3000:] for o in outputs)
    return outputs


def _image_folder(path):
    """100 labelled PNG files (80 of them training images) of a folder dataset."""
    from PIL import Image

    path.mkdir()
    rng = np.random.default_rng(11)
    rows = ["filename,Smiling,Eyeglasses"]
    for i in range(100):
        Image.fromarray((rng.random((40, 36, 3)) * 255).astype(np.uint8)).save(path / f"{i}.png")
        rows.append(f"{i}.png,{i % 2},{i % 3 == 0:d}")
    (path / "labels.csv").write_text("\n".join(rows) + "\n")
    return [str(path)]


@pytest.mark.parametrize("source", ["synthfaces", "files"])
def test_two_workers_match_one_process_and_only_the_chief_writes(tmp_path, source):
    # synthfaces: cached, every worker generates every image and keeps its slice;
    # files: image files without a cache, each worker decodes only its own rows.
    folder = _image_folder(tmp_path / "images") if source == "files" else []
    single = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "single"),
                             str(tmp_path / "single.npz"), *folder], capture_output=True,
                            text=True, env=_env(), timeout=600, cwd=ROOT)
    assert single.returncode == 0, single.stderr[-3000:]

    _run_workers(tmp_path, "worker", lambda i: [
        sys.executable, SCRIPT, str(tmp_path / "multi"), str(tmp_path / f"worker{i}.npz"),
        *folder])

    reference = _weights(tmp_path / "single.npz")
    worker0, worker1 = _weights(tmp_path / "worker0.npz"), _weights(tmp_path / "worker1.npz")
    assert int(reference.pop("replicas")) == 1
    assert int(worker0.pop("replicas")) == int(worker1.pop("replicas")) == 2
    decoded = [int(w.pop("decoded")) for w in (reference, worker0, worker1)]
    if source == "files":
        # 80 training files: 2 epochs x 2 batches of 32 (classifier), 2 epochs x 2 batches
        # of 16 pairs (Siamese); the remainder of 16 is never decoded.
        assert decoded == [256, 128, 128]
    else:
        assert decoded == [0, 0, 0]
    assert worker0.keys() == reference.keys()
    worst = 0.0
    for name, expected in reference.items():
        np.testing.assert_array_equal(worker0[name], worker1[name], err_msg=name)
        np.testing.assert_allclose(worker0[name], expected, rtol=1e-3, atol=1e-4, err_msg=name)
        worst = max(worst, float(np.abs(worker0[name] - expected).max()))
    print(f"largest difference to the single process: {worst:.2e}")

    # One run directory, written once, by the chief (worker 0).
    multi = tmp_path / "multi"
    for name in ("config.json", "classifier.keras", "encoder.keras", "history_classifier.csv",
                 "history_siamese.csv"):
        assert (multi / name).exists(), name
    with open(multi / "history_classifier.csv") as f:
        rows = f.read().splitlines()[1:]
    with open(tmp_path / "single" / "history_classifier.csv") as f:
        assert len(rows) == len(f.read().splitlines()[1:]) == 2
    assert not (multi / "checkpoints").exists()


def test_the_cli_under_tf_config_trains_one_run_directory(tmp_path):
    # The command line must create the strategy before any TensorFlow work.
    run_dir = tmp_path / "run"
    outputs = _run_workers(tmp_path, "cli", lambda i: [
        sys.executable, "-m", "kerasolr", "train", "--preset", "tiny", "--out", str(run_dir)])
    for name in ("config.json", "classifier.keras", "encoder.keras", "history_siamese.csv"):
        assert (run_dir / name).exists(), name
    assert "unhealthy" not in outputs[0]


def test_the_paper_recipe_refuses_an_unprepared_store_on_several_workers(tmp_path):
    # Several workers must not each write the store: every one stops at once,
    # with the command that prepares it, and none creates the folder.
    root = _image_folder(tmp_path / "files")[0]
    store_dir = tmp_path / "store"
    outputs = _run_workers(tmp_path, "recipe", lambda i: [
        sys.executable, os.path.join(ROOT, "recipes", "celeba_paper.py"), str(tmp_path / "run"),
        "--root", root, "--store", str(store_dir)], expected_codes=(2, 2))
    for output in outputs:
        assert f"--store {store_dir} is not prepared" in output
        assert "kerasolr prepare --out DIR --preset paper" in output
    assert not store_dir.exists() and not (tmp_path / "store.partial").exists()
    assert not (tmp_path / "run").exists()
