"""Sessions in a SQLite file, the embedded default: WAL, ``synchronous=FULL``, a transaction a turn.

The schema is plain and documented, so ``sqlite3 chorus.db`` shows a user
their data::

    chorus_sessions(id TEXT PRIMARY KEY, seq INTEGER, lease_owner TEXT,
                    lease_token INTEGER, lease_expires REAL, pending_seq INTEGER,
                    pending BLOB (a turn paused for approval), created REAL, updated REAL)
    chorus_messages(session_id TEXT, seq INTEGER, role TEXT, content TEXT (JSON),
                    created REAL, PRIMARY KEY (session_id, seq))

``seq`` counts messages from 1; ``chorus_sessions.seq`` is the last one. A
commit is a compare-and-set on (seq, lease_token) and the inserts, inside one
transaction: a crash at any point leaves either the whole turn or nothing.
Writes are group-committed: those that arrive while a transaction is being made
durable go together into the next one (each in its own savepoint, so one that
fails is undone alone), and many sessions' turns share one fsync. A durable commit
costs this machine's kernel about 0.1 ms of CPU whatever it carries, so two rules
keep their number down under load without delaying a quiet store:

* a transaction starts at most every ``group_window`` (5 ms): one that would start
  sooner waits for the writes of that window to join it (the attribute is read as each
  transaction starts, on the event loop's thread, so its owner may change it as the load
  does: ``chorus serve`` does, by :mod:`chorus.serve.pacing`);
* a write marked ``lazy`` (a record the server can rebuild after a crash, such as its
  turn journal) starts no transaction of its own: it goes with the next one, or
  after ``lazy_window`` (10 ms) at the latest. Writes still commit in the order they
  were made, so a lazy write is durable no later than any write made after it.

Every call runs on one thread of the store's own, so the event loop never waits on
fsync, and the store's statements never queue behind other work sent to threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from chorus.context.evicted import rarest_newest
from chorus.errors import (
    ConfigError,
    CorruptTranscriptError,
    SessionBusyError,
    SessionError,
    StaleWriterError,
)
from chorus.store.base import Lease, SessionInfo, Transcript
from chorus.store.checks import check_turn, checked
from chorus.store.postings import turn_words, turns_of

__all__ = ["SQLiteStore"]

T = TypeVar("T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS chorus_sessions (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_token INTEGER NOT NULL DEFAULT 0,
    lease_expires REAL NOT NULL DEFAULT 0,
    pending_seq INTEGER,
    pending BLOB,
    context BLOB,
    epoch TEXT,
    indexed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chorus_messages (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chorus_terms (
    session_id TEXT NOT NULL,
    word TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    PRIMARY KEY (session_id, word, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chorus_words (
    session_id TEXT NOT NULL,
    word TEXT NOT NULL,
    turns INTEGER NOT NULL,
    PRIMARY KEY (session_id, word)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chorus_context (
    session_id TEXT PRIMARY KEY,
    context BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chorus_sessions_updated ON chorus_sessions(updated);
"""
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class SQLiteStore:
    """A store in one SQLite file (WAL, durable commits): the embedded default for real work."""

    def __init__(
        self,
        path: str | Path = "chorus.db",
        *,
        clock: Callable[[], float] = time.time,
        failpoint: Callable[[str], None] | None = None,
        group_window: float = 0.005,
        lazy_window: float = 0.01,
    ) -> None:
        if not (0 <= group_window <= 1 and 0 <= lazy_window <= 10):
            raise ConfigError(
                f"SQLiteStore: group_window is 0-1 s and lazy_window 0-10 s, not "
                f"{group_window} and {lazy_window}"
            )
        self.path = str(path)
        self._clock = clock
        self._failpoint = failpoint or (lambda name: None)
        # Told each committed transaction's seconds (its fsync included) and writes, from
        # the store's thread: what a server's metrics show of the disk (a stalled sync
        # holds back every turn that commits meanwhile). Its errors are not the commit's.
        self.on_commit: Callable[[float, int], None] | None = None
        self.group_window, self.lazy_window = group_window, lazy_window
        self._lock = threading.Lock()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="chorus-sqlite")
        # (write, its caller's future, whether it commits a turn: the failpoints watch those)
        self._queued: list[tuple[Callable[[], Any], asyncio.Future[Any], bool]] = []
        self._urgent = False  # a queued write that may not wait for company
        self._wake: asyncio.Future[None] | None = None  # the flusher waiting out lazy_window
        self._began = -math.inf  # when (loop time) the last transaction started
        self._closed = False
        self._flusher: asyncio.Task[None] | None = None
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # Checkpoints (copying the log into the database file, with its fsync) run on
            # a thread of their own, not inside a commit: a commit never waits for one.
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(chorus_sessions)")}
            for column, kind in (
                ("context", "BLOB"),
                ("epoch", "TEXT"),
                ("indexed", "INTEGER NOT NULL DEFAULT 0"),
            ):
                if column in columns:
                    continue  # else: a store written before the column existed
                try:
                    self._db.execute(f"ALTER TABLE chorus_sessions ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):  # another process got there first
                        raise
            # The context state has its own table: a session's row is rewritten by every
            # lease and commit, and must not carry the summaries of a long conversation
            # with it each time. Older stores kept it in the row; move it once.
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO chorus_context (session_id, context) "
                "SELECT id, context FROM chorus_sessions WHERE context IS NOT NULL"
            )
            self._db.execute("UPDATE chorus_sessions SET context = NULL WHERE context IS NOT NULL")
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open SQLite store {self.path}: {exc}") from None
        self._stopping = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoints, name=f"chorus-checkpoint {self.path}", daemon=True
        )
        self._checkpointer.start()

    def _checkpoints(self, every: float = 0.5) -> None:
        """Copy the write-ahead log into the database now and then (PASSIVE: never in a
        writer's way), from a connection of its own."""
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while not self._stopping.wait(every):
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with contextlib.suppress(sqlite3.Error):
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()

    async def _run(self, fn: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                try:
                    return fn()
                except sqlite3.Error as exc:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise SessionError(f"SQLite store {self.path}: {exc}") from exc

        try:
            running = asyncio.get_running_loop().run_in_executor(self._thread, locked)
        except RuntimeError:  # (its thread is shut down)
            raise self._closed_error() from None
        return await running

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` for reading, off the event loop (for components that keep
        their own tables beside the sessions, such as the server's turn journal)."""
        return await self._run(lambda: fn(self._db))

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` as a write in the next group commit: it is durable when
        this returns, and undone alone (a savepoint) if it raises."""
        return await self._write(lambda: fn(self._db))

    def queue_write(
        self, fn: Callable[[sqlite3.Connection], T], *, lazy: bool = False
    ) -> asyncio.Future[T]:
        """Queue ``fn(connection)`` as a write now, from synchronous code; the future is
        resolved once it is durable. ``lazy`` (see the module's docstring): for records
        that can be rebuilt after a crash, it may wait up to ``lazy_window`` for company."""
        return self._enqueue(lambda: fn(self._db), turn=False, lazy=lazy)

    async def _write(self, fn: Callable[[], T], *, turn: bool = False) -> T:
        # (not shielded: a cancelled caller only stops waiting; its write stays queued)
        return await self._enqueue(fn, turn=turn, lazy=False)

    def _enqueue(self, fn: Callable[[], T], *, turn: bool, lazy: bool) -> asyncio.Future[T]:
        """Group commit: writes that arrive while one transaction is being made durable
        wait and go together into the next, so many sessions' turns share one fsync. Each
        write runs in its own savepoint: one that raises is undone alone, the rest commit."""
        if self._closed and (self._flusher is None or self._flusher.done()):
            raise self._closed_error()  # (else: it drains)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append((fn, future, turn))
        if not lazy or self._closed:  # (a store closing waits for no company)
            self._hurry()
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return future

    def _closed_error(self) -> SessionError:
        return SessionError(f"SQLite store {self.path} is closed")

    def _hurry(self) -> None:
        """A write that may not wait is queued: the next transaction waits for no lazy
        company (only for the group window)."""
        self._urgent = True
        if self._wake is not None:
            _resolve(self._wake)

    async def _flush(self) -> None:
        try:
            await self._flush_queued()
        except BaseException:  # cancelled (the loop is being torn down): no caller hangs
            queued, self._queued = self._queued, []
            for _, future, _ in queued:
                if not future.done():
                    future.set_exception(self._closed_error())
            raise

    async def _flush_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queued:
            if not self._urgent:  # only lazy writes: wait for company, lazy_window at most
                self._wake = loop.create_future()
                timer = loop.call_later(self.lazy_window, _resolve, self._wake)
                await self._wake
                timer.cancel()
                self._wake = None
            wait = self._began + self.group_window - loop.time()
            if wait > 0:  # a transaction began less than group_window ago: let writes join
                await asyncio.sleep(wait)
            batch, self._queued, self._urgent = self._queued, [], False
            self._began = loop.time()
            try:
                running = loop.run_in_executor(
                    self._thread,
                    self._commit_batch,
                    [fn for fn, _, _ in batch],
                    any(t for _, _, t in batch),
                )
            except RuntimeError:  # (its thread is shut down: the store closed under it)
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(self._closed_error())
                continue
            cancelled = False
            while True:
                try:
                    outcomes = await asyncio.shield(running)
                    break
                except asyncio.CancelledError:
                    # Cancelled while the thread commits: what it commits is told as it is
                    # (never "failed" for a write that is in fact durable), then the
                    # cancellation goes on.
                    cancelled = True
                    if running.done() and running.cancelled():
                        outcomes = [(False, self._closed_error())]
                        outcomes *= len(batch)
                        break
                except BaseException as exc:  # the transaction itself failed: every write did
                    failure = exc if isinstance(exc, Exception) else SessionError("store closed")
                    outcomes = [(False, failure)] * len(batch)
                    break
            for (_, future, _), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            if cancelled:
                raise asyncio.CancelledError

    def _commit_batch(self, writes: list[Callable[[], Any]], turns: bool) -> list[tuple[bool, Any]]:
        db = self._db
        outcomes: list[tuple[bool, Any]] = []
        with self._lock:
            began = time.perf_counter()  # (the transaction's own time, not the lock's wait)
            try:
                db.execute("BEGIN IMMEDIATE")
                for write in writes:
                    db.execute("SAVEPOINT chorus_write")
                    try:
                        outcomes.append((True, write()))
                    except Exception as exc:
                        db.execute("ROLLBACK TO chorus_write")
                        if isinstance(exc, sqlite3.Error):
                            exc = SessionError(f"SQLite store {self.path}: {exc}")
                        outcomes.append((False, exc))
                    db.execute("RELEASE chorus_write")
                if turns:
                    self._failpoint("before_commit")
                db.execute("COMMIT")
                if turns:
                    self._failpoint("after_commit")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise SessionError(f"SQLite store {self.path}: {exc}") from exc
                raise
        if self.on_commit is not None:
            with contextlib.suppress(Exception):
                self.on_commit(time.perf_counter() - began, len(writes))
        return outcomes

    async def load(self, session_id: str, since: int = 0) -> Transcript:
        def read() -> tuple[int, list[tuple[int, str, str]], bytes | None]:
            db = self._db
            db.execute("BEGIN")  # one snapshot for the messages and the context state
            try:
                head = db.execute(
                    "SELECT seq FROM chorus_sessions WHERE id = ?", (session_id,)
                ).fetchone()
                rows = db.execute(
                    "SELECT seq, role, content FROM chorus_messages WHERE session_id = ? "
                    "AND seq > ? ORDER BY seq",
                    (session_id, since),
                ).fetchall()
                found = db.execute(
                    "SELECT context FROM chorus_context WHERE session_id = ?", (session_id,)
                ).fetchone()
            finally:
                db.execute("COMMIT")
            return (head[0] if head else 0), rows, found[0] if found else None

        seq, rows, context = await self._run(read)
        messages = [{"role": role, "content": _decode(content)} for _, role, content in rows]
        for expected, (at, _, _) in enumerate(rows, since + 1):
            if at != expected:
                raise SessionError(f"session {session_id!r}: message {expected} is missing")
        if len(rows) != max(0, seq - since):
            raise SessionError(
                f"session {session_id!r}: messages after {since + len(rows)} are missing"
            )
        return Transcript(seq, checked(session_id, messages), context, since)

    async def search(
        self, session_id: str, words: Collection[str], before: int, most: int
    ) -> list[tuple[int, list[dict[str, Any]]]]:
        wanted = sorted(set(words))
        if not wanted or most <= 0:
            return []

        def read() -> list[tuple[int, list[tuple[str, str]]]]:
            db = self._db
            self._index_backlog(session_id)
            marks = ",".join("?" * len(wanted))
            counted = db.execute(
                f"SELECT turns, word FROM chorus_words WHERE session_id = ? AND word IN ({marks}) "
                "ORDER BY turns, word",
                (session_id, *wanted),
            ).fetchall()
            streams = (
                db.execute(
                    "SELECT start, end FROM chorus_terms WHERE session_id = ? AND word = ? "
                    "AND end <= ? ORDER BY start DESC LIMIT ?",
                    (session_id, word, before, most),
                )
                for _, word in counted
            )
            found = rarest_newest(streams, most)
            return [
                (
                    start,
                    db.execute(
                        "SELECT role, content FROM chorus_messages WHERE session_id = ? "
                        "AND seq > ? AND seq <= ? ORDER BY seq",
                        (session_id, start, end),
                    ).fetchall(),
                )
                for start, end in sorted(found)
            ]

        turns = await self._run(read)
        return [
            (start, [{"role": role, "content": _decode(content)} for role, content in rows])
            for start, rows in turns
        ]

    def _index_backlog(self, session_id: str) -> None:
        """Index the turns committed before this store kept words (an older database),
        once: rendered from the log, a turn at each new prompt."""
        db = self._db
        row = db.execute(
            "SELECT seq, indexed FROM chorus_sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None or row[1] >= row[0]:
            return
        seq, indexed = row
        rows = db.execute(
            "SELECT role, content FROM chorus_messages WHERE session_id = ? AND seq > ? "
            "ORDER BY seq",
            (session_id, indexed),
        ).fetchall()
        messages = [{"role": role, "content": _decode(content)} for role, content in rows]
        db.execute("BEGIN IMMEDIATE")
        try:
            for start, end in turns_of(messages, indexed):
                self._index_turn(session_id, start, end, messages[start - indexed : end - indexed])
            db.execute(
                "UPDATE chorus_sessions SET indexed = ? WHERE id = ? AND indexed = ?",
                (seq, session_id, indexed),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _index_turn(
        self, session_id: str, start: int, end: int, messages: list[dict[str, Any]]
    ) -> None:
        words = sorted(turn_words(messages))
        db = self._db
        db.executemany(
            "INSERT OR IGNORE INTO chorus_terms (session_id, word, start, end) VALUES (?, ?, ?, ?)",
            [(session_id, w, start, end) for w in words],
        )
        db.executemany(
            "INSERT INTO chorus_words (session_id, word, turns) VALUES (?, ?, 1) "
            "ON CONFLICT (session_id, word) DO UPDATE SET turns = turns + 1",
            [(session_id, w) for w in words],
        )

    async def acquire(self, session_id: str, owner: str, ttl: float) -> Lease:
        def take() -> Lease:
            now = self._clock()
            db = self._db
            row = db.execute(
                "SELECT lease_owner, lease_token, lease_expires, epoch FROM chorus_sessions "
                "WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                epoch = uuid.uuid4().hex
                db.execute(
                    "INSERT INTO chorus_sessions (id, created, updated, epoch) VALUES (?, ?, ?, ?)",
                    (session_id, now, now, epoch),
                )
                row = (None, 0, 0.0, epoch)
            holder, token, expires, epoch = row
            if epoch is None:  # a session from before epochs were kept
                epoch = uuid.uuid4().hex
                db.execute("UPDATE chorus_sessions SET epoch = ? WHERE id = ?", (epoch, session_id))
            if holder is not None and holder != owner and expires > now:
                raise SessionBusyError(
                    f"session {session_id!r} is busy with another turn", retry_after=expires - now
                )
            token += 1
            db.execute(
                "UPDATE chorus_sessions SET lease_owner = ?, lease_token = ?, lease_expires = ? "
                "WHERE id = ?",
                (owner, token, now + ttl, session_id),
            )
            return Lease(session_id, owner, token, now + ttl, epoch)

        return await self._write(take)

    async def release(self, lease: Lease) -> None:
        def free() -> None:
            self._db.execute(
                "UPDATE chorus_sessions SET lease_owner = NULL, lease_expires = 0 "
                "WHERE id = ? AND lease_token = ?",
                (lease.session_id, lease.token),
            )

        await self._write(free)

    async def page(self, session_id: str, start: int, limit: int) -> list[dict[str, Any]]:
        def read() -> list[tuple[str, str]]:
            rows: list[tuple[str, str]] = self._db.execute(
                "SELECT role, content FROM chorus_messages WHERE session_id = ? "
                "AND seq > ? AND seq <= ? ORDER BY seq",
                (session_id, start, start + limit),
            ).fetchall()
            return rows

        rows = await self._run(read)
        return [{"role": role, "content": _decode(content)} for role, content in rows]

    async def commit(
        self,
        lease: Lease,
        expected_seq: int,
        messages: list[dict[str, Any]],
        context: bytes | None = None,
    ) -> int:
        rows = [(m["role"], _encode(m["content"]).decode()) for m in messages]

        def write() -> int:
            db = self._db
            now = self._clock()
            bumped = db.execute(
                "UPDATE chorus_sessions SET seq = ?, updated = ? "
                "WHERE id = ? AND seq = ? AND lease_token = ?",
                (expected_seq + len(rows), now, lease.session_id, expected_seq, lease.token),
            ).rowcount
            if bumped != 1:
                current = db.execute(
                    "SELECT seq, lease_token FROM chorus_sessions WHERE id = ?", (lease.session_id,)
                ).fetchone()
                raise StaleWriterError(
                    f"session {lease.session_id!r}: expected seq {expected_seq} with lease "
                    f"{lease.token}, found {current}"
                )
            last = (
                db.execute(
                    "SELECT role, content FROM chorus_messages WHERE session_id = ? AND seq = ?",
                    (lease.session_id, expected_seq),
                ).fetchone()
                if expected_seq
                else None
            )
            try:
                check_turn(
                    lease.session_id,
                    {"role": last[0], "content": _decode(last[1])} if last else None,
                    messages,
                    expected_seq,
                )
            except CorruptTranscriptError:
                raise
            self._failpoint("mid_commit")
            db.executemany(
                "INSERT INTO chorus_messages (session_id, seq, role, content, created) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (lease.session_id, expected_seq + i, role, content, now)
                    for i, (role, content) in enumerate(rows, 1)
                ],
            )
            end = expected_seq + len(rows)
            if db.execute(
                "UPDATE chorus_sessions SET indexed = ? WHERE id = ? AND indexed = ?",
                (end, lease.session_id, expected_seq),
            ).rowcount:
                self._index_turn(lease.session_id, expected_seq, end, messages)
            if context is not None:
                db.execute(
                    "INSERT OR REPLACE INTO chorus_context (session_id, context) VALUES (?, ?)",
                    (lease.session_id, context),
                )
            return expected_seq + len(rows)

        return await self._write(write, turn=True)

    async def save_pending(self, lease: Lease, expected_seq: int, state: bytes) -> None:
        def write() -> None:
            changed = self._db.execute(
                "UPDATE chorus_sessions SET pending_seq = ?, pending = ? "
                "WHERE id = ? AND seq = ? AND lease_token = ?",
                (expected_seq, state, lease.session_id, expected_seq, lease.token),
            ).rowcount
            if changed != 1:
                raise StaleWriterError(
                    f"session {lease.session_id!r}: lease or seq moved on; pause not saved"
                )

        await self._write(write)

    async def load_pending(self, session_id: str) -> tuple[int, bytes] | None:
        def read() -> tuple[int, bytes] | None:
            row = self._db.execute(
                "SELECT pending_seq, pending FROM chorus_sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if row is None or row[1] is None:
                return None
            return int(row[0]), bytes(row[1])

        return await self._run(read)

    async def take_pending(self, lease: Lease, state: bytes) -> bool:
        def take() -> bool:
            db = self._db
            token = db.execute(
                "SELECT lease_token FROM chorus_sessions WHERE id = ?", (lease.session_id,)
            ).fetchone()
            if token is None or token[0] != lease.token:
                raise StaleWriterError(f"session {lease.session_id!r}: lease was taken over")
            taken = db.execute(
                "UPDATE chorus_sessions SET pending = NULL, pending_seq = NULL "
                "WHERE id = ? AND pending = ?",
                (lease.session_id, state),
            ).rowcount
            return taken == 1

        return await self._write(take)

    async def sessions(self, prefix: str = "", newest: int | None = None) -> list[SessionInfo]:
        # A range on the primary key, so one tenant's sessions are read without the rest;
        # with ``newest``, SQLite picks them, so only those become Python objects.
        query = (
            "SELECT id, seq, created, updated FROM chorus_sessions "
            "WHERE (seq > 0 OR pending IS NOT NULL) AND id >= ? AND id < ? "
        )
        if newest is None:
            query, args = query + "ORDER BY id", (prefix, prefix + "\U0010ffff")
        else:
            query += "ORDER BY updated DESC LIMIT ?"
            args = (prefix, prefix + "\U0010ffff", newest)  # type: ignore[assignment]

        def read() -> list[SessionInfo]:
            return [SessionInfo(*row) for row in self._db.execute(query, args).fetchall()]

        return await self._run(read)

    async def delete(self, session_id: str) -> bool:
        def drop() -> bool:
            db = self._db
            db.execute("DELETE FROM chorus_messages WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM chorus_context WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM chorus_terms WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM chorus_words WHERE session_id = ?", (session_id,))
            gone = db.execute("DELETE FROM chorus_sessions WHERE id = ?", (session_id,)).rowcount
            return bool(gone)

        return await self._write(drop)

    async def prune(self, older_than: float, batch: int = 500) -> int:
        """In transactions of at most ``batch`` sessions: turns committing meanwhile wait
        for one short transaction at most, however much is old."""
        now = self._clock()
        cutoff = now - older_than

        def drop() -> int:
            db = self._db
            old = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM chorus_sessions WHERE updated < ? AND lease_expires < ? "
                    "LIMIT ?",
                    (cutoff, now, batch),
                ).fetchall()
            ]
            db.executemany("DELETE FROM chorus_messages WHERE session_id = ?", [(s,) for s in old])
            for table in ("chorus_context", "chorus_terms", "chorus_words"):
                db.executemany(f"DELETE FROM {table} WHERE session_id = ?", [(s,) for s in old])
            db.executemany("DELETE FROM chorus_sessions WHERE id = ?", [(s,) for s in old])
            return len(old)

        return await self.drain(lambda db: drop())

    async def drain(self, fn: Callable[[sqlite3.Connection], int]) -> int:
        """Run ``fn(connection)``, a write that deletes a batch and says how many, in one
        group commit after another until a batch finds none; the total. Each transaction
        stays short, so turns committing meanwhile wait for one batch at most."""
        gone = 0
        while (dropped := await self.write(fn)) > 0:
            gone += dropped
        return gone

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._queued and (self._flusher is None or self._flusher.done()):
                # (a flusher cancelled before it began left writes behind: flush them now)
                self._flusher = asyncio.get_running_loop().create_task(self._flush())
            if self._flusher is not None and not self._flusher.done():  # queued writes first
                self._hurry()
                await asyncio.wait({self._flusher})
        finally:
            self._stopping.set()
            await asyncio.to_thread(self._checkpointer.join)
            await self._run(self._db.close)
            self._thread.shutdown(wait=False)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
