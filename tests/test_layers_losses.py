import keras
import numpy as np
import pytest

from kerasolr.layers import LabelGroupPooling
from kerasolr.losses import PairDotProductLoss, pair_dot_products, pair_mse
from tests.conftest import assert_config_roundtrip


def test_group_pooling_maps_channel_group_l_to_row_l():
    L, k = 3, 2
    # Channel c = l * k + j holds the constant value 10 * l + j.
    values = np.array([10 * row + j for row in range(L) for j in range(k)], np.float32)
    x = np.broadcast_to(values, (2, 4, 4, L * k)).copy()
    out = keras.ops.convert_to_numpy(LabelGroupPooling(L, k)(x))
    assert out.shape == (2, L, k)
    for row in range(L):
        np.testing.assert_allclose(out[:, row], [[10 * row + j for j in range(k)]] * 2)


def test_group_pooling_averages_over_space():
    x = np.zeros((1, 2, 2, 2), np.float32)
    x[0, 0, 0, 1] = 4.0  # one of four positions
    out = keras.ops.convert_to_numpy(LabelGroupPooling(2, 1)(x))
    np.testing.assert_allclose(out, [[[0.0], [1.0]]])


def test_group_pooling_checks_channels_and_shape():
    layer = LabelGroupPooling(4, 8)
    assert layer.compute_output_shape((None, 5, 5, 32)) == (None, 4, 8)
    with pytest.raises(ValueError, match="32"):
        LabelGroupPooling(4, 8)(np.zeros((1, 2, 2, 31), np.float32))
    with pytest.raises(ValueError, match="k=0"):
        LabelGroupPooling(4, 0)


def test_group_pooling_config_roundtrip():
    rebuilt = assert_config_roundtrip(LabelGroupPooling(5, 7, name="embedding"))
    assert (rebuilt.num_labels, rebuilt.k) == (5, 7)


def test_pair_dot_products_known_values():
    e1 = np.array([[[1.0, 0.0], [1.0, 2.0]]])
    e2 = np.array([[[0.0, 1.0], [3.0, 4.0]]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pair_dot_products(e1, e2)),
                               [[0.0, 11.0]])


def test_identical_unit_pairs_give_the_maximal_dot_product():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(4, 3, 5))
    e /= np.linalg.norm(e, axis=-1, keepdims=True)
    other = rng.normal(size=(4, 3, 5))
    other /= np.linalg.norm(other, axis=-1, keepdims=True)
    same = keras.ops.convert_to_numpy(pair_dot_products(e, e))
    np.testing.assert_allclose(same, 1.0, atol=1e-6)
    assert (keras.ops.convert_to_numpy(pair_dot_products(e, other)) <= same + 1e-6).all()


def test_pair_mse_is_zero_when_dot_products_match_targets():
    e = np.array([[[[0.6, 0.8], [0.0, 0.0]], [[0.6, 0.8], [1.0, 0.0]]]], np.float32)  # (1,2,2,2)
    joint = np.array([[1.0, 0.0]], np.float32)
    assert float(keras.ops.convert_to_numpy(pair_mse(joint, e))[0]) == pytest.approx(0.0)
    joint = np.array([[0.0, 1.0]], np.float32)  # errors 1 and 1 -> mean 1
    assert float(keras.ops.convert_to_numpy(pair_mse(joint, e))[0]) == pytest.approx(1.0)
    loss = PairDotProductLoss()
    assert float(loss(joint, e)) == pytest.approx(1.0)
    assert_config_roundtrip(loss)
