"""`kerasolr evaluate RUN --data SPEC`: a trained run evaluated on another dataset."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from kerasolr.cli import main

NAMES = ["Smiling", "Male", "Eyeglasses"]


def _folder(root, n, seed, names=NAMES):
    """A labelled folder of JPEGs whose labels show in the pixels (colour blocks)."""
    os.makedirs(root)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        labels = rng.integers(0, 2, size=len(names))
        pixels = rng.integers(0, 60, size=(40, 40, 3)).astype(np.uint8)
        for j, on in enumerate(labels):
            if on:
                pixels[:, j * 13:(j + 1) * 13, j] = 230
        Image.fromarray(pixels).save(root / f"img{i:04d}.jpg", quality=95)
        rows.append(f"img{i:04d}.jpg," + ",".join(str(v) for v in labels))
    (root / "labels.csv").write_text("\n".join(["filename," + ",".join(names)] + rows) + "\n")
    return str(root)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate_on")
    data = _folder(tmp / "data", 200, seed=0)
    run_dir = str(tmp / "run")
    common = ["--preset", "tiny", "--dataset", "folder", "--set", f"data.root={data}",
              "--set", "data.train_fraction=0.7"]
    assert main(["train", "--out", run_dir, *common]) == 0
    assert main(["embed", run_dir]) == 0
    assert main(["evaluate", run_dir]) == 0
    return tmp, run_dir, data


def test_the_run_own_split_through_data_gives_the_run_own_results(trained, capsys):
    tmp, run_dir, data = trained
    out = str(tmp / "same")
    assert main(["evaluate", run_dir, "--data", f"folder:{data}", "--out", out]) == 0
    with open(os.path.join(run_dir, "results.json")) as f:
        own = json.load(f)
    with open(os.path.join(out, "results.json")) as f:
        other = json.load(f)
    assert len(other) > 20
    for key, value in other.items():             # the same keys, the same numbers
        assert value == pytest.approx(own[key], abs=1e-6), key
    assert "evaluated on folder test split" in open(os.path.join(out, "summary.txt")).read()


def test_another_dataset_with_the_same_labels(trained, monkeypatch):
    from kerasolr.data import pipeline

    tmp, run_dir, _ = trained
    other = _folder(tmp / "other", 40, seed=1)
    loads, real = [], pipeline.load_split
    monkeypatch.setattr(pipeline, "load_split", lambda data, split, *args, **kwargs: (
        loads.append((data.root, split)) or real(data, split, *args, **kwargs)))
    assert main(["evaluate", run_dir, "--data", f"folder:{other}", "--split", "train",
                 "--set", "data.train_fraction=0.5"]) == 0
    # The split is read once (the embedding); section 4.1's clean and occluded
    # passes read its disk cache, removed at the end.
    assert loads == [(other, "train")]
    out = os.path.join(run_dir, "evaluations", "folder-train")
    assert not any(name.startswith("held_out_") for name in os.listdir(os.path.join(out, "cache")))
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    emb = np.load(os.path.join(out, "embeddings", "train.npz"))
    assert emb["embeddings"].shape[0] == 18      # half of the 40 images, less 2 for validation
    with open(os.path.join(out, "data.json")) as f:
        assert json.load(f)["root"] == other
    for key in ("classifier.mean_accuracy", "probe.mean_accuracy", "majority.mean_accuracy",
                "slots.norm_auc_mean", "per_label.Male.probe_accuracy"):
        assert 0.0 <= results[key] <= 1.0, key


@pytest.mark.parametrize("args, message", [
    (["--data", "imagenet:/x"], "bad data spec 'imagenet:/x'"),
    (["--split", "train"], "--split, --set and --out need --data"),
    (["--data", "folder:{other}", "--set", "siamese.k=3"], "only data.* fields"),
    (["--data", "folder:{wrong}"], "missing: Eyeglasses"),
])
def test_bad_requests_are_one_line(trained, args, message, capsys):
    tmp, run_dir, _ = trained
    wrong = tmp / "wrong"
    if not wrong.exists():
        _folder(wrong, 10, seed=2, names=["Smiling", "Male", "Bald"])
    args = [a.format(other=tmp / "other", wrong=wrong) for a in args]
    assert main(["evaluate", run_dir, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_search_names_the_files_it_found(trained, capsys):
    tmp, run_dir, data = trained
    from kerasolr.config import DataConfig
    from kerasolr.data import pipeline
    from kerasolr.rundir import RunDir

    config = RunDir(run_dir).read_config()
    files = pipeline.split_files(config.data, "test")
    assert files and all(path.startswith(data) for path in files)
    # The query: test image 0 as the run sees it (cropped, resized), so it finds itself.
    query = str(tmp / "query.png")
    image = pipeline.images_at(config.data, "test", [0])[0]
    Image.fromarray((image * 255).round().astype(np.uint8)).save(query)
    capsys.readouterr()
    assert main(["search", query, "--run", run_dir, "--top", "500",
                 "--out", str(tmp / "found.jpg")]) == 0
    captured = capsys.readouterr()
    assert f"  1. {files[0]} (test image 0, id " in captured.out     # itself, nearest
    assert "showing all of them, not 500" in captured.err
    assert pipeline.split_files(DataConfig(), "test") is None       # synthfaces: no files
