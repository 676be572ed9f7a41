"""Sessions in process memory: for tests, notebooks and single-process tools."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from chorus.context.evicted import rarest_newest
from chorus.errors import SessionBusyError, StaleWriterError
from chorus.store.base import Lease, SessionInfo, Transcript
from chorus.store.checks import check_turn, checked
from chorus.store.postings import turn_words

__all__ = ["MemoryStore"]


@dataclass
class _Row:
    created: float
    updated: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    owner: str | None = None
    token: int = 0
    expires: float = 0.0
    pending: tuple[int, bytes] | None = None
    context: bytes | None = None
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex)
    # word -> (start, end) of each committed turn that mentions it, in order
    postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


class MemoryStore:
    """A store in this process's memory: the default, for tests and short-lived sessions."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._rows: dict[str, _Row] = {}
        self._clock = clock

    def _row(self, session_id: str) -> _Row:
        row = self._rows.get(session_id)
        if row is None:
            now = self._clock()
            row = self._rows[session_id] = _Row(now, now)
        return row

    async def load(self, session_id: str, since: int = 0) -> Transcript:
        row = self._rows.get(session_id)
        if row is None:
            return Transcript(0, [], None, since)
        messages = copy.deepcopy(row.messages[since:])
        return Transcript(len(row.messages), checked(session_id, messages), row.context, since)

    async def search(
        self, session_id: str, words: Collection[str], before: int, most: int
    ) -> list[tuple[int, list[dict[str, Any]]]]:
        row = self._rows.get(session_id)
        if row is None:
            return []
        counted = sorted((len(row.postings[w]), w) for w in set(words) if w in row.postings)
        streams = (
            (span for span in reversed(row.postings[word]) if span[1] <= before)
            for _, word in counted
        )
        return [
            (start, copy.deepcopy(row.messages[start:end]))
            for start, end in sorted(rarest_newest(streams, most))
        ]

    async def page(self, session_id: str, start: int, limit: int) -> list[dict[str, Any]]:
        row = self._rows.get(session_id)
        if row is None:
            return []
        return copy.deepcopy(row.messages[start : start + limit])

    async def acquire(self, session_id: str, owner: str, ttl: float) -> Lease:
        row = self._row(session_id)
        now = self._clock()
        if row.owner is not None and row.owner != owner and row.expires > now:
            raise SessionBusyError(
                f"session {session_id!r} is busy with another turn", retry_after=row.expires - now
            )
        row.owner, row.token, row.expires = owner, row.token + 1, now + ttl
        return Lease(session_id, owner, row.token, row.expires, row.epoch)

    async def release(self, lease: Lease) -> None:
        row = self._rows.get(lease.session_id)
        if row is not None and row.token == lease.token:
            row.owner, row.expires = None, 0.0

    async def commit(
        self,
        lease: Lease,
        expected_seq: int,
        messages: list[dict[str, Any]],
        context: bytes | None = None,
    ) -> int:
        row = self._row(lease.session_id)
        if row.token != lease.token:
            raise StaleWriterError(
                f"session {lease.session_id!r}: lease {lease.token} was taken over "
                f"(now {row.token})"
            )
        if len(row.messages) != expected_seq:
            raise StaleWriterError(
                f"session {lease.session_id!r} moved from seq {expected_seq} to {len(row.messages)}"
            )
        check_turn(
            lease.session_id, row.messages[-1] if row.messages else None, messages, expected_seq
        )
        row.messages.extend(copy.deepcopy(messages))
        span = (expected_seq, len(row.messages))
        for word in turn_words(messages):
            row.postings.setdefault(word, []).append(span)
        if context is not None:
            row.context = context
        row.updated = self._clock()
        return len(row.messages)

    async def save_pending(self, lease: Lease, expected_seq: int, state: bytes) -> None:
        row = self._row(lease.session_id)
        self._check(row, lease, expected_seq)
        row.pending = (expected_seq, state)

    async def load_pending(self, session_id: str) -> tuple[int, bytes] | None:
        row = self._rows.get(session_id)
        return row.pending if row is not None else None

    async def take_pending(self, lease: Lease, state: bytes) -> bool:
        row = self._row(lease.session_id)
        if row.token != lease.token:
            raise StaleWriterError(f"session {lease.session_id!r}: lease was taken over")
        if row.pending is None or row.pending[1] != state:
            return False
        row.pending = None
        return True

    def _check(self, row: _Row, lease: Lease, expected_seq: int) -> None:
        if row.token != lease.token:
            raise StaleWriterError(f"session {lease.session_id!r}: lease was taken over")
        if len(row.messages) != expected_seq:
            raise StaleWriterError(f"session {lease.session_id!r} moved on from seq {expected_seq}")

    async def sessions(self, prefix: str = "", newest: int | None = None) -> list[SessionInfo]:
        found = [
            SessionInfo(sid, len(r.messages), r.created, r.updated)
            for sid, r in sorted(self._rows.items())
            if (r.messages or r.pending is not None) and sid.startswith(prefix)
        ]
        if newest is None:
            return found
        return sorted(found, key=lambda i: -i.updated)[:newest]

    async def delete(self, session_id: str) -> bool:
        return self._rows.pop(session_id, None) is not None

    async def prune(self, older_than: float) -> int:
        cutoff = self._clock() - older_than
        old = [sid for sid, r in self._rows.items() if r.updated < cutoff and r.owner is None]
        for sid in old:
            del self._rows[sid]
        return len(old)

    async def close(self) -> None:
        pass
