"""How much of a thread's time it needs the CPU: on it, or runnable and waiting for it.

The server sheds new turns when its event loop is at capacity. The loop thread's own CPU
time alone undercounts that whenever something else shares its core (the store's thread
making commits durable, another process): the loop is then ready to run but waits, and
every turn waits with it. Linux counts both in ``/proc/thread-self/schedstat`` (nanoseconds
on the CPU, then nanoseconds waiting on a run queue); elsewhere only the CPU time is known.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

__all__ = ["demand_clock"]


def demand_clock() -> Callable[[], float]:
    """A clock, for the calling thread only, of the seconds it has spent on the CPU or
    waiting for it; its CPU time alone where the kernel does not say."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        _read(fd)
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(NameError, OSError):
            os.close(fd)
        return time.thread_time
    return lambda: _read(fd)


def _read(fd: int) -> float:
    on_cpu, waiting = os.pread(fd, 128, 0).split()[:2]
    return (int(on_cpu) + int(waiting)) / 1e9
