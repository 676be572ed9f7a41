"""The loop thread's demand clock: CPU time, plus time waiting for the CPU where known."""

from __future__ import annotations

import threading
import time

from chorus.serve.demand import DemandClock


def test_the_demand_clock_counts_work_and_not_sleep() -> None:
    clock = DemandClock()
    start = clock()
    until = time.perf_counter() + 0.05
    while time.perf_counter() < until:
        pass
    worked = clock() - start
    assert worked >= 0.04
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
