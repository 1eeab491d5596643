import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kerasolr.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", "X", "--set", "siamese.k=0"], "siamese.k=0"),
    (["train", "--out", "X", "--set", "siamese.occlusion_max=1.5"], "1.5"),
    (["demo", "--dataset", "imagenet"], "'imagenet'"),
    (["train", "--out", "X", "--preset", "huge"], "'huge'"),
    (["embed", "no/such/run"], "no/such/run"),
    (["evaluate", "no/such/run"], "no/such/run"),
    (["train", "--out", "X", "--dataset", "celeba"], "data.root=None is invalid"),
    (["train", "--out", "X", "--dataset", "folder", "--set", "data.root=no/such/dir"],
     "no/such/dir"),
    (["train", "--out", "X", "--set", "data.split_mode=sideways"], "'sideways'"),
    (["train", "--out", "X", "--set", "siamese.k=abc"],
     "siamese.k='abc' is invalid: expected an integer"),
    (["train", "--out", "X", "--set", "siamese.k=1.5"], "siamese.k=1.5 is invalid"),
    (["train", "--out", "X", "--set", "siamese.k=true"], "siamese.k=True is invalid"),
    (["train", "--out", "X", "--set", "classifier.filters=32"],
     "expected a list of integers, e.g. [32, 64]"),
    (["train", "--out", "X", "--set", "data.attributes=Male"], "expected a list of names"),
    (["train", "--out", "X", "--set", "data.skip_bad=1"], "expected true or false"),
    (["demo", "--preset", "tiny", "--out", "X", "--set", "data.num_test=4"],
     "data.num_test=4 is invalid: expected >= 8"),
    (["edit", "face.png", "--run", ROOT, "--add", "Male", "--out", "X.gif"],
     "run.gif: cannot write this kind of image; name it .png, .jpg or .jpeg"),
    (["train-decoder", "no/such/run"], "no/such/run"),
    (["report", "no/such/run"], "no/such/run"),
])
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys, tmp_path):
    argv = [a.replace("X", str(tmp_path / "run")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasolr: error:") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()  # nothing half-made


def test_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_console_script_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kerasolr", "evaluate", str(tmp_path / "none")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


TRAINING_STAGES = ("train", "_train_decoders", "train_judge")
STAGES = (*TRAINING_STAGES, "embed", "evaluate")


def _record_splits(monkeypatch) -> list[tuple[str, str]]:
    """Records `(stage, split)` of every `pipeline.load_split` call, the stage
    being the `kerasolr.run` stage function it was called from."""
    from kerasolr.data import pipeline

    calls, real = [], pipeline.load_split

    def load_split(data, split, *args, **kwargs):
        stage = next((frame.function for frame in inspect.stack()
                      if frame.filename.endswith(os.path.join("kerasolr", "run.py"))
                      and frame.function in STAGES), "?")
        calls.append((stage, split))
        return real(data, split, *args, **kwargs)

    monkeypatch.setattr(pipeline, "load_split", load_split)
    return calls


@pytest.mark.slow
def test_whole_chain_on_a_tiny_config(tmp_path, capsys, monkeypatch):
    run_dir = str(tmp_path / "run")
    calls = _record_splits(monkeypatch)
    assert main(["demo", "--preset", "tiny", "--out", run_dir, "--set", "siamese.epochs=2"]) == 0
    # No training stage reads the test split: monitors and choices see validation.
    assert {split for stage, split in calls if stage in TRAINING_STAGES} == {
        "train", "validation"}
    assert {stage for stage, split in calls if split == "test"} == {"embed", "evaluate"}
    # Evaluation loads each held-out split once (`pipeline.held_out` keeps its images
    # in a disk cache, removed at the end).
    assert [split for stage, split in calls if stage == "evaluate"] == ["validation", "test"]
    cache = os.path.join(run_dir, "cache")
    assert not os.path.isdir(cache) or not any(
        name.startswith("held_out_") for name in os.listdir(cache))
    for name in ("config.json", "results.json", "summary.txt", "classifier.keras",
                 "encoder.keras", "embeddings/train.npz", "embeddings/test.npz"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    with open(os.path.join(run_dir, "results.json")) as f:
        results = json.load(f)
    for key in ("classifier.mean_accuracy", "classifier.balanced_accuracy", "probe.mean_accuracy",
                "probe.balanced_accuracy", "majority.mean_accuracy", "slots.norm_auc_min",
                "slots.norm_auc_mean", "slots.absent_present_norm_ratio", "timing.total_seconds",
                "per_label.Smiling.norm_auc", "per_label.Male.probe_accuracy"):
        assert np.isfinite(results[key]), key
    assert 0 <= results["classifier.mean_accuracy"] <= 1
    # Figures that must agree with each other (a mixed-up key or split breaks them).
    assert results["probe.gap_to_classifier"] == pytest.approx(
        results["classifier.mean_accuracy"] - results["probe.mean_accuracy"])
    test_male = np.load(os.path.join(run_dir, "embeddings/test.npz"))["clean_labels"][:, 0]
    train_male = np.load(os.path.join(run_dir, "embeddings/train.npz"))["labels"][:, 0]
    assert results["per_label.Male.majority_accuracy"] == pytest.approx(
        np.mean(test_male == float(train_male.mean() > 0.5)))
    stages = {key: value for key, value in results.items()
              if key.startswith("timing.") and key != "timing.total_seconds"}
    assert len(stages) == 8 and "timing.judge_seconds" in stages
    assert results["timing.total_seconds"] == pytest.approx(sum(stages.values()))
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f)["siamese"]["epochs"] == 2
    emb = np.load(os.path.join(run_dir, "embeddings/test.npz"))
    assert emb["embeddings"].shape == (64, 16, 4) and emb["ids"][0] == 256
    # Validation: synthfaces indices after the test range; its figures under `validation.`.
    val = np.load(os.path.join(run_dir, "embeddings/validation.npz"))
    assert val["embeddings"].shape == (64, 16, 4) and val["ids"][0] == 256 + 64
    for key in ("classifier.mean_accuracy", "probe.mean_accuracy", "majority.mean_accuracy",
                "slots.norm_auc_mean", "recon.ssim", "judge.mean_accuracy"):
        assert 0.0 <= results[f"validation.{key}"] <= 1.0, key
    for key in ("recon.ssim", "slots.norm_auc_mean"):         # continuous: another split
        assert results[f"validation.{key}"] != results[key], key
    assert not any(key.startswith("validation.per_label.") for key in results)
    assert 1 <= results["probe.epochs_chosen"] <= 2          # tiny: probe.epochs=2
    assert "linear probe" in capsys.readouterr().out
    # Sections 4.2-4.5: decoders, Gaussians, judge, figures and the report.
    for name in ("decoder.keras", "decoder_probs.keras", "autoencoder.keras", "judge.keras",
                 "label_gaussians.npz", "norm_correlation.csv", "pca.csv", "report.html",
                 "history_decoder.csv", "figures/norm_correlation.png", "figures/pca_strip.png",
                 "figures/reconstructions.png", "figures/edits.png", "figures/generations.png",
                 "figures/slerp.png", "figures/flips_i1.png", "figures/flips_i2.png",
                 "figures/training/reconstructions_latest.png",
                 "figures/training/edits_latest.png",
                 "figures/training/norm_correlation_epoch002.png"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert os.listdir(os.path.join(run_dir, "tensorboard", "decoder"))
    for key in ("correlation.norm_vs_label_pearson", "correlation.norm_vs_truth_pearson",
                "pca.pc1_explained_variance_mean", "recon.ssim", "recon.psnr",
                "recon.probs_baseline_ssim", "recon.autoencoder_baseline_ssim",
                "edit.preservation", "per_label.Smiling.pc1_explained_variance",
                "per_label.Smiling.edit_preservation"):
        assert np.isfinite(results[key]), key
    # The AttGAN / STGAN protocol: every label of every test image flipped, two intensities.
    assert results["flip.num_images"] == 64 and results["flip.attgan13.labels"] == 9
    for key in ("flip.accuracy_i1_mean", "flip.accuracy_i2_mean", "flip.preservation_i1_mean",
                "flip.ssim_i2_mean", "per_label.Smiling.flip_accuracy_i2",
                "flip_structured.accuracy_i1_mean", "flip_structured.preservation_i2_mean"):
        assert 0.0 <= results[key] <= 1.0, key
    assert results["flip_structured.co_changed_mean"] >= 0.0
    assert results["flip_structured.context_scale"] == 1.0          # the default, recorded
    assert results["judge.epochs_chosen"] == 1.0               # tiny: judge_epochs=1
    for key in ("edit.add_success", "edit.remove_success", "generation.accuracy",
                "per_label.Smiling.add_success"):
        assert key in results, key       # NaN allowed: a 1-epoch judge may see no case
    with open(os.path.join(run_dir, "report.html")) as f:
        report = f.read()
    assert "recon.ssim" in report or "ssim" in report
    assert report.count("data:image/png;base64,") >= 6
    other = str(tmp_path / "other.html")
    assert main(["report", run_dir, "--out", other]) == 0
    assert os.path.getsize(other) > 10000
    _check_preset_build(run_dir, tmp_path)          # before the edit checks move the decoder
    _check_edit_and_generate(run_dir, tmp_path, capsys)
    # Re-running continues the finished run instead of retraining it.
    mtime = os.path.getmtime(os.path.join(run_dir, "encoder.keras"))
    assert main(["train", "--preset", "tiny", "--out", run_dir, "--set", "siamese.epochs=2"]) == 0
    assert os.path.getmtime(os.path.join(run_dir, "encoder.keras")) == mtime
    # A different config in the same directory is refused.
    assert main(["train", "--preset", "tiny", "--out", run_dir]) == 2


def _check_preset_build(run_dir, tmp_path):
    """`python -m kerasolr.presets build`: the run's files and a model card with its figures."""
    from kerasolr import presets

    out = presets.build(run_dir, "tiny-test", out_dir=str(tmp_path / "presets"))
    for file in (*presets.FILES, presets.CARD, presets.EDIT_STRUCTURE_FILE):
        assert os.path.exists(os.path.join(out, file)), file
    # The structured edit's reads of the training split travel with the preset.
    from kerasolr.rundir import RunDir
    structure, context = RunDir(out).edit_structure()
    fitted_structure, fitted_context = RunDir(run_dir).edit_structure()
    np.testing.assert_array_equal(structure.excludes, fitted_structure.excludes)
    np.testing.assert_allclose(context.effects, fitted_context.effects)
    card = open(os.path.join(out, presets.CARD)).read()
    with open(os.path.join(run_dir, "results.json")) as f:
        probe = json.load(f)["probe.mean_accuracy"]
    assert f"| linear probe on the embeddings | `probe.mean_accuracy` | {probe:.3f} |" in card
    assert "Smiling" in card and "kerasolr demo --out RUN" in card
    with pytest.raises(FileNotFoundError, match="not found: a preset needs a finished run"):
        presets.build(str(tmp_path / "nothing"), "x", out_dir=str(tmp_path / "presets"))


def _check_edit_and_generate(run_dir, tmp_path, capsys):
    from PIL import Image

    from kerasolr.config import tiny
    from kerasolr.data import pipeline

    element = next(iter(pipeline.load_split(tiny().data, "test").take(1)))
    image = (element["image"].numpy() * 255).round().astype(np.uint8)
    path = str(tmp_path / "face.png")
    Image.fromarray(image).save(path)
    out = str(tmp_path / "edited.png")
    assert main(["edit", path, "--run", run_dir, "--add", "Smiling", "--remove",
                 "Eyeglasses", "--scale", "1.5", "--out", out]) == 0
    edited = np.asarray(Image.open(out))
    assert edited.shape == (30, 30, 3)
    stronger = str(tmp_path / "stronger.png")
    assert main(["edit", path, "--run", run_dir, "--add", "Smiling", "--remove", "Eyeglasses",
                 "--scale", "1.5", "--intensity", "2", "--out", stronger]) == 0
    assert not np.array_equal(np.asarray(Image.open(stronger)), edited)
    structured = str(tmp_path / "structured.png")
    assert main(["edit", path, "--run", run_dir, "--add", "Blond_Hair", "--structured",
                 "--out", structured]) == 0
    assert np.asarray(Image.open(structured)).shape == (30, 30, 3)
    as_jpeg = str(tmp_path / "edited.jpg")
    assert main(["edit", path, "--run", run_dir, "--add", "Smiling", "--out", as_jpeg]) == 0
    with open(as_jpeg, "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"               # JPEG bytes, not PNG
    assert os.path.exists(str(tmp_path / "edited_comparison.png"))
    gen = str(tmp_path / "gen.png")
    assert main(["generate", "--run", run_dir, "--labels", "Male,Smiling", "--num", "3",
                 "--out", gen]) == 0
    assert os.path.exists(gen)
    capsys.readouterr()
    # search: the query is test image 0, so it is its own nearest neighbour.
    grid = str(tmp_path / "search.png")
    assert main(["search", path, "--run", run_dir, "--by", "Smiling,Male", "--top", "3",
                 "--out", grid]) == 0
    lines = capsys.readouterr().out.splitlines()
    # Test image 0 is the tiny preset's image 256 (after 256 training images).
    assert lines[1].startswith("  1. test image 0, id 256, distance 0.0")
    assert len(lines) == 4 and os.path.getsize(grid) > 1000
    assert main(["search", path, "--run", run_dir, "--by", "Smiley"]) == 2
    capsys.readouterr()

    Image.fromarray(np.zeros((20, 24, 3), np.uint8)).save(str(tmp_path / "small.png"))
    with open(tmp_path / "notes.png", "w") as f:
        f.write("not an image")
    cases = [
        (["edit", path, "--run", run_dir, "--add", "Smiley"], "unknown label 'Smiley'"),
        (["edit", str(tmp_path / "small.png"), "--run", run_dir, "--add", "Smiling"],
         "small.png is 24x20 pixels; this run's models take 32x32 images"),
        (["edit", str(tmp_path / "notes.png"), "--run", run_dir, "--add", "Smiling"],
         "notes.png is not a PNG, JPEG, BMP or GIF image"),
        (["edit", str(tmp_path / "none.png"), "--run", run_dir, "--add", "Smiling"],
         "none.png not found"),
        (["edit", path, "--run", run_dir], "nothing to do"),
        (["generate", "--run", run_dir, "--labels", "Male,Bald_Eagle"], "'Bald_Eagle'"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    os.rename(os.path.join(run_dir, "decoder.keras"), os.path.join(run_dir, "moved.keras"))
    assert main(["generate", "--run", run_dir, "--labels", "Male"]) == 2
    assert "decoder.keras not found: run `kerasolr train-decoder" in capsys.readouterr().err


def test_embed_images_writes_what_the_encoder_gives(tmp_path, capsys):
    from PIL import Image

    from kerasolr.data import synthfaces
    from kerasolr.presets import from_preset, preset_dir

    images = np.round(synthfaces.generate(5, 7, image_size=64)["image"] * 255).astype(np.uint8)
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"face{i}.png"))
        Image.fromarray(image).save(paths[-1])
    out = tmp_path / "emb.npz"
    assert main(["embed", preset_dir("synthfaces-64"), "--images", *paths,
                     "--out", str(out)]) == 0
    written = np.load(out)
    preset = from_preset("synthfaces-64")
    expected = preset.encoder(images.astype(np.float32) / 255, training=False).numpy()
    np.testing.assert_allclose(written["embeddings"], expected, atol=1e-5)
    np.testing.assert_allclose(written["slot_norms"], np.linalg.norm(expected, axis=-1),
                               atol=1e-5)
    assert list(written["files"]) == paths and tuple(written["label_names"]) == preset.names
    # A bad file stops it before anything is written; --images needs --out.
    bad = tmp_path / "bad.png"
    bad.write_text("no")
    assert main(["embed", preset_dir("synthfaces-64"), "--images", paths[0], str(bad),
                     "--out", str(tmp_path / "b.npz")]) == 2
    assert f"{bad} is not" in capsys.readouterr().err and not (tmp_path / "b.npz").exists()
    assert main(["embed", preset_dir("synthfaces-64"), "--images", paths[0]]) == 2
    assert "--images needs --out FILE.npz" in capsys.readouterr().err


def test_structured_edit_with_the_shipped_preset(tmp_path):
    """The preset ships no training embeddings; its `edit_structure.npz` stands in for them."""
    from PIL import Image

    from kerasolr.data import synthfaces
    from kerasolr.presets import preset_dir
    from kerasolr.rundir import EDIT_STRUCTURE_FILE

    assert os.path.exists(os.path.join(preset_dir("synthfaces-64"), EDIT_STRUCTURE_FILE))
    image = np.round(synthfaces.generate(5, 6, image_size=64)["image"][0] * 255)
    path = str(tmp_path / "face.png")
    Image.fromarray(image.astype(np.uint8)).save(path)
    out = str(tmp_path / "blond.png")
    assert main(["edit", path, "--preset", "synthfaces-64", "--add", "Blond_Hair",
                 "--structured", "--out", out]) == 0
    assert np.asarray(Image.open(out)).shape == (62, 62, 3)


def test_structured_edit_without_training_labels_says_what_is_missing(tmp_path, capsys):
    import shutil

    from PIL import Image

    from kerasolr.presets import preset_dir
    from kerasolr.rundir import EDIT_STRUCTURE_FILE

    run = str(tmp_path / "run")
    shutil.copytree(preset_dir("synthfaces-64"), run)
    os.remove(os.path.join(run, EDIT_STRUCTURE_FILE))
    path = str(tmp_path / "face.png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(path)
    out = tmp_path / "never.png"
    assert main(["edit", path, "--run", run, "--add", "Blond_Hair", "--structured",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"neither {os.path.join(run, EDIT_STRUCTURE_FILE)} nor" in err[0]
    assert "kerasolr embed" in err[0] and not out.exists()
