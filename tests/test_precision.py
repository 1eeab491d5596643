"""Mixed precision (`config.precision`): 16-bit compute, float32 weights and outputs,
loss scaling under mixed_float16, and a checkpoint that resumes it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr import resume
from kerasolr.config import ClassifierConfig
from kerasolr.training import fit_classifier, precision


def _batches():
    rng = np.random.default_rng(0)
    images = rng.random((32, 16, 16, 3), dtype=np.float32)
    labels = (rng.random((32, 3)) > 0.5).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)


@pytest.mark.parametrize("policy, compute, scaled", [("mixed_float16", "float16", True),
                                                     ("mixed_bfloat16", "bfloat16", False)])
def test_a_fit_under_a_mixed_policy(policy, compute, scaled, tmp_path):
    config = ClassifierConfig(filters=(4, 8), dense_units=8, epochs=2, batch_size=8)
    ckpt = str(tmp_path / "ckpt")
    with precision(policy):
        classifier, history = fit_classifier(
            config, 3, 16, _batches(), None, tf.distribute.get_strategy(),
            callbacks=[resume.EpochCheckpoint(ckpt, log=lambda _: None)], verbose=0)
    assert keras.mixed_precision.global_policy().name == "float32"     # restored
    assert classifier.get_layer("cls_conv0").compute_dtype == compute
    assert classifier.get_layer("cls_conv0").kernel.dtype == "float32"
    assert classifier(np.zeros((1, 16, 16, 3), np.float32)).dtype == "float32"
    assert np.all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0]
    state = resume.read_state(ckpt)
    assert state["epoch"] == 2 and state["steps"] == 8
    # Under mixed_float16 the loss-scaling optimizer's dynamic scale (2**15 at the
    # start, unchanged after 8 finite steps) is part of the checkpoint.
    with np.load(f"{ckpt}/{state['weights']}") as data:
        scalars = [float(data[name]) for name in data.files if data[name].size == 1]
    assert (2.0 ** 15 in scalars) == scaled


def test_precision_is_validated():
    with pytest.raises(ValueError, match="precision='half' is invalid"):
        cfg.override(cfg.tiny(), ["precision=half"])
    assert cfg.override(cfg.tiny(), ["precision=mixed_float16"]).precision == "mixed_float16"
