"""Keeps TensorFlow's C++ log lines out of the command line's output.

`import tensorflow` and its runtime print lines such as `I0000 ... oneDNN custom
operations are on`, `Could not find cuda drivers` or `E0000 ... failed call to
cuInit` straight to file descriptor 2, below Python, and TensorFlow 2.21 no
longer drops them for `TF_CPP_MIN_LOG_LEVEL`. Users read the `E` lines as
crashes. `quiet()` routes descriptor 2 through a pipe whose reader drops those
lines (informational and warning lines, and the harmless "no GPU" errors) and
passes everything else, Python's own messages and tracebacks included, on to
the real stderr. `KERASOLR_NATIVE_LOGS=1` keeps every line.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

# A C++ log line: level letter, MMDD, time, thread id, file:line].
_CPP_LINE = r"[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\] "
_DROPPED = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    # libjpeg's own line before a decode error that kerasolr reports itself.
    r"|Improper call to JPEG library in state \d+"
    rf"|[IW]\d{{4}} .*:\d+\] "
    rf"|{_CPP_LINE}.*(cuInit|cuda|CUDA|GPU))")


def dropped(line: str) -> bool:
    """Whether `quiet` drops this line of stderr."""
    return bool(_DROPPED.match(line))


def quiet() -> bool:
    """Filters descriptor 2 for the rest of the process (see the module
    docstring); returns whether the filter is on."""
    if os.environ.get("KERASOLR_NATIVE_LOGS") or getattr(quiet, "on", False):
        return False
    # TensorFlow Datasets' Python warnings (absl), e.g. on a data dir it has
    # not prepared, come before kerasolr's own one-line error.
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        sys.stderr.flush()
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return False
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb") as source, os.fdopen(terminal, "wb", buffering=0) as sink:
            for line in source:
                if not dropped(line.decode("utf-8", "replace")):
                    sink.write(line)

    thread = threading.Thread(target=pump, name="kerasolr-native-logs", daemon=True)
    thread.start()
    restored = os.dup(terminal)

    def finish():
        # Point descriptor 2 back at the real stderr: the pipe's last write end
        # closes, the reader drains what is left and stops.
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(restored, 2)
        thread.join(timeout=10)

    atexit.register(finish)
    quiet.on = True
    return True
