"""Progress lines: named by stage, with known counts and times from a fake clock."""

import keras
import numpy as np

from kerasolr.progress import FitProgress, Progress, duration


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("[kerasolr]")]


def test_duration():
    assert duration(0.4) == "0 s" and duration(42) == "42 s"
    assert duration(185) == "3 min 05 s" and duration(3720) == "1 h 02 min"


def _first_epoch(what, every, epochs, steps, ran, seconds_per_step):
    """A `FitProgress` on a fake clock through a first epoch of `ran` steps
    (`steps`: what Keras says the epoch has, None when unsized)."""
    clock = Clock()
    progress = FitProgress(what, every=every, inside_epoch=True, clock=clock)
    progress.params = {"epochs": epochs, "steps": steps}
    progress.on_train_begin()
    progress.on_epoch_begin(0)
    for step in range(ran):
        clock.now += seconds_per_step
        progress.on_train_batch_end(step)
    progress.on_epoch_end(0)
    return progress, clock


def test_fit_progress_lines_inside_and_after_epochs(capsys):
    progress, clock = _first_epoch("classifier", 30, epochs=3, steps=10, ran=10,
                                   seconds_per_step=10)
    assert lines(capsys) == [
        "[kerasolr] classifier: epoch 1/3",
        "[kerasolr] classifier: epoch 1/3, step 3/10 (30%), 30 s, about 1 min 10 s left in this "
        "epoch",
        "[kerasolr] classifier: epoch 1/3, step 6/10 (60%), 1 min 00 s, about 40 s left in this "
        "epoch",
        "[kerasolr] classifier: epoch 1/3, step 9/10 (90%), 1 min 30 s, about 10 s left in this "
        "epoch",
        "[kerasolr] classifier: epoch 1/3 took 1 min 40 s; about 3 min 20 s left for 2 more "
        "epochs (fewer if it stops early)",
    ]
    progress.on_epoch_begin(1)
    clock.now += 60
    progress.on_epoch_end(1)
    assert lines(capsys)[-1] == ("[kerasolr] classifier: epoch 2/3 took 1 min 00 s; about "
                                 "1 min 20 s left for 1 more epoch (fewer if it stops early)")


def test_fit_progress_learns_the_steps_of_an_unsized_dataset(capsys):
    progress, clock = _first_epoch("encoder", 5, epochs=2, steps=None, ran=4,
                                   seconds_per_step=5)
    assert lines(capsys)[1] == "[kerasolr] encoder: epoch 1/2, step 1, 5 s (0.2 steps/s)"
    progress.on_epoch_begin(1)
    clock.now += 5
    progress.on_train_batch_end(0)
    assert lines(capsys)[-1] == ("[kerasolr] encoder: epoch 2/2, step 1/4 (25%), 5 s, about 15 s "
                                 "left in this epoch")


def test_fit_progress_on_a_real_fit_names_its_stage_each_epoch(capsys):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((8, 3), np.float32)
    model.fit(x, x[:, :1], batch_size=4, epochs=2, verbose=0,
              callbacks=[FitProgress("judge", every=0.0, inside_epoch=True)])
    found = lines(capsys)
    assert found[0] == "[kerasolr] judge: epoch 1/2"
    assert found[1].startswith("[kerasolr] judge: epoch 1/2, step 1/2 (50%)")
    assert found[3].startswith("[kerasolr] judge: epoch 1/2 took")
    assert found[-1].startswith("[kerasolr] judge: epoch 2/2 took") and "left" not in found[-1]


def test_progress_of_a_loop(capsys):
    clock = Clock()
    progress = Progress("embed: test", 1000, every=30, clock=clock)
    for _ in range(4):
        clock.now += 20
        progress.update(250)
    progress.done()
    assert lines(capsys) == [
        "[kerasolr] embed: test: 500/1,000 images (50%), 40 s, about 40 s left",
        "[kerasolr] embed: test: 1,000/1,000 images (100%), 1 min 20 s, about 0 s left",
        "[kerasolr] embed: test: 1,000 images in 1 min 20 s",
    ]
    quick = Progress("embed: train", None, clock=clock)
    quick.update(5)
    quick.done()
    assert lines(capsys) == []                   # a short pass stays quiet
