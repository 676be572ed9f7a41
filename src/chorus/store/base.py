"""What every session store provides: an append-only, sequence-numbered log per session,
one writer at a time (a lease with a fencing token), and atomic turns.

A turn is committed with ``commit(lease, expected_seq, messages)``: all of its
messages and the sequence bump land together or not at all, and only if the
writer still holds the lease (its token is the current one) and nobody
committed since it read (``expected_seq``). Everything a store loads is checked
against the API's transcript rules. A turn that paused for a person's approval
is kept aside (``save_pending``), never in the transcript, and can be taken
back exactly once (``take_pending``). Beside the transcript a store keeps one
opaque blob of context state (summaries, recalls), replaced with each commit, and the
words of each committed turn, so recall finds old turns without reading the whole log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Lease", "SessionInfo", "Store", "Transcript"]


@dataclass(frozen=True, slots=True)
class Lease:
    """One writer's hold on a session, until ``expires``.

    ``token`` (the fencing token) grows with every acquisition of this session;
    ``epoch`` names this incarnation of it: a session deleted (or pruned) and started
    again has a new epoch, so (epoch, token) never repeats.
    """

    session_id: str
    owner: str
    token: int
    expires: float
    epoch: str = ""


@dataclass(frozen=True, slots=True)
class Transcript:
    seq: int  # number of messages committed so far
    messages: list[dict[str, Any]] = field(default_factory=list)  # from index ``start`` on
    context: bytes | None = None  # the context state committed with the last turn
    start: int = 0  # the index of messages[0] in the log (a load ``since`` a later turn)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str
    seq: int
    created: float
    updated: float


class Store(Protocol):
    """A session store: an append-only log per session, leases with fencing tokens, atomic turns."""

    async def load(self, session_id: str, since: int = 0) -> Transcript:
        """The session's seq and context state, and its messages from index ``since`` on
        (``since`` at a turn's start; past the end, none): a turn loads what it needs."""
        ...

    async def search(
        self, session_id: str, words: Collection[str], before: int, most: int
    ) -> list[tuple[int, list[dict[str, Any]]]]:
        """Committed turns that end at or before message ``before`` and mention any of
        ``words``, as (index of the turn's first message, its messages), oldest first; at
        most ``most``, chosen by :func:`chorus.context.evicted.rarest_newest`."""
        ...

    async def page(self, session_id: str, start: int, limit: int) -> list[dict[str, Any]]:
        """Messages ``start`` to ``start + limit`` of the committed log (fewer at its end):
        a long session read back a page at a time, not loaded whole."""
        ...

    async def acquire(self, session_id: str, owner: str, ttl: float) -> Lease:
        """Take the session's lease or raise :class:`~chorus.errors.SessionBusyError`."""
        ...

    async def release(self, lease: Lease) -> None: ...

    async def commit(
        self,
        lease: Lease,
        expected_seq: int,
        messages: list[dict[str, Any]],
        context: bytes | None = None,
    ) -> int:
        """Append a turn atomically (with the new context state, when given); returns the new
        seq or raises StaleWriterError."""
        ...

    async def save_pending(self, lease: Lease, expected_seq: int, state: bytes) -> None:
        """Keep a turn that paused for approval (at ``expected_seq``) until it is resumed."""
        ...

    async def load_pending(self, session_id: str) -> tuple[int, bytes] | None:
        """The paused turn and the seq it continues from, if any."""
        ...

    async def take_pending(self, lease: Lease, state: bytes) -> bool:
        """Remove exactly this paused turn; False if it was already taken (resumed once)."""
        ...

    async def sessions(self, prefix: str = "", newest: int | None = None) -> list[SessionInfo]:
        """The sessions with messages, or with a turn that waits for approval (whose
        ``seq`` may be 0), whose ids start with ``prefix``; by id, or with ``newest`` the
        ``newest`` most recently updated, newest first."""
        ...

    async def delete(self, session_id: str) -> bool: ...

    async def prune(self, older_than: float) -> int:
        """Delete sessions not updated for ``older_than`` seconds; returns how many."""
        ...

    async def close(self) -> None: ...
