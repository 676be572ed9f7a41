"""How much of a thread's time it needs the CPU: on it, or runnable and waiting for it.

The server sheds new turns when its event loop is at capacity. The loop thread's own CPU
time alone undercounts that whenever something else shares its core (the store's thread
making commits durable, another process): the loop is then ready to run but waits, and
every turn waits with it. Linux counts both in ``/proc/thread-self/schedstat`` (nanoseconds
on the CPU, then nanoseconds waiting on a run queue); elsewhere only the CPU time is known.
"""

from __future__ import annotations

import os
import time

__all__ = ["DemandClock"]


class DemandClock:
    """A clock, for the thread that made it only, of the seconds it has spent on the CPU
    or waiting for it; its CPU time alone where the kernel does not say. ``close()`` it."""

    def __init__(self) -> None:
        self._fd: int | None = None
        try:
            self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
            if self() <= 0:  # a kernel without schedstats writes zeros: nothing to go by
                self.close()
        except (OSError, ValueError, IndexError):
            self.close()

    def __call__(self) -> float:
        if self._fd is None:
            return time.thread_time()
        on_cpu, waiting = os.pread(self._fd, 128, 0).split()[:2]
        return (int(on_cpu) + int(waiting)) / 1e9

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
