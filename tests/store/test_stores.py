"""Session stores: the public conformance suite (chorus.testing.check_store) run against every
backend (Redis joins it later), and what is particular to SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chorus.errors import CorruptTranscriptError, SessionError
from chorus.store import MemoryStore, SQLiteStore
from chorus.testing import check_store

TURN = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]},
]

CHAT = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


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
    """A file written by something else (or by hand) is checked whole when it is loaded."""

    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(lease, 0, TURN)
    await store.close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM chorus_messages WHERE seq = 3")  # the tool result goes missing
    db.execute(
        "UPDATE chorus_messages SET seq = 3 WHERE seq = 4"
    )  # keep the sequence whole: only the pairing breaks
    db.execute("UPDATE chorus_sessions SET seq = 3")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    with pytest.raises(CorruptTranscriptError, match="`tool_use` ids were found without"):
        await store.load("s1")
    await store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_turn_that_breaks_pairing_with_the_tail_is_refused(
    tmp_path: Path, kind: str
) -> None:
    """Each commit is checked against the message it extends, not the whole history."""
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "c.db")
    lease = await store.acquire("s1", "w1", 60)
    await store.commit(
        lease,
        0,
        TURN[:3]
        + [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t2", "name": "w", "input": {}}],
            }
        ][:0]
        + TURN[3:],
    )
    asking = [
        {"role": "user", "content": "and tomorrow?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t2", "name": "w", "input": {}}],
        },
    ]
    with pytest.raises(CorruptTranscriptError, match="tool_use"):
        await store.commit(lease, 4, asking)  # a tool call left without its result
    answered = [
        *asking,
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "rain"}],
        },
    ]
    with pytest.raises(CorruptTranscriptError):
        await store.commit(lease, 4, answered)  # a result for a call nobody made
    assert (await store.load("s1")).seq == 4  # nothing of either landed
    fine = [
        *asking,
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "rain"}],
        },
        {"role": "assistant", "content": "Rain."},
    ]
    assert await store.commit(lease, 4, fine) == 8
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


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_turn_after_tool_results_is_accepted(tmp_path: Path, kind: str) -> None:
    """A transcript may end with tool results (an output_type run ends so): the next turn
    follows them."""
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "c.db")
    lease = await store.acquire("s1", "w1", 60)
    assert await store.commit(lease, 0, TURN[:3]) == 3  # ends with the tool result
    more = [{"role": "user", "content": "and tomorrow?"}, {"role": "assistant", "content": "Rain."}]
    assert await store.commit(lease, 3, more) == 5
    assert (await store.load("s1")).seq == 5
    await store.close()


async def test_sqlite_indexes_the_words_of_turns_committed_before_it_kept_them(
    tmp_path: Path,
) -> None:
    # A database written before the store kept each turn's words: the first search indexes
    # the backlog once (a turn at each prompt) and finds old turns like any other.
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    lease = await store.acquire("s1", "w1", 60)
    seq = 0
    for i in range(10):
        seq = await store.commit(
            lease,
            seq,
            [
                {"role": "user", "content": "the vault code is 4417" if i == 2 else f"note {i}"},
                {"role": "assistant", "content": "noted"},
            ],
        )
    await store.close()
    db = sqlite3.connect(path)
    db.execute("DELETE FROM chorus_terms")
    db.execute("DELETE FROM chorus_words")
    db.execute("UPDATE chorus_sessions SET indexed = 0")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    found = await store.search("s1", {"vault"}, 20, 3)
    assert [start for start, _ in found] == [4]
    assert found[0][1][0]["content"] == "the vault code is 4417"
    lease = await store.acquire("s1", "w1", 60)
    seq = await store.commit(lease, seq, [{"role": "user", "content": "vault again"}])
    assert [s for s, _ in await store.search("s1", {"vault"}, 21, 3)] == [4, 20]
    await store.close()


async def test_sqlite_commits_wait_for_another_process_off_the_loop(tmp_path: Path) -> None:
    """Another connection holds the file's write lock: the commit waits for it in a worker
    thread (the event loop keeps running meanwhile), and lands once the lock is free."""
    import asyncio
    import time

    path = tmp_path / "c.db"
    store = SQLiteStore(path)
    lease = await store.acquire("s1", "w1", 60)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    commit = asyncio.create_task(store.commit(lease, 0, TURN))
    started = time.monotonic()
    for _ in range(20):  # the loop is free while the commit waits
        await asyncio.sleep(0.01)
    assert time.monotonic() - started < 2 and not commit.done()
    other.execute("ROLLBACK")
    other.close()
    assert await asyncio.wait_for(commit, 10) == 4
    assert (await store.load("s1")).seq == 4
    await store.close()


async def test_sqlite_commits_and_reads_at_once_never_wedge(tmp_path: Path) -> None:
    """Many reads and group commits at once, all through worker threads that share the one
    connection: every call ends, and every commit lands."""
    import asyncio

    store = SQLiteStore(tmp_path / "c.db")
    leases = [await store.acquire(f"s{i}", "w1", 60) for i in range(40)]

    async def one(i: int) -> int:
        seq = 0
        for _ in range(3):
            reads = [asyncio.ensure_future(store.load(f"s{j % 40}")) for j in range(i, i + 20)]
            seq = await store.commit(leases[i], seq, CHAT)
            await asyncio.gather(*reads)
        return seq

    seqs = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(40))), 30)
    assert seqs == [6] * 40
    assert [(await store.load(f"s{i}")).seq for i in range(40)] == [6] * 40
    await store.close()


class _Counted(SQLiteStore):
    """A SQLite store that records the size of each transaction it makes."""

    batches: list[int]

    def _commit_batch(self, writes: list[Any], turns: bool) -> list[tuple[bool, Any]]:
        self.__dict__.setdefault("batches", []).append(len(writes))
        return super()._commit_batch(writes, turns)


def _mark(value: int) -> Any:
    def write(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS marks (v INTEGER)")
        db.execute("INSERT INTO marks VALUES (?)", (value,))

    return write


async def test_a_lazy_write_waits_for_the_next_transaction_and_keeps_its_order(
    tmp_path: Path,
) -> None:
    """A lazy write makes no transaction of its own: it rides with the next write that may
    not wait, ahead of it, and both are durable when that write returns."""
    store = _Counted(tmp_path / "l.db", lazy_window=10.0)
    lazy = store.queue_write(_mark(1), lazy=True)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not lazy.done() and store.__dict__.get("batches") is None
    await store.write(_mark(2))
    assert lazy.done() and lazy.exception() is None
    assert store.batches == [2]
    rows = await store.read(lambda db: db.execute("SELECT v FROM marks").fetchall())
    assert rows == [(1,), (2,)]
    await store.close()


async def test_a_lazy_write_alone_is_made_durable_by_close(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db", lazy_window=10.0)
    lazy = store.queue_write(_mark(7), lazy=True)
    await asyncio.wait_for(store.close(), 10)  # not after lazy_window: close flushes it
    assert lazy.done()
    db = sqlite3.connect(tmp_path / "c.db")
    assert db.execute("SELECT v FROM marks").fetchall() == [(7,)]
    db.close()


async def test_a_write_after_close_is_a_session_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "x.db")
    await store.write(_mark(1))
    await store.close()
    with pytest.raises(SessionError, match="closed"):
        store.queue_write(_mark(2), lazy=True)
    with pytest.raises(SessionError, match="closed"):
        await store.write(_mark(3))


async def test_writes_waiting_when_the_flusher_is_cancelled_fail_instead_of_hanging(
    tmp_path: Path,
) -> None:
    """At a loop's teardown the flusher is cancelled: the writes it held end in a
    SessionError (not yet durable), and none of their callers waits forever."""
    store = SQLiteStore(tmp_path / "t.db", lazy_window=10.0)
    lazy = store.queue_write(_mark(1), lazy=True)
    for _ in range(5):
        await asyncio.sleep(0)
    assert store._flusher is not None
    store._flusher.cancel()
    with pytest.raises(SessionError, match="closed"):
        await asyncio.wait_for(lazy, 5)
    await asyncio.wait_for(store.close(), 10)  # (and the store still closes cleanly)


async def test_a_flusher_cancelled_before_it_began_leaves_its_writes_to_close(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "b.db", lazy_window=10.0)
    lazy = store.queue_write(_mark(5), lazy=True)
    assert store._flusher is not None
    store._flusher.cancel()  # (before its first step: it never saw the write)
    await asyncio.sleep(0)
    await asyncio.wait_for(store.close(), 10)
    assert lazy.done() and lazy.exception() is None
    db = sqlite3.connect(tmp_path / "b.db")
    assert db.execute("SELECT v FROM marks").fetchall() == [(5,)]
    db.close()


async def test_a_flusher_cancelled_mid_commit_tells_each_write_what_became_of_it(
    tmp_path: Path,
) -> None:
    """The transaction on the store's thread is not stopped by a cancel: the writes it
    committed are reported durable (not failed), then the flusher ends cancelled."""
    import threading

    gate = threading.Event()

    class Slow(SQLiteStore):
        def _commit_batch(self, writes: Any, turns: bool) -> Any:
            gate.wait(10)
            return super()._commit_batch(writes, turns)

    store = Slow(tmp_path / "m.db")
    write = asyncio.ensure_future(store.write(_mark(9)))
    for _ in range(20):
        await asyncio.sleep(0)
    flusher = store._flusher
    assert flusher is not None and not flusher.done()
    flusher.cancel()
    await asyncio.sleep(0.05)
    gate.set()
    assert await asyncio.wait_for(write, 10) is None  # durable, and told so
    await asyncio.wait({flusher})
    assert flusher.cancelled()
    await asyncio.wait_for(store.close(), 10)
    db = sqlite3.connect(tmp_path / "m.db")
    assert db.execute("SELECT v FROM marks").fetchall() == [(9,)]
    db.close()


async def test_a_lazy_write_alone_is_made_durable_within_its_window(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "w.db", lazy_window=0.01)
    await asyncio.wait_for(store.queue_write(_mark(3), lazy=True), 10)
    await store.close()


async def test_writes_within_the_group_window_share_a_transaction(tmp_path: Path) -> None:
    """A transaction starts at most every group_window: writes made since the last one
    began wait and go together."""
    store = _Counted(tmp_path / "g.db", group_window=1.0)
    await store.write(_mark(1))  # nothing before it: its transaction starts at once
    second = asyncio.ensure_future(store.write(_mark(2)))
    await asyncio.sleep(0.05)
    third = asyncio.ensure_future(store.write(_mark(3)))
    await asyncio.gather(second, third)
    assert store.batches == [1, 2]
    await store.close()


async def test_sqlite_prune_goes_in_short_transactions_and_takes_every_old_session(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    store = SQLiteStore(tmp_path / "p.db", clock=lambda: now[0])
    for i in range(7):
        lease = await store.acquire(f"s{i}", "w", ttl=1)
        await store.commit(lease, 0, CHAT)
        await store.release(lease)
    now[0] += 100
    lease = await store.acquire("fresh", "w", ttl=1)
    await store.commit(lease, 0, CHAT)
    await store.release(lease)
    writes = 0
    original = store._write

    async def counted(fn, *, turn=False):  # type: ignore[no-untyped-def]
        nonlocal writes
        writes += 1
        return await original(fn, turn=turn)

    store._write = counted  # type: ignore[method-assign]
    assert await store.prune(older_than=50, batch=3) == 7
    assert writes == 4  # 3 + 3 + 1, then one that found none
    assert [s.session_id for s in await store.sessions()] == ["fresh"]
    await store.close()


async def test_each_committed_transaction_is_told_and_a_failing_listener_is_not_the_commits(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "o.db", group_window=1.0)
    told: list[tuple[float, int]] = []
    store.on_commit = lambda seconds, writes: told.append((seconds, writes))
    await store.write(_mark(1))
    await asyncio.gather(store.write(_mark(2)), store.write(_mark(3)))  # (one transaction)
    assert [w for _, w in told] == [1, 2] and all(s > 0 for s, _ in told)

    def broken(seconds: float, writes: int) -> None:
        raise RuntimeError("a listener's bug")

    store.on_commit = broken
    await store.write(_mark(4))  # durable, and said so, whatever the listener does
    await store.close()
