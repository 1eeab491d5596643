import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr.layers import ForwardGradientConv2D
from tests.conftest import assert_config_roundtrip


def pair(filters=5, kernel_size=3, input_shape=(2, 9, 9, 4), **kwargs):
    """A Keras Conv2D and a ForwardGradientConv2D with the same weights."""
    layers = (keras.layers.Conv2D(filters, kernel_size, **kwargs),
              ForwardGradientConv2D(filters, kernel_size, **kwargs))
    layers[0].build(input_shape)
    layers[1].build(input_shape)
    rng = np.random.default_rng(1)
    layers[1].set_weights([rng.normal(size=w.shape).astype(np.float32)
                           for w in layers[1].get_weights()])
    layers[0].set_weights(layers[1].get_weights())
    return layers


def images(seed=0, shape=(2, 9, 9, 4)):
    return tf.constant(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def outputs_and_gradients(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y ** 2 * tf.range(y.shape[-1], dtype=tf.float32))
    return [y, *tape.gradient(loss, [x, *layer.trainable_variables])]


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_outputs_and_every_gradient_match_keras_conv2d(padding, kernel_size):
    keras_conv, conv = pair(kernel_size=kernel_size, padding=padding)
    assert conv.uses_forward_gradient()
    x = images()
    expected, found = outputs_and_gradients(keras_conv, x), outputs_and_gradients(conv, x)
    np.testing.assert_array_equal(found[0], expected[0])              # the same forward op
    for a, b in zip(expected[1:], found[1:], strict=True):             # input, kernel, bias
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(np.abs(a).max()))


def test_the_input_gradient_is_a_known_answer():
    # y = sum of a 3x3 same-padded window of a one-channel image, kernel all ones:
    # d(sum y)/dx at a pixel is the number of windows covering it (4 at a corner,
    # 6 on an edge, 9 inside).
    conv = ForwardGradientConv2D(1, 3, padding="same", use_bias=False, kernel_initializer="ones")
    x = tf.zeros((1, 4, 4, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(conv(x))
    expected = np.array([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]], np.float32)
    np.testing.assert_array_equal(tape.gradient(loss, x)[0, :, :, 0], expected)


@pytest.mark.parametrize("kwargs", [{"strides": 2}, {"dilation_rate": 2}, {"kernel_size": 2},
                                    {"kernel_size": (3, 1)}])
def test_other_convolutions_take_keras_own_path(kwargs):
    kwargs = {"kernel_size": 3, "padding": "same", **kwargs}
    keras_conv, conv = pair(**kwargs)
    assert not conv.uses_forward_gradient()
    x = images(2)
    for a, b in zip(outputs_and_gradients(keras_conv, x), outputs_and_gradients(conv, x),
                    strict=True):
        np.testing.assert_array_equal(b, a)


def test_mixed_precision_and_a_jit_compiled_step():
    x = images(3)
    plain = pair()[1]
    reference = outputs_and_gradients(plain, x)
    conv = ForwardGradientConv2D(5, 3, dtype="mixed_bfloat16")
    conv.build(x.shape)
    conv.set_weights(plain.get_weights())
    y = conv(tf.cast(x, tf.bfloat16))
    assert y.dtype == tf.bfloat16 and conv.kernel.dtype == "float32"
    np.testing.assert_allclose(tf.cast(y, tf.float32), reference[0], rtol=0.05, atol=0.1)
    step = tf.function(lambda x: outputs_and_gradients(plain, x), jit_compile=True)
    for a, b in zip(reference, step(x), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))


def test_config_roundtrip_and_a_saved_model_reloads(tmp_path):
    assert_config_roundtrip(ForwardGradientConv2D(4, 3, padding="valid", name="conv"))
    inputs = keras.Input((9, 9, 4))
    model = keras.Model(inputs, ForwardGradientConv2D(5, 3, name="conv")(inputs))
    model.layers[-1].set_weights(pair()[1].get_weights())
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.layers[-1], ForwardGradientConv2D)
    x = images(4)
    np.testing.assert_array_equal(reloaded(x), model(x))
