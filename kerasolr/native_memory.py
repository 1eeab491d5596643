"""Caps the C allocator's arenas for the command line, so that a long run's
peak memory does not depend on how many threads happened to allocate.

glibc's `malloc` gives each thread that contends for the heap an arena of its
own, up to 8 per core, and an arena's freed memory is rarely returned to the
system. `tf.data`'s and TensorFlow's thread pools allocate from many threads,
so the same `kerasolr embed` peaked anywhere between 1,052 and 1,207 MB at a
fixed size (`benchmarks/memory.py`, 3 runs), which alone can move a run's
growth from 20k to 200k images past 10%. Two arenas (the value of glibc's
`MALLOC_ARENA_MAX=2`, set here with `mallopt` before TensorFlow starts its
threads) keep it flat; what it costs in speed is in `BENCHMARKS.md`.
`KERASOLR_MALLOC_ARENAS=0` leaves the allocator as it is; another number sets
the cap.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_ARENA_MAX = -8           # glibc's mallopt parameter
DEFAULT_ARENAS = 2


def limit_arenas(environ) -> int:
    """Caps glibc's malloc arenas (see the module docstring); `environ` is the
    process environment the command line passes.

    Returns:
        The cap set, or 0 where none was (turned off, not glibc, or refused).
    """
    raw = environ.get("KERASOLR_MALLOC_ARENAS", str(DEFAULT_ARENAS))
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"KERASOLR_MALLOC_ARENAS={raw!r} is invalid: expected an integer "
                         "(0 leaves the allocator as it is)") from None
    if count <= 0 or "MALLOC_ARENA_MAX" in environ:      # the user's own setting wins
        return 0
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return 0
    # Only glibc has gnu_get_libc_version (and this mallopt parameter).
    if not (hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt")):
        return 0
    return count if libc.mallopt(M_ARENA_MAX, count) == 1 else 0
