"""A turn's events for readers who come and go, and what an ended turn keeps."""

from __future__ import annotations

import asyncio
import gc

from chorus.serve.turns import EVENT_SPAN, LiveTurn


async def test_a_reader_that_comes_after_the_end_reads_every_event_and_waits_for_nothing() -> None:
    turn = LiveTurn("default/writer/s1", 3)
    reader_before = asyncio.ensure_future(_read(turn))
    await asyncio.sleep(0)
    turn.add("text", {"text": "hel"})
    turn.add("text", {"text": "lo"})
    turn.end("done", {"turn": 3, "output": "hello"})
    assert [e[1] for e in await reader_before] == ["text", "text"]
    assert not turn.running
    await asyncio.wait_for(turn.wait(), 0.1)  # (an ended turn is waited on at once)
    later = await _read(turn, after=3 * EVENT_SPAN + 1)
    assert [(i - 3 * EVENT_SPAN, d) for i, _, d in later] == [(2, {"text": "lo"})]


async def test_an_ended_turn_lets_go_of_its_task_and_its_signals() -> None:
    """A server keeps thousands of ended turns for readers who come back: each should hold
    its events and result, not its finished task or its own Events."""

    async def run(turn: LiveTurn) -> None:
        turn.add("done", {"turn": 1, "output": "hi"})
        turn.end("done", {"turn": 1, "output": "hi"})

    turns = [LiveTurn(f"default/writer/s{i}", 1) for i in range(200)]
    for turn in turns:
        turn.task = asyncio.create_task(run(turn))
    await asyncio.gather(*(t.task for t in turns if t.task is not None))
    assert all(t.task is None and t.entered is None for t in turns)
    held = [r for t in turns for r in gc.get_referents(vars(t))]
    assert not any(isinstance(r, asyncio.Task | asyncio.Future) for r in held)
    assert len({id(r) for r in held if isinstance(r, asyncio.Event)}) == 1  # (one for all)


async def _read(turn: LiveTurn, after: int = 0) -> list[tuple[int, str, dict[str, object]]]:
    return [event async for event in turn.follow(after)]
