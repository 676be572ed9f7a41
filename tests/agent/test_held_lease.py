"""A session that holds its lease between turns (as the server's do): fewer writes, the same
guarantees: one writer at a time, fencing, and the lease given back on close."""

from __future__ import annotations

from pathlib import Path

import pytest

from chorus.agent import Agent, Session
from chorus.errors import SessionBusyError
from chorus.store import SQLiteStore
from chorus.testing import ScriptedModel


def agent() -> Agent:
    return Agent(model="m", client=ScriptedModel(lambda r: "ok"), context=False)


async def test_a_held_lease_serves_many_turns_and_keeps_other_writers_out(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    writes: list[str] = []
    original = store._write

    async def counted(fn, *, turn=False):  # type: ignore[no-untyped-def]
        writes.append("turn" if turn else "other")
        return await original(fn, turn=turn)

    store._write = counted  # type: ignore[method-assign]
    held = Session(agent(), "s", store=store, owner="server", hold_lease=True)
    for text in ("one", "two", "three"):
        await held.send(text)
    assert writes == ["other", "turn", "turn", "turn"]  # one acquire, then commits only
    other = Session(agent(), "s", store=store, owner="someone-else")
    with pytest.raises(SessionBusyError):
        await other.send("let me in")
    await held.close()
    result = await other.send("let me in")  # given back: the other writer may go on
    assert result.seq == 8
    again = await held.send("back again")  # and the first reads what changed meanwhile
    assert again.seq == 10 and len(await held.history()) == 10
    await held.close()
    await store.close()


async def test_a_new_sessions_first_turn_reads_its_head_once_and_no_transcript(
    tmp_path: Path,
) -> None:
    """An agent that manages its context reads a session's head before a turn; a new
    session's head says it is empty, so nothing more is read."""
    store = SQLiteStore(tmp_path / "n.db")
    reads: list[object] = []
    original = store.load

    async def counted(session_id, since=0):  # type: ignore[no-untyped-def]
        reads.append(since)
        return await original(session_id, since=since)

    store.load = counted  # type: ignore[method-assign]
    managed = Agent(model="m", client=ScriptedModel(lambda r: "ok"))
    session = Session(managed, "new", store=store, owner="server", hold_lease=True)
    result = await session.send("hello")
    assert result.seq == 2 and len(reads) == 1  # the head: no second read of nothing
    await session.close()
    await store.close()
