"""Fits that survive a crash: an atomic checkpoint at every epoch end, and a
stop with a clear message when the loss becomes NaN.

`EpochCheckpoint` does what `keras.callbacks.BackupAndRestore` does, with
three differences that matter for a run directory:

- a save is atomic: the weights go to a new file, then `state.json` is
  replaced to point at it, then the older file is removed, so a kill at any
  moment leaves a checkpoint that loads (Keras overwrites one file in place);
- the per-epoch history (losses and optimizer steps) lives in the same state
  and is rewritten to the history CSV, so a resumed fit neither repeats nor
  loses a row;
- it never saves weights that are not finite, and with `StopOnNaN` (checked
  before it at every batch) a diverging fit stops while the last checkpoint is
  still the last good epoch.

A fit killed mid-epoch resumes at the start of that epoch from the end of the
previous one: no completed epoch is redone or lost, and the optimizer takes
exactly the steps of an uninterrupted fit.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time

import keras
import numpy as np

STATE_FILE = "state.json"


class TrainingDiverged(FloatingPointError):
    """The loss (or the weights) stopped being finite."""


def write_text_atomically(path: str, text: str) -> None:
    """Writes a text file under a temporary name, flushed to disk, then renames
    it into place: readers see the old file or the new one, never a part."""
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def read_state(directory: str) -> dict | None:
    """The checkpoint state in `directory`, or `None` when there is none."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            state = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not a valid checkpoint state ({err}); delete "
                         f"{directory} to restart this fit from its first epoch") from None
    weights = os.path.join(directory, state["weights"])
    if not os.path.exists(weights):
        raise ValueError(f"{path} points at {weights}, which does not exist; delete "
                         f"{directory} to restart this fit from its first epoch")
    return state


def write_history_csv(path: str, rows: list[dict]) -> None:
    """Writes per-epoch rows (one dict each) to a CSV, atomically."""
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join("" if row.get(c) is None else
                              (str(row[c]) if isinstance(row[c], int) else f"{row[c]:.8g}")
                              for c in columns))
    write_text_atomically(path, "\n".join(lines) + "\n")


def _state_variables(model) -> list:
    """Every variable of a training state: the model's (trainable or not), then
    the optimizer's (step counter, moments), then those of any other optimizer
    the model trains with (`model.extra_optimizers()`, e.g. a discriminator's)."""
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.weights) + (list(optimizer.variables) if optimizer is not None else [])
    extra = model.extra_optimizers() if hasattr(model, "extra_optimizers") else []
    for other, trained in extra:
        if not other.built:
            other.build(trained)
        variables += list(other.variables)
    return variables


def save_training_state(model, path: str) -> None:
    """Saves the model's and its optimizer's variables to an `.npz`, atomically
    (written under a temporary name, flushed, then renamed into place)."""
    values = {f"v{i:05d}": np.asarray(v.numpy()) for i, v in enumerate(_state_variables(model))}
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "wb") as f:
        np.savez(f, **values)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def load_training_state(model, path: str) -> None:
    """Restores `save_training_state`'s file into a model of the same shape.

    Raises:
        ValueError: One line naming the file when it does not match the model.
    """
    variables = _state_variables(model)
    with np.load(path) as data:
        if len(data.files) != len(variables):
            raise ValueError(f"{path} holds {len(data.files)} variables, this fit has "
                             f"{len(variables)}: the checkpoint is from another config; "
                             f"delete {os.path.dirname(path)} to restart this fit")
        for i, variable in enumerate(variables):
            value = data[f"v{i:05d}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(f"{path}: variable {variable.path} has shape "
                                 f"{tuple(value.shape)} in the checkpoint, "
                                 f"{tuple(variable.shape)} in this fit; delete "
                                 f"{os.path.dirname(path)} to restart this fit")
            variable.assign(value)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole training state (model and optimizer) at every epoch end
    and restores it when the same fit starts again.

    Args:
        directory: Where the checkpoint is read from.
        write_directory: Where it is written (default: `directory`). Under a
            multi-worker strategy every worker reads the chief's checkpoint but
            only the chief writes there; the others write to a scratch folder.
        history_csv: Optional CSV rewritten with every completed epoch.
        name: What is being fitted, for log lines.
        log: Function taking one log line.
    """

    def __init__(self, directory: str, write_directory: str | None = None,
                 history_csv: str | None = None, name: str = "fit", log=print):
        super().__init__()
        self.directory = directory
        self.write_directory = write_directory or directory
        self.history_csv = history_csv
        self.name = name
        self.log = log
        self.history: list[dict] = []
        self.resumed_epoch = 0
        self.epoch_start = time.time()

    def on_train_begin(self, logs=None):
        state = read_state(self.directory)
        if state is None:
            return
        load_training_state(self.model, os.path.join(self.directory, state["weights"]))
        self.history = list(state["history"])
        self.resumed_epoch = int(state["epoch"])
        # Keras reads the epoch to start from only from this private attribute.
        self.model._initial_epoch = self.resumed_epoch  # noqa: SLF001 (Keras internals)
        self.log(f"{self.name}: resuming after epoch {self.resumed_epoch} "
                 f"({state['steps']} optimizer steps) from {self.directory}")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        bad = [key for key, value in logs.items() if not math.isfinite(value)]
        if bad or not all(np.isfinite(w).all() for w in self.model.get_weights()):
            what = f"{bad[0]} is {logs[bad[0]]}" if bad else "the weights are not finite"
            raise TrainingDiverged(
                f"{self.name}: {what} at the end of epoch {epoch + 1}; the last good "
                f"checkpoint (epoch {len(self.history)}) is kept in {self.directory}; "
                "lower the learning rate and re-run the same command")
        steps = int(self.model.optimizer.iterations.numpy()) if self.model.optimizer else 0
        self.history.append({"epoch": epoch, **logs, "steps": steps,
                             "seconds": round(time.time() - self.epoch_start, 3)})
        self._save(epoch + 1, steps)
        if self.history_csv:
            write_history_csv(self.history_csv, self.history)

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None  # noqa: SLF001 (Keras internals: see on_train_begin)

    def _save(self, epoch: int, steps: int) -> None:
        os.makedirs(self.write_directory, exist_ok=True)
        name = f"epoch-{epoch:04d}.npz"
        save_training_state(self.model, os.path.join(self.write_directory, name))
        state = {"epoch": epoch, "steps": steps, "weights": name, "history": self.history}
        write_text_atomically(os.path.join(self.write_directory, STATE_FILE),
                          json.dumps(state, indent=1))
        for old in os.listdir(self.write_directory):
            if old.startswith("epoch-") and old.endswith(".npz") and old != name:
                os.remove(os.path.join(self.write_directory, old))


class StopOnNaN(keras.callbacks.Callback):
    """Stops a fit at the end of the first epoch in which a loss was not finite,
    with one line saying where and what to do (`keras.callbacks.TerminateOnNaN`
    only sets `stop_training`, after which the NaN model would be saved as
    finished).

    It has no per-batch hook, so Keras dispatches batch callbacks without
    waiting for each step (no host sync per step). A kerasolr `Trainer` counts
    the non-finite steps in the graph (`nonfinite_steps`); for any other model
    the epoch's mean loss, which a non-finite step makes non-finite, is read.
    Either way the epoch is not checkpointed (`EpochCheckpoint` comes after
    this callback), so the last good checkpoint is the one kept."""

    def __init__(self, name: str = "fit", checkpoint_dir: str | None = None):
        super().__init__()
        self.name = name
        self.checkpoint_dir = checkpoint_dir
        self.counted = 0.0

    def on_train_begin(self, logs=None):
        self.counted = self._count()

    def _count(self) -> float:
        counter = getattr(self.model, "nonfinite_steps", None)
        return float(counter.result()) if counter is not None else 0.0

    def on_epoch_end(self, epoch, logs=None):
        count = self._count() - self.counted
        loss = (logs or {}).get("loss")
        if count > 0:
            what = f"the loss was not finite in {count:g} step(s) of epoch {epoch + 1}"
        elif loss is not None and not math.isfinite(float(loss)):
            what = f"the epoch's mean loss became {float(loss)} at epoch {epoch + 1}"
        else:
            return
        kept = (f"; the last good checkpoint is kept in {self.checkpoint_dir}"
                if self.checkpoint_dir else "")
        raise TrainingDiverged(f"{self.name}: {what}{kept}; lower the learning rate and "
                               "re-run the same command")


def remove_checkpoint(directory: str) -> None:
    """Removes a finished fit's checkpoint folder (its model is saved)."""
    if os.path.isdir(directory):
        shutil.rmtree(directory, ignore_errors=True)
    parent = os.path.dirname(os.path.abspath(directory))
    if os.path.isdir(parent) and not os.listdir(parent):
        os.rmdir(parent)
