"""The section 4.4 decoder: Table 1 geometry, outputs, save/load, and a trainer that learns."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr.models.decoder import (
    ReconstructionTrainer,
    build_autoencoder,
    build_decoder,
    crop_to,
    decoder_geometry,
)


def test_table1_geometry_at_178():
    # Table 1: Reshape (6, 512), the valid conv in stage 2 (24 -> 22), output 176.
    assert decoder_geometry(178, 5) == (6, 2, 176)


@pytest.mark.parametrize("size,stages,expected", [
    (64, 5, (2, 5, 62)), (32, 4, (2, 4, 30)), (16, 3, (2, 3, 14))])
def test_geometry_gives_size_minus_two(size, stages, expected):
    assert decoder_geometry(size, stages) == expected


def test_geometry_without_exact_solution_crops_centrally():
    start, stage, out = decoder_geometry(89, 5)
    assert out <= 89 and (start, stage) == (2, 5)


def test_geometry_rejects_too_many_stages():
    with pytest.raises(ValueError, match="image_size=16 is too small"):
        decoder_geometry(16, 5)


def test_table1_layers_at_178():
    decoder = build_decoder((38, 32), 178)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in decoder.layers}
    assert shapes["flatten"] == (1216,)
    assert shapes["dense"] == (18432,)
    assert shapes["reshape"] == (6, 6, 512)
    assert shapes["dec_tconv0"] == (12, 12, 128)
    assert shapes["dec_conv1"] == (22, 22, 64)           # the valid convolution
    assert shapes["dec_tconv4"] == (176, 176, 64)
    assert shapes["conv_out"] == (176, 176, 3)


def test_outputs_and_rescale_range():
    decoder = build_decoder((4, 3), 16, dense_channels=8, transpose_channels=(8, 8, 8),
                            conv_channels=(8, 8, 4))
    out = decoder(np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32"))
    assert out["raw"].shape == (2, 14, 14, 3) and out["image"].shape == (2, 14, 14, 3)
    image = out["image"].numpy().reshape(2, -1)
    raw = out["raw"].numpy().reshape(2, -1)
    np.testing.assert_allclose(image.min(axis=1), 0.0, atol=1e-6)
    # Rescale divides by (range + 1e-7): the maximum is range / (range + 1e-7), which
    # is below 1 by more than float noise when the untrained output's range is small.
    spread = raw.max(axis=1) - raw.min(axis=1)
    np.testing.assert_allclose(image.max(axis=1), spread / (spread + 1e-7), rtol=1e-5)


def test_crop_to_removes_one_pixel_per_side():
    images = np.arange(2 * 6 * 6 * 1, dtype="float32").reshape(2, 6, 6, 1)
    np.testing.assert_array_equal(crop_to(images, 4), images[:, 1:5, 1:5])


def test_save_and_load(tmp_path):
    decoder = build_decoder((4, 3), 16, 8, (8, 8, 8), (8, 8, 4))
    codes = np.random.default_rng(1).normal(size=(3, 4, 3)).astype("float32")
    path = str(tmp_path / "decoder.keras")
    decoder.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(codes)["image"], decoder(codes)["image"], atol=1e-6)


def test_trainer_learns_a_tiny_set():
    # Four codes, four fixed images: eq. 3 must fall well below its start.
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(4, 4, 3)).astype("float32")
    # Smooth images (a gradient per image and channel), the kind a decoder can fit.
    ramp = np.linspace(0.0, 1.0, 16, dtype="float32")
    slopes = rng.uniform(-1, 1, size=(4, 1, 1, 3)).astype("float32")
    images = 0.5 + 0.5 * slopes * (ramp[None, :, None, None] - 0.5) * 2
    images = np.broadcast_to(images, (4, 16, 16, 3)).copy()
    decoder = build_decoder((4, 3), 16, 16, (16, 16, 16), (16, 16, 8))
    trainer = ReconstructionTrainer(decoder, alpha=0.5, ssim_filter_size=7)
    trainer.compile(optimizer=keras.optimizers.RMSprop(1e-3))
    one = tf.data.Dataset.from_tensor_slices((codes, images)).batch(4)
    before = trainer.evaluate(one, verbose=0, return_dict=True)
    trainer.fit(one.repeat(100), verbose=0, shuffle=False)
    after = trainer.evaluate(one, verbose=0, return_dict=True)
    assert after["loss"] < 0.7 * before["loss"]
    assert after["ssim"] > before["ssim"]


def test_autoencoder_shapes():
    decoder = build_decoder((12,), 16, 8, (8, 8, 8), (8, 8, 4), name="ae_decoder")
    model = build_autoencoder(16, 12, (4, 8), decoder)
    out = model(np.zeros((2, 16, 16, 3), "float32"))
    assert out["image"].shape == (2, 14, 14, 3)
    assert model.get_layer("ae_bottleneck").output.shape[-1] == 12
