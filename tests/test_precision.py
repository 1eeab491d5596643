"""Mixed precision (`config.precision`): 16-bit compute, float32 weights and outputs,
loss scaling under mixed_float16, and a checkpoint that resumes it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr import config as cfg
from kerasolr import resume
from kerasolr.config import ClassifierConfig
from kerasolr.training import compile_options, execution, fit_classifier


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
    with execution(cfg.RunConfig(precision=policy)):
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


def test_several_steps_per_execution_train_the_same_weights():
    # One host read of the logs per 4 steps instead of per step; the same
    # steps in the same order (occlusion draws keyed by the step counter).
    config = ClassifierConfig(filters=(4, 8), dense_units=8, epochs=2, batch_size=8,
                              occlusion_rate=0.5)
    weights = {}
    for steps in (1, 4):
        keras.utils.set_random_seed(5)
        with execution(cfg.RunConfig(steps_per_execution=steps)):
            assert compile_options()["steps_per_execution"] == steps
            classifier, history = fit_classifier(config, 3, 16, _batches(), None,
                                                 tf.distribute.get_strategy(), verbose=0)
        weights[steps] = classifier.get_weights()
    assert compile_options() == {}                       # restored outside
    for a, b in zip(weights[1], weights[4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(weights[1][0], 0)


def test_execution_options_are_validated():
    with pytest.raises(ValueError, match="steps_per_execution=0 is invalid"):
        cfg.override(cfg.tiny(), ["steps_per_execution=0"])
    with pytest.raises(ValueError, match="jit_compile='yes' is invalid"):
        cfg.override(cfg.tiny(), ["jit_compile=yes"])
    config = cfg.override(cfg.tiny(), ["steps_per_execution=8", "jit_compile=false"])
    assert (config.steps_per_execution, config.jit_compile) == (8, False)
    assert cfg.RunConfig.from_dict(config.to_dict()) == config
