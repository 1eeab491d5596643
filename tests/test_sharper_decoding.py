"""The optional sharper-decoding terms (issue 14 part 3): a PatchGAN discriminator and
feature matching on the classifier's features, on tiny shapes."""

import dataclasses
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr.config import DecoderConfig
from kerasolr.models.classifier import build_classifier
from kerasolr.models.decoder import build_decoder
from kerasolr.models.discriminator import (
    build_patch_discriminator,
    classifier_feature_maps,
    feature_matching_loss,
    pad_to,
)
from kerasolr.resume import load_training_state, save_training_state
from kerasolr.training import fit_reconstruction


def test_patch_discriminator_gives_one_logit_per_patch():
    d = build_patch_discriminator(14, (4, 8))
    assert d(np.zeros((3, 14, 14, 3), np.float32)).shape == (3, 4, 4, 1)


def test_feature_maps_are_the_frozen_blocks_and_match_only_identical_images():
    classifier = build_classifier(2, 16, filters=(4, 8), dense_units=4)
    features = classifier_feature_maps(classifier)
    assert len(features.outputs) == 2 and not features.trainable_weights
    rng = np.random.default_rng(0)
    a = rng.random((2, 14, 14, 3)).astype(np.float32)
    b = rng.random((2, 14, 14, 3)).astype(np.float32)
    assert np.allclose(feature_matching_loss(features, a, a, 16), 0.0)
    assert np.all(feature_matching_loss(features, a, b, 16).numpy() > 0.0)
    padded = pad_to(a, 16).numpy()
    np.testing.assert_array_equal(padded[:, 1:-1, 1:-1], a)             # centre kept
    np.testing.assert_array_equal(padded[:, 0, 1:-1], a[:, 0])          # edge replicated
    with pytest.raises(ValueError, match="cannot pad side 14 to 15"):
        pad_to(a, 15)


def _fit(config, classifier, tmp_path=None):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(8, 2, 3)).astype(np.float32)
    images = rng.random((8, 16, 16, 3)).astype(np.float32)
    batches = tf.data.Dataset.from_tensor_slices((codes, images)).batch(4)

    def build():
        return build_decoder((2, 3), 16, 8, (8, 8, 8), (8, 8, 4))

    return fit_reconstruction(config, build, batches, batches, tf.distribute.get_strategy(),
                              verbose=0, classifier=classifier)


def test_both_terms_train_and_leave_the_classifier_alone():
    classifier = build_classifier(2, 16, filters=(4, 8), dense_units=4)
    before = [w.copy() for w in classifier.get_weights()]
    config = dataclasses.replace(DecoderConfig(), epochs=2, learning_rate=1e-3,
                                 ssim_filter_size=5, feature_weight=1.0,
                                 adversarial_weight=0.1, discriminator_filters=(4, 8))
    _, history = _fit(config, classifier)
    for key in ("loss", "feature", "adversarial", "discriminator", "val_ssim", "val_feature"):
        assert len(history[key]) == 2 and np.all(np.isfinite(history[key])), key
    for w, b in zip(classifier.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, b)
    # The paper's eq. 3 alone has none of the extra terms.
    _, plain = _fit(dataclasses.replace(config, feature_weight=0.0, adversarial_weight=0.0),
                    classifier)
    assert "feature" not in plain and "discriminator" not in plain
    with pytest.raises(ValueError, match="needs the run classifier"):
        _fit(config, None)


def test_the_discriminator_optimizer_is_checkpointed(tmp_path):
    from kerasolr.models.decoder import ReconstructionTrainer

    def trainer(adversarial):
        decoder = build_decoder((2, 3), 16, 8, (8, 8, 8), (8, 8, 4))
        extras = {}
        if adversarial:
            extras = dict(discriminator=build_patch_discriminator(14, (4,)),
                          adversarial_weight=0.1,
                          discriminator_optimizer=keras.optimizers.Adam(1e-3))
        t = ReconstructionTrainer(decoder, ssim_filter_size=5, **extras)
        t.compile(optimizer=keras.optimizers.RMSprop(1e-3))
        data = (np.zeros((2, 2, 3), np.float32), np.full((2, 16, 16, 3), 0.5, np.float32))
        t.fit(*data, verbose=0, epochs=1, batch_size=2)
        return t

    path = os.path.join(tmp_path, "state.npz")
    trained = trainer(True)
    save_training_state(trained, path)
    with np.load(path) as saved:
        with_d = len(saved.files)
    save_training_state(trainer(False), path + "2.npz")
    with np.load(path + "2.npz") as saved:
        assert with_d > len(saved.files) + len(trained.discriminator.weights)
    fresh = trainer(True)
    load_training_state(fresh, path)
    np.testing.assert_array_equal(fresh.discriminator_optimizer.variables[-1].numpy(),
                                  trained.discriminator_optimizer.variables[-1].numpy())


def test_feature_batch_matches_the_batch_s_first_images_in_training_only():
    from kerasolr.config import RunConfig, override
    from kerasolr.models.decoder import ReconstructionTrainer, crop_to

    classifier = build_classifier(2, 16, filters=(4, 8), dense_units=4)
    features = classifier_feature_maps(classifier)
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(4, 2, 3)).astype(np.float32)
    images = rng.random((4, 16, 16, 3)).astype(np.float32)
    decoder = build_decoder((2, 3), 16, 8, (8, 8, 8), (8, 8, 4))
    target = crop_to(tf.constant(images), 14)
    output = decoder(codes, training=False)["image"]
    per_image = feature_matching_loss(features, target, output, 16).numpy()
    assert per_image.std() > 0                           # the images' terms differ

    def feature_term(feature_batch, training):
        trainer = ReconstructionTrainer(decoder, ssim_filter_size=5, features=features,
                                        feature_weight=1.0, feature_batch=feature_batch)
        return float(trainer.compute_losses((codes, images), training)[3]["feature"])

    np.testing.assert_allclose(feature_term(2, True), per_image[:2].mean(), rtol=1e-5)
    np.testing.assert_allclose(feature_term(1, True), per_image[0], rtol=1e-5)
    for feature_batch, training in ((2, False), (0, True), (9, True)):   # all four images
        np.testing.assert_allclose(feature_term(feature_batch, training), per_image.mean(),
                                   rtol=1e-5)
    with pytest.raises(ValueError, match="feature_batch=-1 is invalid"):
        ReconstructionTrainer(decoder, features=features, feature_weight=1.0, feature_batch=-1)
    with pytest.raises(ValueError, match="decoder.feature_batch=-2"):
        override(RunConfig(), ["decoder.feature_batch=-2"])
