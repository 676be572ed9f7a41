"""The conformance suite every session store passes (Redis joins it later)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chorus.errors import CorruptTranscriptError, SessionBusyError, StaleWriterError
from chorus.store import MemoryStore, SQLiteStore

TURN = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    clock = Clock()
    s = (
        MemoryStore(clock=clock)
        if request.param == "memory"
        else SQLiteStore(tmp_path / "c.db", clock=clock)
    )
    s.clock = clock  # type: ignore[attr-defined]
    yield s
    await s.close()


async def test_empty_session(store: Any) -> None:
    loaded = await store.load("nobody")
    assert (loaded.seq, loaded.messages) == (0, [])


async def test_commit_and_load(store: Any) -> None:
    lease = await store.acquire("s1", "w1", 60)
    assert await store.commit(lease, 0, TURN) == 4
    await store.release(lease)
    loaded = await store.load("s1")
    assert loaded.seq == 4 and loaded.messages == TURN
    lease = await store.acquire("s1", "w1", 60)
    more = [{"role": "user", "content": "thanks"}, {"role": "assistant", "content": "welcome"}]
    assert await store.commit(lease, 4, more) == 6
    assert (await store.load("s1")).messages == TURN + more
    assert [(i.session_id, i.seq) for i in await store.sessions()] == [("s1", 6)]


async def test_one_writer_at_a_time(store: Any) -> None:
    await store.acquire("s1", "w1", 60)
    with pytest.raises(SessionBusyError) as info:
        await store.acquire("s1", "w2", 60)
    assert info.value.retry_after == pytest.approx(60)
    store.clock.now += 61  # the lease expired: another writer may take over
    assert (await store.acquire("s1", "w2", 60)).owner == "w2"


async def test_stale_writer_can_never_commit(store: Any) -> None:
    old = await store.acquire("s1", "w1", 10)
    store.clock.now += 11
    new = await store.acquire("s1", "w2", 60)
    with pytest.raises(StaleWriterError):
        await store.commit(old, 0, TURN)
    assert await store.commit(new, 0, TURN) == 4
    await store.release(old)  # releasing a stale lease does not free the new holder's
    with pytest.raises(SessionBusyError):
        await store.acquire("s1", "w3", 60)


async def test_sequence_conflict(store: Any) -> None:
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, TURN)
    with pytest.raises(StaleWriterError):
        await store.commit(lease, 0, TURN)  # it read seq 0, but seq is now 4
    assert (await store.load("s1")).seq == 4


async def test_corrupt_transcript_is_refused_on_load(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, TURN[:2])  # a tool_use without its result
    with pytest.raises(CorruptTranscriptError, match="`tool_use` ids were found without"):
        await store.load("s1")
    await store.close()


async def test_delete_and_prune(store: Any) -> None:
    for sid in ("a", "b"):
        lease = await store.acquire(sid, "w", 60)
        await store.commit(lease, 0, TURN)
        await store.release(lease)
    store.clock.now += 100
    lease = await store.acquire("b", "w", 60)
    await store.commit(
        lease, 4, [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    )
    await store.release(lease)
    assert await store.prune(older_than=50) == 1
    assert [i.session_id for i in await store.sessions()] == ["b"]
    assert await store.delete("b") is True
    assert await store.sessions() == []


async def test_sqlite_turn_is_atomic_across_a_failure(tmp_path: Path) -> None:
    class Boom(Exception):
        pass

    def fail(name: str) -> None:
        if name == "before_commit":
            raise Boom(name)

    path = tmp_path / "c.db"
    store = SQLiteStore(path, failpoint=fail)
    lease = await store.acquire("s1", "w1", 60)
    with pytest.raises(Boom):
        await store.commit(lease, 0, TURN)
    await store.close()
    reopened = SQLiteStore(path)
    assert (await reopened.load("s1")).seq == 0
    lease = await reopened.acquire("s1", "w1", 60)
    assert await reopened.commit(lease, 0, TURN) == 4
    await reopened.close()


async def test_sqlite_schema_is_plain(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, TURN)
    await store.close()
    rows = (
        sqlite3.connect(path)
        .execute("SELECT seq, role FROM chorus_messages ORDER BY seq")
        .fetchall()
    )
    assert rows == [(1, "user"), (2, "assistant"), (3, "user"), (4, "assistant")]
