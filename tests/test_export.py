"""`kerasolr export`: a TF Serving SavedModel checked with TensorFlow's own tools."""

import io
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kerasolr import editing
from kerasolr.cli import main
from kerasolr.data.images import decode, square_crop_resize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENDPOINTS = {
    "embed": (["images"], ["embedding", "slot_norms"]),
    "serving_default": (["images"], ["embedding", "slot_norms"]),
    "embed_jpeg": (["jpeg"], ["embedding", "slot_norms"]),
    "classify": (["images"], ["probabilities"]),
    "reconstruct": (["embedding"], ["image"]),
    "edit": (["images", "add", "remove", "scale", "seed"], ["image", "embedding"]),
    "metadata": ([], ["label_names", "image_size", "k", "output_size"]),
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    run_dir = str(tmp / "run")
    assert main(["train", "--preset", "tiny", "--out", run_dir]) == 0
    assert main(["embed", run_dir]) == 0
    assert main(["train-decoder", run_dir]) == 0
    assert main(["export", run_dir, "--name", "olr", "--base", str(tmp / "models")]) == 0
    return tmp, run_dir, str(tmp / "models" / "olr" / "1")


def _cli(*args):
    # TensorFlow's `saved_model_cli` of this interpreter (its console script, or
    # the module that script runs when the environment's bin/ is not on PATH).
    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = [script] if os.path.exists(script) else [
        sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300)


def test_saved_model_cli_lists_every_endpoint_with_its_names(exported):
    _, _, path = exported
    shown = _cli("show", "--dir", path, "--all")
    assert shown.returncode == 0, shown.stderr[-2000:]
    blocks = shown.stdout.split("signature_def['")
    found = {block.split("']")[0]: block for block in blocks[1:]}
    for name, (inputs, outputs) in ENDPOINTS.items():
        assert name in found, name
        block = found[name]
        assert "Method name is: tensorflow/serving/predict" in block, name
        assert sorted(block.count(f"inputs['{i}']") for i in inputs) == [1] * len(inputs)
        for output in outputs:
            assert f"outputs['{output}']" in block, (name, output)
    with open(os.path.join(path, "assets", "kerasolr.json")) as f:
        assert json.load(f)["image_size"] == 32


def test_saved_model_cli_runs_embed_and_classify(exported, tmp_path):
    _, run_dir, path = exported
    images = np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)
    np.save(tmp_path / "images.npy", images)
    encoder = keras.saving.load_model(os.path.join(run_dir, "encoder.keras"), compile=False)
    classifier = keras.saving.load_model(os.path.join(run_dir, "classifier.keras"),
                                         compile=False)
    for signature, output, model in (("embed", "embedding", encoder),
                                     ("classify", "probabilities", classifier)):
        out = tmp_path / signature
        ran = _cli("run", "--dir", path, "--tag_set", "serve", "--signature_def", signature,
                   "--inputs", f"images={tmp_path / 'images.npy'}", "--outdir", str(out))
        assert ran.returncode == 0, ran.stderr[-2000:]
        np.testing.assert_allclose(np.load(out / f"{output}.npy"), model(images).numpy(),
                                   atol=1e-5)


def test_a_client_without_kerasolr_gets_the_keras_models_outputs(exported, tmp_path):
    _, run_dir, path = exported
    encoder = keras.saving.load_model(os.path.join(run_dir, "encoder.keras"), compile=False)
    classifier = keras.saving.load_model(os.path.join(run_dir, "classifier.keras"),
                                         compile=False)
    import kerasolr.layers  # noqa: F401

    decoder = keras.saving.load_model(os.path.join(run_dir, "decoder.keras"), compile=False)
    gaussians = editing.LabelGaussians.load(os.path.join(run_dir, "label_gaussians.npz"))
    rng = np.random.default_rng(1)
    images = rng.random((4, 32, 32, 3), dtype=np.float32)
    photo = (rng.random((44, 36, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG")
    num_labels = len(gaussians.names)
    add = np.zeros((4, num_labels), np.float32)
    add[:, 0] = 1.0
    remove = np.zeros((4, num_labels), np.float32)
    remove[:, 1] = 1.0
    scale = np.ones((4, num_labels), np.float32)
    scale[:, 2] = 1.5
    inputs = dict(images=images, jpeg=np.frombuffer(buffer.getvalue(), np.uint8),
                  embedding=encoder(images).numpy(), add=add, remove=remove, scale=scale,
                  seed=np.arange(4, dtype=np.int64))
    np.savez(tmp_path / "in.npz", **inputs)
    client = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "serving_client.py"),
                             path, str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                            capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert client.returncode == 0, client.stderr[-3000:]
    out = dict(np.load(tmp_path / "out.npz"))

    def close(a, b):
        assert np.abs(np.asarray(a) - np.asarray(b)).max() <= 1e-5

    embedding = encoder(images).numpy()
    close(out["embed.embedding"], embedding)
    close(out["serving_default.embedding"], embedding)
    close(out["embed.slot_norms"], np.linalg.norm(embedding, axis=-1))
    close(out["classify.probabilities"], classifier(images).numpy())
    close(out["reconstruct.image"], decoder(embedding)["image"].numpy())
    # embed_jpeg decodes, crops and resizes inside the graph as training does.
    decoded = square_crop_resize(decode(tf.constant(buffer.getvalue())), 32)
    close(out["embed_jpeg.embedding"], encoder(decoded[None]).numpy())
    # edit: the slots asked for change, the others do not; the same seed gives the same image.
    edited = out["edit1.embedding"]
    np.testing.assert_array_equal(out["edit1.image"], out["edit2.image"])
    np.testing.assert_array_equal(edited[:, 1], 0.0)
    close(edited[:, 2], 1.5 * embedding[:, 2])
    close(edited[:, 3:], embedding[:, 3:])
    assert np.abs(edited[:, 0] - embedding[:, 0]).max() > 1e-3      # a Gaussian sample
    close(out["edit1.image"], decoder(edited)["image"].numpy())
    assert list(out["metadata.label_names"]) == list(gaussians.names)
    assert int(out["metadata.image_size"]) == 32
    assert "Unknown image file format" in str(out["bad_bytes_error"])


def test_signatures_reject_a_wrong_shape_or_dtype(exported):
    _, _, path = exported
    embed = tf.saved_model.load(path).signatures["embed"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="Shape of tensor"):
        embed(images=tf.zeros((1, 16, 16, 3)))
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        embed(images=tf.zeros((1, 32, 32, 3), tf.int32))
    assert embed(images=tf.zeros((1, 32, 32, 3)))["embedding"].shape == (1, 16, 4)


def test_tfsmlayer_loads_the_export_back_into_keras(exported):
    _, run_dir, path = exported
    layer = keras.layers.TFSMLayer(path, call_endpoint="embed")
    images = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    encoder = keras.saving.load_model(os.path.join(run_dir, "encoder.keras"), compile=False)
    out = layer(images)
    np.testing.assert_allclose(out["embedding"], encoder(images).numpy(), atol=1e-5)


def test_an_existing_version_is_never_overwritten(exported, capsys):
    tmp, run_dir, _ = exported
    assert main(["export", run_dir, "--name", "olr", "--base", str(tmp / "models"),
                 "--version", "1"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", run_dir, "--name", "a/b", "--base", str(tmp / "models")]) == 2
    assert main(["export", run_dir, "--name", "olr", "--base", str(tmp / "models")]) == 0
    assert sorted(os.listdir(tmp / "models" / "olr")) == ["1", "2"]
