"""Session stores: the public conformance suite (chorus.testing.check_store) run against every
backend (Redis joins it later), and what is particular to SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from chorus.errors import CorruptTranscriptError
from chorus.store import MemoryStore, SQLiteStore
from chorus.testing import check_store

TURN = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
]


async def test_memory_store_conforms() -> None:
    await check_store(lambda clock: MemoryStore(clock=clock))


async def test_sqlite_store_conforms(tmp_path: Path) -> None:
    paths = iter(range(100))
    await check_store(lambda clock: SQLiteStore(tmp_path / f"c{next(paths)}.db", clock=clock))


async def test_the_suite_catches_a_store_that_breaks_a_rule() -> None:
    class Careless(MemoryStore):
        """Ignores the seq the writer read: a lost update waiting to happen."""

        async def commit(self, lease, expected_seq, messages, context=None):  # type: ignore[no-untyped-def]
            current = (await self.load(lease.session_id)).seq
            return await super().commit(lease, current, messages, context)

    with pytest.raises(AssertionError, match="_sequence_conflict"):
        await check_store(lambda clock: Careless(clock=clock))


async def test_corrupt_transcript_is_refused_on_load(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, TURN[:2])  # a tool_use without its result
    with pytest.raises(CorruptTranscriptError, match="`tool_use` ids were found without"):
        await store.load("s1")
    await store.close()


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
