"""What a full server does with a new run: the rule (pure) and the server keeping to it."""

from __future__ import annotations

import asyncio
import math
import time

from chorus.serve.shedding import Shedding, Verdict
from tests.serve.conftest import config, served

TURNS = "/v1/agents/assistant/sessions/{}/turns"
TICK = 0.01


def settled(rule: Shedding, *, full: bool, running: int, ended_per_tick: int = 0) -> Shedding:
    for _ in range(200):  # two seconds of ticks
        for _ in range(ended_per_tick):
            rule.ended()
        rule.tick(full, running, TICK)
    return rule


def test_a_server_that_is_not_full_starts_every_run() -> None:
    rule = settled(Shedding(), full=False, running=3)
    assert rule.places(10_000) == math.inf
    assert rule.verdict(running=10_000, waiting=50) is Verdict.START


def test_full_it_carries_what_it_carried_and_a_run_that_ends_frees_a_place() -> None:
    rule = settled(Shedding(), full=False, running=40)
    rule = settled(rule, full=True, running=40, ended_per_tick=4)  # 400 runs end a second
    assert rule.carried == 40  # held while full, whatever the load does
    assert rule.verdict(running=39, waiting=0) is Verdict.START
    assert rule.verdict(running=40, waiting=0) is Verdict.WAIT  # a place comes free soon
    assert rule.verdict(running=39, waiting=3) is Verdict.WAIT  # (in order: behind the line)
    assert rule.verdict(running=40, waiting=350) is Verdict.WAIT  # 351 ahead: within 1 s
    assert rule.verdict(running=40, waiting=450) is Verdict.REFUSE  # past 1 s: at once


def test_full_with_no_run_ending_it_refuses_rather_than_keep_anyone_waiting() -> None:
    rule = settled(Shedding(), full=True, running=5)
    assert rule.rate == 0 and rule.verdict(running=5, waiting=0) is Verdict.REFUSE


def test_what_it_carries_follows_a_rise_at_once_and_a_fall_slowly() -> None:
    rule = settled(Shedding(memory=0.7), full=False, running=100)
    rule.tick(False, 10, TICK)
    assert 98 < rule.carried < 100  # a lull between bursts is not the server's measure
    for _ in range(100):  # a second later
        rule.tick(False, 10, TICK)
    assert 10 <= rule.carried < 100 * math.exp(-1 / 0.7) + 1
    rule.tick(False, 300, TICK)
    assert rule.carried == 300


def test_full_from_the_start_it_still_runs_one_at_a_time() -> None:
    rule = settled(Shedding(), full=True, running=0, ended_per_tick=1)
    assert rule.places(0) == 1 and rule.verdict(running=0, waiting=0) is Verdict.START
    assert rule.places(1) == 0


def test_the_rate_of_ending_runs_is_a_running_average_over_the_horizon() -> None:
    rule = settled(Shedding(horizon=0.25), full=True, running=1, ended_per_tick=2)
    assert 190 < rule.rate <= 210
    for _ in range(100):  # a second with no run ending: four horizons
        rule.tick(True, 1, TICK)
    assert rule.rate < 200 * math.exp(-3)


async def test_a_full_server_keeps_impatient_clients_waiting_for_a_place_not_refused() -> None:
    """Full from its first tick: it carries one turn at a time. Clients that would retry
    at once on a refusal wait in line instead, and each turn runs once."""
    full = config(limits={"shed_busy": 1e-9, "shed_wait": 60.0})
    async with served(full, sim={"latency": {"ttft": 0.3, "tokens_per_second": 0}}) as s:
        await asyncio.sleep(0.05)
        status, _, _ = await s.post(TURNS.format("first"), {"message": "hello"})
        assert status == 200  # (one turn ended: the server knows how fast places free)
        most = 0

        async def watch() -> None:
            nonlocal most
            while True:
                most = max(most, len(s.service._running))
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        began = time.monotonic()
        results = await asyncio.gather(
            *(s.post(TURNS.format(f"w{i}"), {"message": "hello"}) for i in range(3))
        )
        took = time.monotonic() - began
        watcher.cancel()
    assert [r[0] for r in results] == [200, 200, 200]
    assert most == 1  # one place: the other two waited their turn
    assert took >= 3 * 0.3  # (one after another)


async def test_a_full_server_refuses_at_once_what_would_wait_too_long() -> None:
    full = config(limits={"shed_busy": 1e-9, "shed_wait": 0.05})
    async with served(full, sim={"latency": {"ttft": 0.3, "tokens_per_second": 0}}) as s:
        await asyncio.sleep(0.05)
        assert (await s.post(TURNS.format("first"), {"message": "hello"}))[0] == 200
        running = asyncio.create_task(s.post(TURNS.format("holder"), {"message": "hello"}))
        await asyncio.sleep(0.05)
        began = time.monotonic()
        status, body, headers = await s.post(TURNS.format("late"), {"message": "hello"})
        answered = time.monotonic() - began
        still_running = not running.done()
        assert (await running)[0] == 200
    assert status == 503 and body["error"]["type"] == "overloaded_error"
    assert "capacity" in body["error"]["message"] and int(headers["Retry-After"]) >= 1
    assert still_running and answered < 0.25  # at once, not after the turn ahead of it
