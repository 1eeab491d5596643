"""`kerasolr.rundir.RunDir`: the one owner of a run directory's layout and files."""

import json
import os
import pathlib
import re
import shutil
import socket

import keras
import numpy as np
import pytest
from PIL import Image

from kerasolr import config as cfg
from kerasolr import editing, rundir
from kerasolr.cli import main
from kerasolr.data import synthfaces
from kerasolr.layers import LabelGroupPooling
from kerasolr.rundir import RunDir

NAMES = ("Smiling", "Male", "Eyeglasses")
PACKAGE = pathlib.Path(rundir.__file__).parent


def test_prepare_writes_config_and_labels_and_refuses_another_config(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    config = cfg.tiny()
    run.prepare(config, NAMES)
    assert run.read_config() == config
    with open(run.file(rundir.LABELS_FILE)) as f:
        assert json.load(f) == {"label_names": list(NAMES)}
    assert run.label_names() == NAMES
    run.prepare(config, NAMES)                       # the same config again: fine
    other = cfg.override(config, ["siamese.k=5", "seed=3"])
    # Nothing trained yet (a run that failed before its first model): replaced.
    run.prepare(other, NAMES)
    assert run.read_config() == other
    with open(run.model_path("classifier"), "w") as f:   # now something was trained
        f.write("x")
    with pytest.raises(ValueError, match=r"holds a different config \(seed: 3 -> 0, "
                                         r"siamese.k: 5 -> 4\)"):
        run.prepare(config, NAMES)
    assert run.read_config() == other                # nothing overwritten


def test_label_names_of_an_old_run_come_from_its_dataset_with_a_note(tmp_path, capsys):
    run = RunDir(str(tmp_path / "run"))
    config = cfg.tiny()
    run.prepare(config, synthfaces.ATTRIBUTES)
    os.remove(run.file(rundir.LABELS_FILE))          # as a run from before labels.json
    assert run.label_names() == tuple(synthfaces.ATTRIBUTES)
    err = capsys.readouterr().err
    assert "labels.json not found" in err and err.count("\n") == 1


def test_a_broken_label_file_is_one_line(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    run.prepare(cfg.tiny(), NAMES)
    with open(run.file(rundir.LABELS_FILE), "w") as f:
        f.write('{"names": []}')
    with pytest.raises(ValueError, match=r"labels\.json is not a kerasolr label file"):
        run.label_names()


def test_timing_and_results_round_trip(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    assert run.read_timing() == {}
    run.record_timing("classifier_seconds", 12.5)
    run.record_timing("siamese_seconds", 3)
    run.record_timing("classifier_seconds", 10)     # a re-run stage replaces its time
    assert run.read_timing() == {"classifier_seconds": 10.0, "siamese_seconds": 3.0}
    with pytest.raises(FileNotFoundError, match="results.json not found: run `kerasolr "
                                                "evaluate"):
        run.read_results()
    run.write_results({"probe.mean_accuracy": 0.75})
    assert run.read_results() == {"probe.mean_accuracy": 0.75}
    assert not [n for n in os.listdir(run.path) if "partial" in n]   # nothing half-written


def test_models_save_atomically_and_load_with_custom_layers(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    with pytest.raises(FileNotFoundError, match=r"decoder\.keras not found: run `kerasolr "
                                                r"train-decoder` on this run first"):
        run.load_model("decoder")
    inputs = keras.Input((2, 2, 6))
    model = keras.Model(inputs, LabelGroupPooling(3, 2)(inputs))
    run.save_model(model, "encoder")
    assert run.has_model("encoder") and run.model_path("encoder").endswith("encoder.keras")
    x = np.random.default_rng(0).random((2, 2, 2, 6)).astype(np.float32)
    np.testing.assert_allclose(run.load_model("encoder")(x), model(x), rtol=1e-6)


def test_label_gaussians_are_fitted_once_then_read(tmp_path):
    from kerasolr.embeddings import write_npz_streaming

    run = RunDir(str(tmp_path / "run"))
    run.prepare(cfg.tiny(), NAMES)
    with pytest.raises(FileNotFoundError,
                       match=r"train\.npz not found: run `kerasolr embed .*run` first"):
        run.label_gaussians()
    rng = np.random.default_rng(0)
    labels = (rng.random((50, 3)) < 0.5).astype(np.float32)
    emb = (labels[:, :, None] + 0.1 * rng.standard_normal((50, 3, 4))).astype(np.float32)
    write_npz_streaming(run.embeddings_path("train"),
                        [{"embeddings": emb, "labels": labels, "clean_labels": labels,
                          "ids": np.arange(50)}])
    fitted = run.label_gaussians()
    assert os.path.exists(run.gaussians_path)
    expected = editing.fit_label_gaussians(emb, labels, NAMES)
    np.testing.assert_allclose(fitted.means, expected.means, rtol=1e-6)
    os.remove(run.embeddings_path("train"))          # now read from the file alone
    again = run.label_gaussians()
    assert again.names == NAMES
    np.testing.assert_allclose(again.covariances, expected.covariances, rtol=1e-6)


def test_output_of_a_single_process_is_the_run_itself(tmp_path):
    import tensorflow as tf

    run = RunDir(str(tmp_path / "run"))
    assert run.output_for(tf.distribute.get_strategy()) is run


def test_no_other_module_spells_a_run_file_name():
    names = [rundir.CONFIG_FILE, rundir.LABELS_FILE, rundir.RESULTS_FILE, rundir.TIMING_FILE,
             rundir.SUMMARY_FILE, rundir.REPORT_FILE, rundir.GAUSSIANS_FILE,
             rundir.NORM_CORRELATION_CSV, rundir.PCA_CSV, "history_"]
    pattern = re.compile("|".join(re.escape(f'"{n}') for n in names) + r'|\w\.keras"')
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "rundir.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def _celeba(root, n, size=(109, 89)):
    """A CelebA-layout folder of JPEGs (half resolution) with random labels."""
    os.makedirs(root / "img_align_celeba")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        pixels = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "img_align_celeba" / name)
        rows.append(f"{name} " + " ".join(rng.choice(["1", "-1"], size=len(NAMES))))
    (root / "list_attr_celeba.txt").write_text(
        "\n".join([str(n), " ".join(NAMES)] + rows) + "\n")
    (root / "list_eval_partition.txt").write_text(
        "\n".join(f"{i + 1:06d}.jpg 0" for i in range(n)) + "\n")
    return str(root)


@pytest.mark.slow
def test_a_celeba_run_is_used_after_its_dataset_is_deleted(tmp_path, capsys):
    data = _celeba(tmp_path / "celeba", 120)
    run_dir = str(tmp_path / "run")
    assert main(["demo", "--preset", "tiny", "--dataset", "celeba", "--out", run_dir,
                 "--set", f"data.root={data}", "--set", "data.train_fraction=0.6",
                 "--set", "data.val_fraction=0.1"]) == 0
    timing = RunDir(run_dir).read_timing()
    assert {"classifier_seconds", "siamese_seconds", "embed_seconds", "decoder_seconds",
            "decoder_probs_seconds", "autoencoder_seconds", "judge_seconds",
            "evaluate_seconds"} == set(timing)
    results = RunDir(run_dir).read_results()
    assert results["timing.total_seconds"] == pytest.approx(sum(timing.values()))
    with open(os.path.join(run_dir, "labels.json")) as f:
        assert json.load(f)["label_names"] == list(NAMES)
    image = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), np.uint8)).save(image)
    shutil.rmtree(data)                               # e.g. the run copied to a serving machine
    capsys.readouterr()

    base = str(tmp_path / "savedmodels")
    assert main(["export", run_dir, "--name", "olr", "--base", base]) == 0
    with open(os.path.join(base, "olr", "1", "assets", "kerasolr.json")) as f:
        assert json.load(f)["label_names"] == list(NAMES)
    assert main(["edit", str(image), "--run", run_dir, "--add", "Smiling",
                 "--out", str(tmp_path / "edited.png")]) == 0
    assert main(["generate", "--run", run_dir, "--labels", "Male,Eyeglasses",
                 "--out", str(tmp_path / "generated.png")]) == 0
    capsys.readouterr()
    grid = str(tmp_path / "search.png")
    assert main(["search", str(image), "--run", run_dir, "--by", "Male", "--top", "3",
                 "--out", grid]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[1].startswith("  1. test image ")
    for path in ("edited.png", "generated.png", "search.png"):
        assert Image.open(tmp_path / path).size[0] > 0
    _edit_a_photo_with_align(tmp_path, run_dir, capsys)


def _edit_a_photo_with_align(tmp_path, run_dir, capsys):
    """`edit --align` on an unaligned photo (a real CelebA face, turned and moved in a
    larger picture) writes the whole photo, changed only around the face."""
    from test_align import FACES, HAVE_DLIB

    from kerasolr import align

    if not (HAVE_DLIB and FACES):
        return                 # test_align says why it skips
    face = np.asarray(Image.open(FACES[1]).convert("RGB"))
    known = np.array([[0.9, -0.3, 120.0], [0.3, 0.9, 40.0]])
    photo = align.warp(face, known, (400, 360))
    Image.fromarray(photo).save(tmp_path / "photo.jpg", quality=95)
    out = tmp_path / "photo_edited.png"
    assert main(["edit", str(tmp_path / "photo.jpg"), "--align", "--run", run_dir,
                 "--add", "Eyeglasses", "--intensity", "2", "--paste", "replace",
                 "--out", str(out)]) == 0
    edited = np.asarray(Image.open(out)).astype(int)
    before = np.asarray(Image.open(tmp_path / "photo.jpg")).astype(int)
    assert edited.shape == before.shape
    changed = np.abs(edited - before).sum(axis=2) > 30
    eyes = align.apply(known, align.TEMPLATE[:2]).mean(axis=0).round().astype(int)
    assert changed[eyes[1] - 5:eyes[1] + 5, eyes[0] - 5:eyes[0] + 5].any()
    assert not changed[:20].any() and not changed[:, -20:].any()      # far from the face
    capsys.readouterr()
    assert main(["edit", str(tmp_path / "photo.jpg"), "--align", "--face", "3", "--run",
                 run_dir, "--add", "Male"]) == 2
    assert "--face 3 asked for, but the photo has 1 face" in capsys.readouterr().err


def test_one_process_writes_a_run_directory(tmp_path):
    import subprocess
    import sys

    path = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from kerasolr.rundir import RunDir; "
         f"RunDir({path!r}).lock(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = (rf"run is in use by another kerasolr process \(pid {holder.pid} on host "
                   rf"{re.escape(socket.gethostname())}\)")
        with pytest.raises(rundir.RunDirInUse, match=message):
            RunDir(path).prepare(cfg.tiny(), NAMES)
        assert not os.path.exists(os.path.join(path, rundir.CONFIG_FILE))     # nothing written
    finally:
        holder.kill()
        holder.wait()
    run = RunDir(path)                 # the holder is gone (killed): its lock went with it
    run.prepare(cfg.tiny(), NAMES)
    run.lock()                         # the same process again: nothing to do
    assert run.read_config() == cfg.tiny()



def test_a_second_kerasolr_train_on_one_directory_is_refused_with_one_line(tmp_path):
    import subprocess
    import sys

    out = str(tmp_path / "run")
    command = [sys.executable, "-m", "kerasolr", "train", "--out", out, "--preset", "tiny",
               "--set", "classifier.epochs=20"]
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        for line in first.stderr:               # the lock is taken before training starts
            if line.startswith("[kerasolr] classifier:"):
                break
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert second.stderr.strip() == (
            f"kerasolr: error: {out} is in use by another kerasolr process (pid {first.pid} on "
            f"host {socket.gethostname()}); wait for it to end, or use another --out")
        assert first.poll() is None             # the holder trains on
    finally:
        first.kill()
        first.wait()
