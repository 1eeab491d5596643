"""The model presets shipped inside the package load with Keras's safe mode and work
through the command line without any training."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from kerasolr import presets
from kerasolr.cli import main


def test_unknown_preset_is_one_line(capsys):
    assert main(["generate", "--preset", "nope", "--labels", "Male"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kerasolr: error: unknown model preset 'nope'; shipped: ")
    assert "\n" not in err


@pytest.mark.parametrize("name", presets.available())
def test_a_shipped_preset_loads_safely_and_edits(name, tmp_path, capsys):
    path = presets.preset_dir(name)
    for file in (*presets.FILES, presets.CARD):
        assert os.path.exists(os.path.join(path, file)), file
    for model in presets.MODELS:            # safe_mode=True: no arbitrary code in the files
        import kerasolr.layers  # noqa: F401

        keras.saving.load_model(os.path.join(path, f"{model}.keras"), compile=False,
                                safe_mode=True)
    preset = presets.from_preset(name)
    size = preset.config.data.image_size
    from kerasolr.data import pipeline

    image = pipeline.images_at(preset.config.data, "test", [0])
    embedding = preset.encoder(image, training=False).numpy()
    assert embedding.shape == (1, len(preset.names), preset.config.siamese.k)
    # The shipped test embeddings are this encoder's (the files belong together).
    shipped = np.load(os.path.join(path, "embeddings", "test.npz"))["embeddings"][0]
    np.testing.assert_allclose(embedding[0], shipped, atol=1e-4)
    face = tmp_path / "face.png"
    Image.fromarray((image[0] * 255).round().astype(np.uint8)).save(face)
    assert main(["edit", str(face), "--preset", name, "--add", preset.names[0],
                 "--out", str(tmp_path / "edited.png")]) == 0
    assert main(["generate", "--preset", name, "--labels", ",".join(preset.names[:2]),
                 "--out", str(tmp_path / "generated.png")]) == 0
    assert main(["search", str(face), "--preset", name, "--top", "3",
                 "--out", str(tmp_path / "search.png")]) == 0
    out = capsys.readouterr().out
    assert "  1. test image 0," in out          # the image itself comes first
    assert Image.open(tmp_path / "edited.png").size == (size - 2, size - 2)
    with open(os.path.join(path, "labels.json")) as f:
        assert tuple(json.load(f)["label_names"]) == preset.names
