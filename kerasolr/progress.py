"""Progress people can read: every long fit and pass says, in lines that name
its stage, how far it is and about how long is left.

`FitProgress` is the Keras callback of every kerasolr fit (`fit_callbacks`
adds it): a line naming the model at each epoch's start, a line inside the
epoch every `every` seconds when the output is not a terminal (where Keras
prints nothing until the epoch ends; on a terminal its own bar shows the
epoch's ETA), and a line at each epoch's end with the stage's time left.
It never reads the step's logs, so it adds no host-device synchronisation.
`Progress` does the same for a loop over images or batches (embedding, the
edit protocol).
"""

from __future__ import annotations

import sys
import time

import keras

from kerasolr.rundir import log

EVERY = 30.0     # seconds between progress lines inside a long epoch or pass


def duration(seconds: float) -> str:
    """`"42 s"`, `"3 min 05 s"`, `"1 h 02 min"`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def on_terminal() -> bool:
    return sys.stdout.isatty()


class FitProgress(keras.callbacks.Callback):
    """Stage-named progress lines of one `fit` (see the module docstring).

    Args:
        what: The stage's name in every line (`"classifier"`, `"encoder"`, ...).
        every: Seconds between lines inside an epoch (off on a terminal).
        inside_epoch: Whether to print lines inside an epoch (default: when
            the output is not a terminal).
        clock: The time source (tests pass a fake one).
    """

    # Reads no logs and keeps its own state, so Keras may run its batch hook on
    # a worker thread, and the step loop never waits for it.
    async_safe = True

    def __init__(self, what: str, every: float = EVERY, inside_epoch: bool | None = None,
                 clock=time.monotonic):
        super().__init__()
        self.what = what
        self.every = every
        self.inside_epoch = (not on_terminal()) if inside_epoch is None else inside_epoch
        self.clock = clock
        self.epoch_seconds: list[float] = []
        self.steps: int | None = None

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs") or 0
        self.steps = self.params.get("steps")
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.step = 0
        self.epoch_start = self.last = self.clock()
        log(f"{self.what}: epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the index of the last step run (several per call under
        # `steps_per_execution`); the logs are not read.
        self.step = batch + 1
        now = self.clock()
        if not self.inside_epoch or now - self.last < self.every:
            return
        self.last = now
        elapsed = now - self.epoch_start
        line = f"{self.what}: epoch {self.epoch + 1}/{self.epochs}, step {self.step}"
        if self.steps:
            left = elapsed / self.step * (self.steps - self.step)
            line += (f"/{self.steps} ({self.step / self.steps:.0%}), {duration(elapsed)}, "
                     f"about {duration(left)} left in this epoch")
        else:
            line += f", {duration(elapsed)} ({self.step / max(elapsed, 1e-9):.1f} steps/s)"
        log(line)

    def on_epoch_end(self, epoch, logs=None):
        seconds = self.clock() - self.epoch_start
        self.epoch_seconds.append(seconds)
        if not self.steps:
            self.steps = self.step          # known from the first epoch on
        remaining = self.epochs - (epoch + 1)
        line = f"{self.what}: epoch {epoch + 1}/{self.epochs} took {duration(seconds)}"
        if remaining > 0:
            mean = sum(self.epoch_seconds) / len(self.epoch_seconds)
            line += (f"; about {duration(mean * remaining)} left for {remaining} more "
                     f"epoch{'s' if remaining > 1 else ''} (fewer if it stops early)")
        log(line)


class Progress:
    """Progress lines of a loop over `total` items: call `update(n)` after
    each chunk; a line every `every` seconds with the count, the share done
    and the time left, and `done()` one last line.

    Args:
        what: The stage's name.
        total: Items expected (None: counted without a share or ETA).
        unit: What an item is (`"images"`).
        every: Seconds between lines.
        clock: The time source.
    """

    def __init__(self, what: str, total: int | None = None, unit: str = "images",
                 every: float = EVERY, clock=time.monotonic):
        self.what, self.total, self.unit, self.every, self.clock = what, total, unit, every, clock
        self.count = 0
        self.start = self.last = clock()

    def line(self) -> str:
        elapsed = self.clock() - self.start
        if self.total:
            left = elapsed / max(self.count, 1) * (self.total - self.count)
            return (f"{self.what}: {self.count:,}/{self.total:,} {self.unit} "
                    f"({self.count / self.total:.0%}), {duration(elapsed)}, "
                    f"about {duration(left)} left")
        return f"{self.what}: {self.count:,} {self.unit}, {duration(elapsed)}"

    def update(self, n: int) -> None:
        self.count += n
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            log(self.line())

    def done(self) -> None:
        elapsed = self.clock() - self.start
        if elapsed >= self.every:        # short passes stay quiet
            log(f"{self.what}: {self.count:,} {self.unit} in {duration(elapsed)}")
