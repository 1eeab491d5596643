import keras
import numpy as np
import pytest

from kerasolr.layers import LabelGroupPooling
from kerasolr.models import OLRModel, build_classifier, build_encoder


def test_encoder_shapes_and_label_layer():
    encoder = build_encoder(num_labels=4, k=3, image_size=16, filters=(4, 8))
    assert encoder.output_shape == (None, 4, 3)
    assert encoder.get_layer("label_groups").filters == 12
    assert isinstance(encoder.get_layer("embedding"), LabelGroupPooling)


def test_classifier_outputs_probabilities():
    classifier = build_classifier(num_labels=4, image_size=16, filters=(4, 8), dense_units=8)
    probs = classifier.predict(np.random.rand(3, 16, 16, 3).astype("float32"), verbose=0)
    assert probs.shape == (3, 4) and probs.min() >= 0 and probs.max() <= 1
    assert classifier.get_layer("logits").units == 4


def test_builders_reject_bad_sizes():
    with pytest.raises(ValueError, match="k=0"):
        build_encoder(4, 0, 16)
    with pytest.raises(ValueError, match="0"):
        build_classifier(0, 16)


@pytest.mark.parametrize("builder", ["encoder", "classifier"])
def test_save_load_roundtrip(tmp_path, builder):
    model = (build_encoder(4, 3, 16, (4, 8)) if builder == "encoder"
             else build_classifier(4, 16, (4, 8), 8))
    x = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def _olr(**kwargs):
    keras.utils.set_random_seed(0)
    encoder = build_encoder(4, 3, 16, (4, 8))
    classifier = build_classifier(4, 16, (4, 8), 8)
    return OLRModel(encoder, classifier, **kwargs), encoder, classifier


def test_olr_target_is_the_product_of_the_pair_probabilities():
    model, encoder, classifier = _olr(occlusion="none")
    pairs = np.random.default_rng(1).random((3, 2, 16, 16, 3), dtype=np.float32)
    loss, joint = model.compute_losses(pairs, training=False, step=0)
    p = classifier.predict(pairs.reshape(6, 16, 16, 3), verbose=0).reshape(3, 2, 4)
    np.testing.assert_allclose(joint.numpy(), p[:, 0] * p[:, 1], rtol=1e-5, atol=1e-6)
    e = encoder.predict(pairs.reshape(6, 16, 16, 3), verbose=0).reshape(3, 2, 4, 3)
    u = (e[:, 0] * e[:, 1]).sum(-1)
    assert float(loss) == pytest.approx(float(((u - p[:, 0] * p[:, 1]) ** 2).mean()), rel=1e-4)


def test_temperature_softens_the_targets():
    model, _, classifier = _olr(occlusion="none", temperature=3.0)
    pairs = np.random.default_rng(2).random((3, 2, 16, 16, 3), dtype=np.float32)
    _, joint = model.compute_losses(pairs, training=False, step=0)
    logits = keras.Model(classifier.inputs, classifier.get_layer("logits").output).predict(
        pairs.reshape(6, 16, 16, 3), verbose=0).reshape(3, 2, 4)
    p = 1 / (1 + np.exp(-logits / 3.0))
    np.testing.assert_allclose(joint.numpy(), p[:, 0] * p[:, 1], rtol=1e-5, atol=1e-6)


def test_olr_fit_lowers_the_loss_and_leaves_the_classifier_frozen():
    model, _, classifier = _olr(occlusion="rectangle", seed=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    pairs = np.random.default_rng(3).random((32, 2, 16, 16, 3), dtype=np.float32)
    before = [w.copy() for w in classifier.get_weights()]
    history = model.fit(pairs, batch_size=8, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for a, b in zip(before, classifier.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model(pairs[:2]).shape == (2, 2, 4, 3)


def test_olr_rejects_bad_settings():
    with pytest.raises(ValueError, match="'circle'"):
        _olr(occlusion="circle")
    with pytest.raises(ValueError, match="-1"):
        _olr(temperature=-1)


def test_encoder_trunk_can_start_from_the_classifier():
    from kerasolr.models import copy_trunk_weights

    classifier = build_classifier(4, 16, (4, 8), 8)
    encoder = build_encoder(4, 3, 16, (4, 8))
    assert copy_trunk_weights(classifier, encoder) == 4  # 2 convs + 2 batch norms
    for i in range(2):
        for a, b in zip(classifier.get_layer(f"cls_conv{i}").get_weights(),
                        encoder.get_layer(f"enc_conv{i}").get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="filters differ"):
        copy_trunk_weights(classifier, build_encoder(4, 3, 16, (4, 6)))


def test_initial_dot_products_are_small():
    # A unit-scale label layer starts with |u| ~ 10 and collapses under Adam;
    # the small init keeps the first targets (in [0, 1]) within reach.
    keras.utils.set_random_seed(0)
    encoder = build_encoder(16, 16, 64)
    x = np.random.default_rng(0).random((32, 64, 64, 3), dtype=np.float32)
    e = keras.ops.convert_to_numpy(encoder(x, training=True))
    assert np.abs((e[:16] * e[16:]).sum(-1)).mean() < 0.2
