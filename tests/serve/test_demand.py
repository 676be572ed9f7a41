"""The loop thread's demand clock: CPU time, plus time waiting for the CPU where known."""

from __future__ import annotations

import threading
import time

from chorus.serve.demand import DemandClock


def test_the_demand_clock_counts_work_and_not_sleep() -> None:
    clock = DemandClock()
    start, cpu = clock(), time.thread_time()
    while time.thread_time() < cpu + 0.05:  # 50 ms of this thread's own CPU time
        pass
    worked = clock() - start
    assert worked >= time.thread_time() - cpu - 0.002  # (its CPU time, at the least)
    before = clock()
    time.sleep(0.05)
    assert clock() - before < 0.02
    clock.close()
    clock.close()  # (twice is harmless)


def test_the_demand_clock_is_the_calling_threads() -> None:
    clock = DemandClock()
    start = clock()
    other = threading.Thread(target=lambda: sum(range(3_000_000)))
    other.start()
    other.join()  # (this thread waited, asleep, while the other worked)
    assert clock() - start < 0.02
    clock.close()
