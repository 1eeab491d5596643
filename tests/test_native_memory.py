"""The command line caps glibc's malloc arenas (`kerasolr.native_memory`), so its peak
memory does not depend on how many threads allocated: counted in a real process by
glibc's own `malloc_stats`."""

import subprocess
import sys

import pytest

from kerasolr import native_memory

THREADS = 6
PROGRAM = f"""
import ctypes, os, sys, threading
from kerasolr import native_memory
print("cap", native_memory.limit_arenas(os.environ), file=sys.stderr)
libc = ctypes.CDLL(None)
barrier = threading.Barrier({THREADS})

def work():
    barrier.wait()              # every thread allocating at the same time
    for _ in range(200):
        libc.malloc(4000)
    barrier.wait()

threads = [threading.Thread(target=work) for _ in range({THREADS})]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc.malloc_stats()             # one "Arena N:" block per arena, on stderr
"""


def _arenas(env_extra):
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_ARENA_MAX", "KERASOLR_MALLOC_ARENAS")}
    env.update(env_extra)
    err = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                         text=True, check=True).stderr
    cap = int(err.split("cap ")[1].split()[0])
    return cap, sum(line.startswith("Arena ") for line in err.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_threads_share_two_arenas_unless_turned_off():
    assert _arenas({}) == (2, 2)
    cap, arenas = _arenas({"KERASOLR_MALLOC_ARENAS": "0"})
    assert cap == 0 and arenas > 2                   # one per thread without the cap
    assert _arenas({"KERASOLR_MALLOC_ARENAS": "3"}) == (3, 3)
    cap, arenas = _arenas({"MALLOC_ARENA_MAX": "4"})  # glibc's own setting wins
    assert cap == 0 and arenas <= 4


def test_a_bad_setting_is_one_line():
    with pytest.raises(ValueError, match=r"KERASOLR_MALLOC_ARENAS='two' is invalid"):
        native_memory.limit_arenas({"KERASOLR_MALLOC_ARENAS": "two"})
