"""Resumable fits: the epoch checkpoint, the NaN stop and atomic saves, in one process."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasolr import resume
from kerasolr.models.trainer import Trainer

STEPS = 4          # batches per epoch
EPOCHS = 4


def _data(poison_from: int | None = None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * 8, 5)).astype(np.float32)
    y = (x @ rng.normal(size=(5, 1))).astype(np.float32)
    if poison_from is not None:
        y[poison_from * 8:] = np.nan
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


class _Interrupt(keras.callbacks.Callback):
    """Raises in the middle of one epoch, like a crash."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt("simulated crash")


def _callbacks(directory, extra=()):
    csv = os.path.join(directory, "history.csv")
    return [resume.StopOnNaN("test", directory),
            resume.EpochCheckpoint(os.path.join(directory, "ckpt"), history_csv=csv,
                                   name="test", log=lambda _: None), *extra]


def _history(directory):
    with open(os.path.join(directory, "history.csv")) as f:
        header, *rows = [line.split(",") for line in f.read().split()]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_a_fit_interrupted_mid_epoch_ends_exactly_like_an_uninterrupted_one(tmp_path):
    straight = _model()
    straight.fit(_data(), epochs=EPOCHS, verbose=0, callbacks=_callbacks(str(tmp_path / "a")))

    crashed = _model()
    with pytest.raises(KeyboardInterrupt):
        crashed.fit(_data(), epochs=EPOCHS, verbose=0,
                    callbacks=_callbacks(str(tmp_path / "b"), [_Interrupt(2, 1)]))
    assert int(crashed.optimizer.iterations) == 2 * STEPS + 2     # two steps of epoch 3 ran
    state = resume.read_state(str(tmp_path / "b" / "ckpt"))
    assert state["epoch"] == 2 and state["steps"] == 2 * STEPS

    restarted = _model()                     # a new process: fresh weights and optimizer
    history = restarted.fit(_data(), epochs=EPOCHS, verbose=0,
                            callbacks=_callbacks(str(tmp_path / "b")))
    assert len(history.history["loss"]) == EPOCHS - 2          # only the missing epochs ran
    assert int(restarted.optimizer.iterations) == EPOCHS * STEPS
    assert int(straight.optimizer.iterations) == EPOCHS * STEPS
    # Same data order and the saved optimizer moments: the same weights.
    for a, b in zip(straight.get_weights(), restarted.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    rows = _history(str(tmp_path / "b"))
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))      # none redone or lost
    assert [int(r["steps"]) for r in rows] == [STEPS * (e + 1) for e in range(EPOCHS)]
    reference = _history(str(tmp_path / "a"))
    for ours, theirs in zip(rows, reference, strict=True):
        assert float(ours["loss"]) == pytest.approx(float(theirs["loss"]), rel=1e-5)


def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    directory = str(tmp_path)
    model = _model()
    model.fit(_data(), epochs=2, verbose=0, callbacks=_callbacks(directory))
    good = [w.copy() for w in model.get_weights()]
    with pytest.raises(resume.TrainingDiverged) as caught:
        model.fit(_data(poison_from=2), epochs=4, verbose=0, callbacks=_callbacks(directory))
    message = str(caught.value)
    assert "\n" not in message
    assert "mean loss became nan at epoch 3" in message and directory in message
    state = resume.read_state(os.path.join(directory, "ckpt"))
    assert state["epoch"] == 2
    fresh = _model()
    resume.load_training_state(fresh, os.path.join(directory, "ckpt", state["weights"]))
    for a, b in zip(good, fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(fresh.optimizer.iterations) == 2 * STEPS


def test_a_kill_during_a_save_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    directory = str(tmp_path)
    model = _model()
    model.fit(_data(), epochs=1, verbose=0, callbacks=_callbacks(directory))

    def dies_halfway(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")         # what a kill mid-write leaves
        raise KeyboardInterrupt("killed during the save")

    monkeypatch.setattr(resume.np, "savez", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        model.fit(_data(), epochs=2, verbose=0, callbacks=_callbacks(directory))
    monkeypatch.undo()
    state = resume.read_state(os.path.join(directory, "ckpt"))
    assert state["epoch"] == 1
    resumed = _model()
    history = resumed.fit(_data(), epochs=2, verbose=0, callbacks=_callbacks(directory))
    assert len(history.history["loss"]) == 1
    assert int(resumed.optimizer.iterations) == 2 * STEPS


def test_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    directory = str(tmp_path)
    _model().fit(_data(), epochs=1, verbose=0, callbacks=_callbacks(directory))
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    other.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="from another config; delete"):
        other.fit(_data(), epochs=2, verbose=0, callbacks=_callbacks(directory))


def test_a_corrupt_state_file_is_a_clear_error(tmp_path):
    (tmp_path / resume.STATE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not a valid checkpoint state"):
        resume.read_state(str(tmp_path))
    (tmp_path / resume.STATE_FILE).write_text(json.dumps({"weights": "gone.npz"}))
    with pytest.raises(ValueError, match="does not exist"):
        resume.read_state(str(tmp_path))


class _Regressor(Trainer):
    """The smallest kerasolr `Trainer`: MSE through `minimize`."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def call(self, x, training=False):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        loss, = self.minimize(lambda: (keras.ops.mean((self.dense(x) - y) ** 2),),
                              self.dense.trainable_variables)
        self.loss_tracker.update_state(loss)
        return self.results()


def test_a_trainer_counts_the_nonfinite_steps_in_the_graph_and_stops_at_the_epoch_end(tmp_path):
    keras.utils.set_random_seed(3)
    model = _Regressor()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.fit(_data(), epochs=1, verbose=0)
    assert float(model.nonfinite_steps.result()) == 0.0
    # Batches 3 and 4 of each epoch have NaN targets: two bad steps in the first epoch.
    with pytest.raises(resume.TrainingDiverged) as caught:
        model.fit(_data(poison_from=2), epochs=3, verbose=0,
                  callbacks=[resume.StopOnNaN("regressor", str(tmp_path))])
    assert "not finite in 2 step(s) of epoch 1" in str(caught.value)
    assert float(model.nonfinite_steps.result()) == 2.0
    assert int(model.optimizer.iterations) == 2 * STEPS        # stopped after that epoch


def test_no_callback_of_a_fit_reads_a_steps_logs(tmp_path):
    # Keras's TensorFlow backend still reads each call's logs (one sync per
    # `steps_per_execution` steps); kerasolr's callbacks add no per-step read:
    # only the progress lines hook the batches, and they read no logs.
    from kerasolr.rundir import RunDir
    from kerasolr.training import fit_callbacks

    run = RunDir(str(tmp_path))
    callbacks = fit_callbacks(run, run, "classifier")
    hooked = [c for c in callbacks
              if not keras.src.utils.python_utils.is_default(c.on_train_batch_end)
              or not keras.src.utils.python_utils.is_default(c.on_batch_end)]
    assert [type(c).__name__ for c in hooked] == ["FitProgress"]
    assert hooked[0].async_safe
