import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr.layers import FusedBatchNormalization
from tests.conftest import assert_config_roundtrip

GAMMA = np.array([0.5, 1.0, 2.0], np.float32)
BETA = np.array([-1.0, 0.0, 3.0], np.float32)


def pair(**kwargs):
    """A Keras BatchNormalization and a FusedBatchNormalization with the same weights."""
    layers = keras.layers.BatchNormalization(**kwargs), FusedBatchNormalization(**kwargs)
    for layer in layers:
        layer.build((None, 4, 4, 3))
        layer.set_weights([GAMMA, BETA, np.array([1.0, -2.0, 0.5], np.float32),
                           np.array([4.0, 0.25, 1.0], np.float32)])
    return layers


def images(seed=0, shape=(2, 4, 4, 3)):
    return tf.constant(np.random.default_rng(seed).normal(2.0, 3.0, shape).astype(np.float32))


def test_training_normalises_each_channel_to_beta_and_gamma():
    x = images()
    y = FusedBatchNormalization(epsilon=1e-6, gamma_initializer=keras.initializers.Constant(GAMMA),
                                beta_initializer=keras.initializers.Constant(BETA))(
        x, training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), BETA, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), GAMMA, rtol=1e-4)


@pytest.mark.parametrize("synchronized", [False, True])
def test_training_step_matches_keras_batch_normalization(synchronized):
    keras_bn, fused = pair(momentum=0.9, synchronized=synchronized)
    x = images()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs = [layer(x, training=True) for layer in (keras_bn, fused)]
        losses = [tf.reduce_sum(y ** 3) for y in outputs]
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
    # The moving statistics take the biased batch variance, as Keras's do.
    for a, b in zip(keras_bn.non_trainable_weights, fused.non_trainable_weights, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6)
    assert not np.allclose(fused.moving_mean.numpy(), [1.0, -2.0, 0.5])
    grads = [tape.gradient(loss, [x, layer.gamma, layer.beta])
             for loss, layer in zip(losses, (keras_bn, fused), strict=True)]
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))


def test_inference_uses_the_moving_statistics():
    keras_bn, fused = pair(epsilon=1e-3)
    x = images(1)
    expected = (x.numpy() - [1.0, -2.0, 0.5]) / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-3)
    expected = expected * GAMMA + BETA
    np.testing.assert_allclose(fused(x, training=False), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused(x, training=False), keras_bn(x, training=False), atol=1e-5)


def test_a_frozen_layer_keeps_its_statistics_in_training_mode():
    _, fused = pair()
    fused.trainable = False
    before = [w.numpy() for w in fused.weights]
    x = images(2)
    np.testing.assert_allclose(fused(x, training=True), fused(x, training=False))
    for a, b in zip(before, fused.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())


def test_other_inputs_take_keras_own_path():
    keras_bn, fused = keras.layers.BatchNormalization(), FusedBatchNormalization()
    x = tf.constant(np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32))
    np.testing.assert_allclose(fused(x, training=True), keras_bn(x, training=True), atol=1e-6)


def test_mixed_precision_computes_in_float32_and_returns_the_compute_dtype():
    x = images(4)
    reference = FusedBatchNormalization()(x, training=True)
    layer = FusedBatchNormalization(dtype="mixed_bfloat16")
    y = layer(tf.cast(x, tf.bfloat16), training=True)
    assert y.dtype == tf.bfloat16
    assert layer.moving_variance.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y, tf.float32), reference, atol=0.05)


def test_config_roundtrip_and_a_saved_model_reloads(tmp_path):
    assert_config_roundtrip(FusedBatchNormalization(momentum=0.9, synchronized=True, name="bn"))
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, FusedBatchNormalization(momentum=0.9, name="bn")(inputs))
    model.layers[-1].set_weights(pair()[1].get_weights())
    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.layers[-1], FusedBatchNormalization)
    x = images(5)
    np.testing.assert_array_equal(reloaded(x, training=False), model(x, training=False))
