"""What a full server does with a new run: the rule (pure) and the server keeping to it."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from chorus.serve.shedding import Shedding, Verdict
from tests.serve.conftest import config, served

TURNS = "/v1/agents/assistant/sessions/{}/turns"
TICK = 0.01


def settled(
    rule: Shedding,
    *,
    full: bool,
    running: int = 40,
    ended: int = 0,
    refused: int = 0,
    admitted: int | None = None,
    again: bool = False,
) -> Shedding:
    """Two seconds of ticks with ``ended``, ``admitted`` (as many as end, unless told)
    and ``refused`` runs in each; ``again``: the refused are retries."""
    for _ in range(200):
        for _ in range(ended):
            rule.ended()
        for _ in range(ended if admitted is None else admitted):
            rule.admitted()
        for _ in range(refused):
            rule.refused(again)
        rule.tick(full, running, TICK)
    return rule


def test_a_server_that_is_not_full_starts_every_run() -> None:
    rule = settled(Shedding(), full=False, ended=1, refused=50)
    assert rule.verdict(running=40, waiting=50) is Verdict.START


def test_full_it_refuses_at_once_while_refusals_are_about_as_many_as_ends() -> None:
    """An open stream at twice capacity: as many refused as served. The refusals keep
    what it admits fast; but with nothing running, one starts."""
    rule = settled(Shedding(), full=True, ended=4, refused=4)
    assert rule.outpaced and not rule.storming
    assert rule.verdict(running=40, waiting=0) is Verdict.REFUSE
    assert rule.verdict(running=39, waiting=0) is Verdict.REFUSE  # (not even a place left)
    assert rule.verdict(running=0, waiting=0) is Verdict.START


def test_full_with_a_closed_loop_of_clients_a_new_run_takes_a_place_or_waits_for_one() -> None:
    """Clients that each send their next turn when their last one ends ask for runs as
    fast as runs end: the server carries them, however busy its core, and refuses none."""
    rule = settled(Shedding(), full=True, running=64, ended=4)
    assert not rule.outpaced and not rule.storming and rule.carried == 64
    assert rule.verdict(running=63, waiting=0) is Verdict.START  # (in the place just left)
    assert rule.verdict(running=64, waiting=0) is Verdict.WAIT  # (a place comes soon)
    assert rule.verdict(running=64, waiting=45) is Verdict.REFUSE  # (past 0.1 s in line)


def test_more_arrivals_than_ends_outpace_the_server_and_a_place_left_is_not_taken() -> None:
    rule = settled(Shedding(), full=True, running=64, ended=4, admitted=4, refused=1)
    assert rule.outpaced and not rule.storming
    assert rule.verdict(running=63, waiting=0) is Verdict.REFUSE


def test_a_refused_client_asking_again_is_no_more_demand() -> None:
    """The same sessions refused and retried at once: refusals grow (a storm's sign),
    what is asked for does not."""
    rule = settled(Shedding(), full=True, running=64, ended=4, refused=10, again=True)
    assert not rule.outpaced and rule.storming


def test_an_asker_refused_and_asking_again_within_the_window_counts_once() -> None:
    rule = Shedding(retry_window=1.0)
    rule.refused_by("t/a/s1")
    rule.refused_by("t/a/s1")  # (at once: a retry)
    rule.admitted_by("t/a/s1")  # (let in at last: already counted)
    assert rule.asked == 1 / rule.pace_horizon
    rule.tick(True, 0, 1.5)  # (past the window: new demand)
    before = rule.asked
    rule.refused_by("t/a/s1")
    rule.refused_by(None)  # (no asker known: always new)
    assert rule.asked == before + 2 / rule.pace_horizon


def test_full_with_clients_retrying_at_once_a_new_run_waits_for_a_place() -> None:
    rule = settled(Shedding(most_wait=0.1), full=True, ended=4, refused=100)  # 400 end a second
    assert rule.storming
    assert rule.verdict(running=40, waiting=0) is Verdict.WAIT
    assert rule.verdict(running=40, waiting=35) is Verdict.WAIT  # 36 ends away: within 0.1 s
    assert rule.verdict(running=40, waiting=45) is Verdict.REFUSE  # past 0.1 s: at once
    assert rule.carried == 40  # what ran when it became full: fewer, and a run starts
    assert rule.verdict(running=39, waiting=0) is Verdict.START
    calmer = settled(rule, full=True, ended=4, refused=0)
    assert calmer.verdict(running=40, waiting=3) is Verdict.WAIT  # (a line is kept in order)


def test_full_with_no_run_ending_it_refuses_rather_than_keep_anyone_waiting() -> None:
    rule = settled(Shedding(), full=True, refused=40)
    assert rule.storming and rule.rate == 0
    assert rule.verdict(running=40, waiting=0) is Verdict.REFUSE
    assert rule.verdict(running=0, waiting=0) is Verdict.START  # (but one always runs)


def test_the_rates_are_running_averages_over_the_horizon() -> None:
    rule = settled(Shedding(horizon=0.25), full=True, ended=2, refused=1)
    assert 190 < rule.rate <= 210 and 95 < rule.refusals <= 105
    for _ in range(100):  # a second with nothing: four horizons
        rule.tick(True, 40, TICK)
    assert rule.rate < 200 * math.exp(-3) and rule.refusals < 100 * math.exp(-3)


def full_now(service: Any) -> None:
    """Stop the server's own measure of being full and make it full now, with what it
    runs now: the test then says what ends and what is refused."""
    assert service._watcher is not None
    service._watcher.cancel()
    service._shedding.tick(True, len(service._running), 0.0)


async def test_a_full_server_keeps_impatient_clients_waiting_for_a_place_not_refused() -> None:
    """Full with one turn running, and clients that retry refusals at once: a new turn
    waits in line for the place of one that ends, and each turn runs once."""
    slow = {"latency": {"ttft": 0.3, "tokens_per_second": 0}}
    async with served(config(limits={"shed_wait": 60.0}), sim=slow) as s:
        holder = asyncio.create_task(s.post(TURNS.format("first"), {"message": "hello"}))
        await asyncio.sleep(0.05)
        full_now(s.service)
        for i in range(30):  # refused at once: the server has no measure of its clients yet
            assert (await s.post(TURNS.format(f"spin{i}"), {"message": "hello"}))[0] == 503
        assert (await holder)[0] == 200  # (one ended: places come free)
        assert s.service._shedding.storming
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
    assert most == 1  # it carried one when it became full: the other two waited their turn
    assert took >= 3 * 0.3  # (one after another)


async def test_a_full_server_refuses_at_once_while_its_clients_do_not_storm() -> None:
    slow = {"latency": {"ttft": 0.3, "tokens_per_second": 0}}
    async with served(config(), sim=slow) as s:
        running = asyncio.create_task(s.post(TURNS.format("holder"), {"message": "hello"}))
        await asyncio.sleep(0.05)
        full_now(s.service)
        s.service._shedding.ended()  # (a run ended a moment ago: no storm of refusals)
        s.service._shedding.asked += 2.0  # (and more were asked for: an open stream)
        began = time.monotonic()
        status, body, headers = await s.post(TURNS.format("late"), {"message": "hello"})
        answered = time.monotonic() - began
        still_running = not running.done()
        assert (await running)[0] == 200
    assert status == 503 and body["error"]["type"] == "overloaded_error"
    assert "capacity" in body["error"]["message"] and int(headers["Retry-After"]) >= 1
    assert still_running and answered < 0.25  # at once, not after the turn ahead of it


async def test_a_run_that_gives_up_waiting_leaves_the_line_and_the_line_moves_on() -> None:
    slow = {"latency": {"ttft": 0.3, "tokens_per_second": 0}}
    async with served(config(limits={"shed_wait": 0.05}), sim=slow) as s:
        holder = asyncio.create_task(s.post(TURNS.format("holder"), {"message": "hello"}))
        await asyncio.sleep(0.05)
        full_now(s.service)
        rule = s.service._shedding
        rule.rate, rule.refusals = 40.0, 10_000.0  # (storming, places freeing fast)
        status, body, _ = await s.post(TURNS.format("gives-up"), {"message": "hello"})
        assert status == 503 and "no place came free" in body["error"]["message"]
        assert len(s.service._line) == 0  # out of the line, not counted as waiting
        assert (await holder)[0] == 200
        rule.refusals = 0.0  # (calm again, and nothing runs: a new turn starts at once)
        assert (await s.post(TURNS.format("next"), {"message": "hello"}))[0] == 200


async def test_a_full_server_refuses_none_of_a_closed_loop_of_clients() -> None:
    """Four clients, each sending its next turn when its last one ends, to a server that
    is full throughout: each turn takes a place one has left, or waits for one. (The wait
    is allowed a second, not the default 0.1 s: on a loaded machine a 50 ms turn can take
    longer than that, and this test is about the rule, not the machine.)"""
    slow = {"latency": {"ttft": 0.05, "tokens_per_second": 0}}
    async with served(config(limits={"shed_wait": 1.0}), sim=slow) as s:
        full_now(s.service)
        rule = s.service._shedding
        rule.asked = rule.done = rule.rate = 100.0  # (a steady loop: as many asked as end)
        rule.carried = 3  # (it became full carrying three of them: the fourth waits its turn)
        statuses: list[int] = []

        async def client(i: int) -> None:
            for k in range(5):
                status, _, _ = await s.post(TURNS.format(f"loop{i}"), {"message": f"hi {k}"})
                statuses.append(status)

        await asyncio.gather(*(client(i) for i in range(4)))
        assert rule.full and not rule.outpaced
    assert statuses == [200] * 20
