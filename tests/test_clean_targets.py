"""`siamese.clean_targets_once` (issue 17): the classifier's probabilities of the clean
training images computed once, the classifier run in each step only on the images that
get a rectangle; the targets are those of the step that computes everything."""

import keras
import numpy as np
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr import occlusion, run
from kerasolr.data import pipeline
from kerasolr.models import OLRModel, build_classifier, build_encoder


def _olr(**kwargs):
    keras.utils.set_random_seed(0)
    encoder = build_encoder(4, 3, 16, (4, 8))
    classifier = build_classifier(4, 16, (4, 8), 8)
    return OLRModel(encoder, classifier, **kwargs), classifier


def test_only_the_occluded_images_go_through_the_classifier():
    model, classifier = _olr(occlusion="rectangle", occlusion_rate=0.5, seed=3)
    pairs = np.random.default_rng(1).random((8, 2, 16, 16, 3), dtype=np.float32)
    clean = classifier.predict(pairs.reshape(16, 16, 16, 3), verbose=0).reshape(8, 2, 4)
    loss, joint = model.compute_losses(pairs, False, 5)
    cached_loss, cached_joint = model.compute_losses(pairs, False, 5, clean)
    np.testing.assert_allclose(cached_joint.numpy(), joint.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(cached_loss), float(loss), rtol=1e-5)

    # Known answer: with every cached probability 0.5, a pair of two clean images has
    # the target 0.25, and a pair of two occluded ones the classifier's own product.
    _, half = model.compute_losses(pairs, False, 5, np.full((8, 2, 4), 0.5, np.float32))
    occluded = (occlusion.step_uniforms(16, 3, 5)[:, 4] < 0.5).numpy().reshape(8, 2)
    assert occluded.any() and (~occluded).any()
    for i, (a, b) in enumerate(occluded):
        if not a and not b:
            np.testing.assert_allclose(half[i].numpy(), 0.25)
        elif a and b:
            np.testing.assert_allclose(half[i].numpy(), joint[i].numpy(), rtol=1e-5, atol=1e-6)
        else:
            assert not np.allclose(half[i].numpy(), joint[i].numpy())


def test_without_occlusion_the_classifier_never_runs_in_the_step():
    model, classifier = _olr(occlusion="none", temperature=3.0)
    pairs = np.random.default_rng(2).random((3, 2, 16, 16, 3), dtype=np.float32)
    targets = run.clean_targets(classifier, tf.data.Dataset.from_tensor_slices(
        {"image": (pairs.reshape(6, 16, 16, 3) * 255).round().astype(np.uint8),
         "id": np.arange(10, 16, dtype=np.int64)}), temperature=3.0)
    assert targets.ids.tolist() == list(range(10, 16))
    unit = (pairs * 255).round().astype(np.uint8).astype(np.float32) / 255
    _, joint = model.compute_losses(unit, False, 0)
    model.classifier = None          # a step that called the classifier would fail now
    _, cached = model.compute_losses(unit, False, 0, targets.probs.reshape(3, 2, 4))
    np.testing.assert_allclose(cached.numpy(), joint.numpy(), rtol=1e-5, atol=1e-6)


def test_pairs_carry_the_probabilities_of_their_own_images():
    ids = np.arange(100, 116, dtype=np.int64)
    images = np.repeat((ids - 100).astype(np.uint8)[:, None, None, None], 4, axis=1)
    images = np.repeat(np.repeat(images, 4, axis=2), 3, axis=3)
    ds = tf.data.Dataset.from_tensor_slices({"image": images, "id": ids})
    probs = np.stack([ids - 100, 2 * (ids - 100)], axis=1).astype(np.float32)
    batches = list(pipeline.pair_batches(ds, 4, seed=0, shuffle_buffer=16,
                                         targets=pipeline.CleanTargets(ids[::-1],
                                                                       probs[::-1])))
    assert len(batches) == 2
    seen = []
    for pairs, p in batches:
        assert pairs.shape == (4, 2, 4, 4, 3) and p.shape == (4, 2, 2)
        index = pairs.numpy()[:, :, 0, 0, 0].astype(np.float32)
        np.testing.assert_array_equal(p.numpy(), np.stack([index, 2 * index], axis=-1))
        seen += index.ravel().tolist()
    assert sorted(seen) == list(range(16)) and seen != list(range(16))


def test_a_run_with_clean_targets_once_trains_as_one_without(tmp_path, capsys):
    sets = ["data.num_train=128", "siamese.occlusion_rate=0.5", "siamese.epochs=2"]
    config = cfg.override(cfg.preset("tiny"), sets)
    _, plain = run.train(config, str(tmp_path / "plain"))
    _, once = run.train(cfg.override(config, ["siamese.clean_targets_once=true"]),
                        str(tmp_path / "once"))
    assert capsys.readouterr().err.count("probabilities of the clean training images") == 1
    for a, b in zip(plain.get_weights(), once.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)
