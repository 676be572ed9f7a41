"""The server's record of every turn: its number, status, idempotency key, result and events.

A turn is entered as ``running`` before it runs, with the session's length then
(``seq_before``); it is finished with its status (``done``, ``paused``, ``failed``,
``cancelled``), its JSON result and the events it streamed, so a client can read them
again by id after the turn ended, or after a restart. The session's commit is what makes
a turn durable; the journal only says what happened to it. After a crash,
:meth:`Journal.recover` settles every turn still marked running: if the session grew past
its ``seq_before``, the turn committed (``done``; its result is rebuilt from the committed
messages), else it is ``interrupted``: never half-committed, and never run again.

Kept beside the sessions in the SQLite store (its group commit carries both), or in memory
when the sessions are. ``start`` and ``finish`` queue their write at once and return an
awaitable that resolves when it is durable; in SQLite they are lazy writes, which ride
with the next transaction (at the latest after the store's ``lazy_window``) instead of
making one each: a turn's start is durable before its commit, and a finish lost to a crash
is rebuilt by recovery from the committed session. A start that tells a client the turn's
number before its commit (a streamed turn names it in its first bytes) is written
``soon``: in the next transaction, as the commit would be, so a turn a client heard of
is in the journal after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

__all__ = ["Journal", "MemoryJournal", "SQLiteJournal", "TurnRow", "finishing", "wait_durable"]

_log = logging.getLogger("chorus.serve")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chorus_turns (
    session TEXT NOT NULL,
    turn INTEGER NOT NULL,
    status TEXT NOT NULL,
    idempotency_key TEXT,
    seq_before INTEGER NOT NULL,
    created REAL NOT NULL,
    finished REAL,
    result BLOB,
    events BLOB,
    PRIMARY KEY (session, turn)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS chorus_turns_key
    ON chorus_turns (session, idempotency_key) WHERE idempotency_key IS NOT NULL;
"""
_COLUMNS = "turn, status, idempotency_key, seq_before, created, finished, result, events"


@dataclass(slots=True)
class TurnRow:
    session: str
    turn: int
    status: str
    idempotency_key: str | None
    seq_before: int
    created: float
    finished: float | None = None
    result: Any = None  # the turn's JSON result
    events: list[Any] | None = None  # [id, kind, data] as streamed


class Journal(Protocol):
    def start(self, row: TurnRow, *, soon: bool = False) -> Awaitable[None]: ...

    def finish(self, row: TurnRow, *, soon: bool = False) -> Awaitable[None]: ...

    async def get(self, session: str, turn: int) -> TurnRow | None: ...

    async def by_key(self, session: str, key: str) -> TurnRow | None: ...

    async def last_turn(self, session: str) -> int: ...

    async def running(self) -> list[TurnRow]: ...

    async def forget(self, session: str) -> None: ...

    async def prune(self, ended_before: float) -> int:
        """Forget the finished turns that ended before ``ended_before`` (the clock their
        rows were stamped with); how many."""
        ...


class MemoryJournal:
    """Turns in memory, the most recent ``capacity`` sessions' worth."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._sessions: OrderedDict[str, dict[int, TurnRow]] = OrderedDict()

    def _of(self, session: str) -> dict[int, TurnRow]:
        turns = self._sessions.pop(session, None) or {}
        self._sessions[session] = turns
        while len(self._sessions) > self.capacity:
            self._sessions.popitem(last=False)
        return turns

    def start(self, row: TurnRow, *, soon: bool = False) -> Awaitable[None]:
        self._of(row.session)[row.turn] = row
        return _done()

    def finish(self, row: TurnRow, *, soon: bool = False) -> Awaitable[None]:
        self._of(row.session)[row.turn] = row
        return _done()

    async def get(self, session: str, turn: int) -> TurnRow | None:
        return self._sessions.get(session, {}).get(turn)

    async def by_key(self, session: str, key: str) -> TurnRow | None:
        for row in self._sessions.get(session, {}).values():
            if row.idempotency_key == key:
                return row
        return None

    async def last_turn(self, session: str) -> int:
        return max(self._sessions.get(session, {}), default=0)

    async def running(self) -> list[TurnRow]:
        return [r for t in self._sessions.values() for r in t.values() if r.status == "running"]

    async def forget(self, session: str) -> None:
        self._sessions.pop(session, None)

    async def prune(self, ended_before: float) -> int:
        gone = 0
        for session, turns in list(self._sessions.items()):
            for number, row in list(turns.items()):
                if row.status != "running" and (row.finished or row.created) < ended_before:
                    del turns[number]
                    gone += 1
            if not turns:
                del self._sessions[session]
        return gone


class SQLiteJournal:
    """Turns in the SQLite store's file, written in its group commits."""

    def __init__(self, store: Any) -> None:
        self.store = store  # a chorus.store.SQLiteStore

    async def open(self, *, prunable: bool = False) -> None:
        await self.store.read(lambda db: db.executescript(_SCHEMA) and None)  # (its own commit)
        if prunable:  # (built once, before the server takes requests)
            index = "CREATE INDEX IF NOT EXISTS chorus_turns_finished ON chorus_turns(finished)"
            await self.store.read(lambda db: db.execute(index) and None)

    def start(self, row: TurnRow, *, soon: bool = False) -> Awaitable[None]:
        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO chorus_turns (session, turn, status, idempotency_key, seq_before, "
                "created) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row.session,
                    row.turn,
                    row.status,
                    row.idempotency_key,
                    row.seq_before,
                    row.created,
                ),
            )

        return self.store.queue_write(write, lazy=not soon)  # type: ignore[no-any-return]

    def finish(self, row: TurnRow, *, soon: bool = False) -> Awaitable[None]:
        result = msgspec.json.encode(row.result)
        events = msgspec.json.encode(row.events) if row.events is not None else None

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE chorus_turns SET status = ?, finished = ?, result = ?, events = ? "
                "WHERE session = ? AND turn = ?",
                (row.status, row.finished or time.time(), result, events, row.session, row.turn),
            )

        return self.store.queue_write(write, lazy=not soon)  # type: ignore[no-any-return]

    async def get(self, session: str, turn: int) -> TurnRow | None:
        def read(db: sqlite3.Connection) -> Any:
            return db.execute(
                f"SELECT {_COLUMNS} FROM chorus_turns WHERE session = ? AND turn = ?",
                (session, turn),
            ).fetchone()

        return _row(session, await self.store.read(read))

    async def by_key(self, session: str, key: str) -> TurnRow | None:
        def read(db: sqlite3.Connection) -> Any:
            return db.execute(
                f"SELECT {_COLUMNS} FROM chorus_turns WHERE session = ? AND idempotency_key = ?",
                (session, key),
            ).fetchone()

        return _row(session, await self.store.read(read))

    async def last_turn(self, session: str) -> int:
        def read(db: sqlite3.Connection) -> Any:
            return db.execute(
                "SELECT MAX(turn) FROM chorus_turns WHERE session = ?", (session,)
            ).fetchone()

        found = await self.store.read(read)
        return int(found[0] or 0) if found else 0

    async def prune(self, ended_before: float, batch: int = 2000) -> int:
        """In transactions of at most ``batch`` rows, so the commits of turns meanwhile
        wait for one short transaction at most (by the index of end times that
        :meth:`open` makes when asked to: a server that never prunes never pays for it)."""

        def drop(db: sqlite3.Connection) -> int:
            return db.execute(
                "DELETE FROM chorus_turns WHERE (session, turn) IN (SELECT session, turn "
                "FROM chorus_turns WHERE finished < ? AND status != 'running' LIMIT ?)",
                (ended_before, batch),
            ).rowcount

        return await self.store.drain(drop)  # type: ignore[no-any-return]

    async def running(self) -> list[TurnRow]:
        def read(db: sqlite3.Connection) -> Any:
            return db.execute(
                f"SELECT session, {_COLUMNS} FROM chorus_turns WHERE status = 'running'"
            ).fetchall()

        rows = await self.store.read(read)
        return [r for r in (_row(row[0], row[1:]) for row in rows) if r is not None]

    async def forget(self, session: str) -> None:
        await self.store.write(
            lambda db: db.execute("DELETE FROM chorus_turns WHERE session = ?", (session,)) and None
        )


def _row(session: str, found: Any) -> TurnRow | None:
    if found is None:
        return None
    turn, status, key, seq_before, created, finished, result, events = found
    return TurnRow(
        session,
        int(turn),
        status,
        key,
        int(seq_before),
        float(created),
        finished,
        msgspec.json.decode(result) if result is not None else None,
        msgspec.json.decode(events) if events is not None else None,
    )


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def finishing(journal: Journal, row: TurnRow, what: str, *, soon: bool) -> Awaitable[None]:
    """Queue ``row``'s closing entry; if it cannot be queued (the store is closed, the row
    would not encode), log that and stand in an entry already over: the turn is answered
    either way, and the log says it went without the guarantee."""
    try:
        return journal.finish(row, soon=soon)
    except Exception as exc:
        _log.error("%s: journal entry not written: %s", what, exc)
        return _done()


async def wait_durable(write: Awaitable[None], what: str, most: float = 10.0) -> None:
    """Wait for ``write`` to be durable, ``most`` seconds at most; a failure or a stalled
    store is logged (the answer then goes without the guarantee, and the log says so)."""
    future = asyncio.ensure_future(write)
    done, _ = await asyncio.wait({future}, timeout=most)
    if not done:
        _log.error("%s: journal entry not durable after %g s", what, most)
    elif future.cancelled():
        _log.error("%s: journal entry not written: its write was cancelled", what)
    elif (failure := future.exception()) is not None:
        _log.error("%s: journal entry not written: %s", what, failure)
