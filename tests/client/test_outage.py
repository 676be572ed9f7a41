"""A total outage (fault 2 of reference/reliability.md §3, at its worst), on virtual time.

Every request gets 529 for 60 s while calls keep arriving at 50 a second. The
whole client runs (drivers, call state machine, gates, retry budget) against an
in-memory API on a virtual-time loop, so minutes of traffic take a second and
every run is the same. What must hold, with the default settings:

* the budget bounds amplification: attempts sent during the outage per call
  started then stay within ``1 + retry_budget_ratio`` (with breaker and throttle
  off too: the budget alone holds the line);
* every call ends by its deadline, with a clear error if it fails;
* traffic is back to normal within 2 s of the outage ending;
* the calls held through it return spread out (a tenth of the outage), not all in one
  instant, and calls that start after it run as they did before it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from chorus import APIError, Claude

from .virtual_time import LoopClock, ScriptedAPI, VirtualTimeLoop

START, END = 10.0, 70.0
RATE, SECONDS = 20, 100


def outage(now: float) -> tuple[int, dict[str, str]] | None:
    return (529, {}) if START <= now < END else None


def run(**options: Any) -> tuple[list[tuple[float, float, str]], ScriptedAPI, Claude]:
    """Open-loop arrivals at RATE per second for SECONDS; (start, end, outcome) per call."""
    api = ScriptedAPI(outage)
    loop = VirtualTimeLoop()
    calls: list[tuple[float, float, str]] = []

    async def main() -> Claude:
        claude = Claude(
            api_key="k",
            base_url="http://api.invalid",
            transport=api,
            clock=LoopClock(),
            observers=[],
            **options,
        )

        async def one(i: int) -> None:
            started = loop.time()
            try:
                async with claude.messages.stream(
                    model="claude-sonnet-4-5",
                    max_tokens=16,
                    messages=[{"role": "user", "content": f"call {i}"}],
                ) as s:
                    text = await s.get_final_text()
                outcome = "ok" if text == f"call {i}" else "wrong"
            except APIError as exc:
                outcome = type(exc).__name__
            calls.append((started, loop.time(), outcome))

        tasks = []
        for i in range(RATE * SECONDS):
            await asyncio.sleep(max(0.0, i / RATE - loop.time()))
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        return claude

    try:
        claude = loop.run_until_complete(main())
    finally:
        loop.close()
    return calls, api, claude


def amplification(calls: list[tuple[float, float, str]], api: ScriptedAPI) -> float:
    started = sum(1 for s, _, _ in calls if START <= s < END)
    sent = sum(1 for t, _ in api.sent if START <= t < END)
    return sent / started


def test_defaults_ride_out_the_outage_within_budget_and_recover_at_once() -> None:
    calls, api, claude = run()
    ratio = claude.settings.retry_budget_ratio
    assert amplification(calls, api) <= 1 + ratio
    timeout = claude.settings.timeout
    assert all(end - start <= timeout + 0.5 for start, end, _ in calls)
    # Calls waited for the model (within their deadline) rather than failing.
    assert Counter(o for _, _, o in calls) == {"ok": RATE * SECONDS}
    first_ok = min(t for t, status in api.sent if t >= END and status == 200)
    assert first_ok - END <= 1.0
    # Back to normal: calls that start 2 s after the outage run as before it.
    normal = max(e - s for s, e, _ in calls if s < START)
    assert all(e - s <= normal + 0.05 for s, e, _ in calls if s >= END + 2)


def test_calls_fail_clearly_by_their_deadline() -> None:
    calls, api, claude = run(timeout=20.0)
    late = [(s, e) for s, e, _ in calls if e - s > 20.0 + 0.01]
    assert not late
    outcomes = Counter(o for s, _, o in calls if START + 1 <= s < END - 20)
    assert set(outcomes) <= {"OverloadedError", "ShedError", "DeadlineExceededError"}
    assert outcomes
    assert amplification(calls, api) <= 1 + claude.settings.retry_budget_ratio
    assert all(o == "ok" for s, _, o in calls if s >= END + 2 or s < START - 1)


@pytest.mark.parametrize("ratio", [0.1, 0.5])
def test_the_budget_alone_bounds_amplification(ratio: float) -> None:
    """No breaker, no throttle: retries still add at most ``ratio`` (plus the reserve)."""
    calls, api, claude = run(breaker=False, adaptive_throttle=False, retry_budget_ratio=ratio)
    started = sum(1 for s, _, _ in calls if START <= s < END)
    reserve = claude.settings.retry_budget_max / started
    assert amplification(calls, api) <= 1 + ratio + reserve
    assert all(o == "ok" for s, _, o in calls if s >= END + 2)


def test_held_calls_return_spread_out_and_new_ones_go_at_once() -> None:
    calls, api, _ = run()
    held = [(s, e) for s, e, o in calls if START + 1 <= s < END and o == "ok"]
    ends = sorted(e for _, e in held)
    spread = (END - START) / 10
    # Evenly over the spread (a held call ends a reply after it is sent): no instant herd.
    assert ends[-1] - ends[0] >= 0.8 * spread
    assert ends[-1] <= END + 1.0 + spread + 0.5
    first_half = sum(1 for e in ends if e < ends[0] + spread / 2)
    assert 0.35 * len(ends) <= first_half <= 0.65 * len(ends)
    # Calls that start once the breaker has closed neither queue behind the held ones nor
    # meet a throttle that remembers the probes' failures: they run as before the outage.
    normal = max(e - s for s, e, _ in calls if s < START)
    closed_at = min(t for t, status in api.sent if t >= END and status == 200)
    assert all(e - s <= normal + 0.05 for s, e, _ in calls if s >= closed_at + 0.01)
