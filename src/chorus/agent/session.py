"""A session: one conversation bound to an agent and a store, advanced one atomic turn at a time.

``send`` takes the session's lease (one writer per session), loads the
committed history, runs the agent on it, and commits the whole turn (the user
message, every assistant message, tool call and tool result) in one
transaction guarded by the lease's fencing token. If anything fails before the
commit, the session is exactly as it was. A second ``send`` on a busy session
gets :class:`~chorus.errors.SessionBusyError` at once (``concurrency="reject"``)
or waits for the lease (``concurrency="wait"``), by policy.

A turn that reaches a tool needing approval, with no ``approve`` callback on
the agent, pauses: its state is kept aside in the store (the transcript does
not change), ``pending()`` lists the calls, and ``resume(decisions)`` finishes
and commits it; the paused state is taken atomically, so a turn resumes exactly
once. ``discard()`` drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from chorus.agent.events import AgentEvent, Done, RunResult, TurnCommitted
from chorus.agent.loop import ToolCall
from chorus.context.compaction import ContextState
from chorus.context.history import History
from chorus.errors import ConfigError, SessionBusyError, SessionError, StaleWriterError
from chorus.store.base import Lease, Store
from chorus.store.memory import MemoryStore

if TYPE_CHECKING:
    from chorus.agent.agent import Agent

__all__ = ["Session"]

_PAST_END = 2**62  # load(since=...) past every message: the seq and context state only


@dataclass(slots=True)
class _Cached:
    """The transcript as this session last saw it (as bytes between turns), and the lease
    token it held then."""

    messages: History
    seq: int
    context: ContextState  # decoded once, not per turn: a long session has many summaries
    token: int
    epoch: str


class Session:
    """One conversation of an agent, kept in a store, advanced one atomic turn at a time.

    ``Session(agent, "user-42", store=SQLiteStore("chorus.db"))``; ``send()`` runs
    a turn and commits it whole, ``history()`` reads the transcript back."""

    def __init__(
        self,
        agent: Agent,
        session_id: str,
        *,
        store: Store | None = None,
        concurrency: Literal["reject", "wait"] = "reject",
        lease_ttl: float = 600.0,
        wait_timeout: float = 60.0,
        owner: str | None = None,
        hold_lease: bool = False,
        keep_warm: bool = False,
    ) -> None:
        if not isinstance(session_id, str) or not session_id or len(session_id) > 256:
            raise ConfigError("session id must be a non-empty string of at most 256 characters")
        if concurrency not in ("reject", "wait"):
            raise ConfigError("concurrency must be 'reject' or 'wait'")
        self.agent = agent
        self.id = session_id
        self.store: Store = store if store is not None else MemoryStore()
        self.concurrency = concurrency
        self.lease_ttl = lease_ttl
        self.wait_timeout = wait_timeout
        self.owner = owner or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._cached: _Cached | None = None  # the transcript as of our last turn
        # A server that owns its sessions keeps each one's lease between turns (renewed
        # when half its TTL is gone) instead of taking and giving it back every turn: two
        # writes less per turn. close() gives it back.
        self.hold_lease = hold_lease
        # Between turns the transcript is kept as bytes only (an idle session's footprint)
        # unless it is kept warm: decoded, so the next turn decodes only what is new. A
        # server keeps its hot sessions warm, and drops the cold ones whole.
        self.keep_warm = keep_warm
        self._held: Lease | None = None
        self._clean = False  # no paused turn, as of our last turn under the held lease
        self.committed: int | None = None  # the session's length after our last commit

    @property
    def known_seq(self) -> int | None:
        """The session's length as this object last saw it (None before its first turn)."""
        return self._cached.seq if self._cached is not None else None

    async def history(self, start: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The committed conversation, in the API's message shape: all of it, or ``limit``
        messages from ``start`` (a page of a long session, read without loading the rest)."""
        if limit is None and start == 0:
            return (await self.store.load(self.id)).messages
        if not isinstance(start, int) or start < 0:
            raise ConfigError("history(start=...) must be a message index >= 0")
        if limit is None:
            limit = 2**62
        if not isinstance(limit, int) or limit < 1:
            raise ConfigError("history(limit=...) must be a count >= 1")
        return await self.store.page(self.id, start, limit)

    async def context(self) -> ContextState:
        """The committed context state: the summaries that stand in for the oldest turns."""
        return ContextState.decode((await self.store.load(self.id, since=_PAST_END)).context)

    async def send(self, prompt: str | list[dict[str, Any]]) -> RunResult:
        """One atomic turn; returns its result (``result.seq`` is the session's new length)."""
        return await _result_of(self._turn(prompt, live=False))

    async def stream(
        self, prompt: str | list[dict[str, Any]], *, live: bool = True
    ) -> AsyncIterator[AgentEvent]:
        """One atomic turn, yielding the agent's events, then TurnCommitted, then Done.
        ``live=False``: each model reply comes whole (no text deltas; a failed model call
        is then always retried whole), tool calls and results are still events."""
        async for event in self._turn(prompt, live=live):
            yield event

    async def pending(self) -> list[ToolCall]:
        """Tool calls of a turn that paused for approval (empty when none waits)."""
        stored = await self.store.load_pending(self.id)
        if stored is None:
            return []
        state = msgspec.json.decode(stored[1])
        return [ToolCall(c["id"], c["name"], c["input"]) for c in state["pending"]]

    async def resume(self, decisions: dict[str, bool]) -> RunResult:
        """Finish the paused turn with a person's decisions; it can be resumed exactly once."""
        return await _result_of(self.stream_resume(decisions, live=False))

    async def stream_resume(
        self, decisions: dict[str, bool], *, live: bool = True
    ) -> AsyncIterator[AgentEvent]:
        """:meth:`resume`, yielding the run's events, then TurnCommitted, then Done."""
        lease = await self._acquire()
        self._cached = None  # a resumed turn commits outside the cached path
        try:
            stored = await self.store.load_pending(self.id)
            if stored is None:
                raise SessionError(f"session {self.id!r} has no turn waiting for approval")
            seq, blob = stored
            committed = await self.store.load(self.id, since=_PAST_END)
            if committed.seq != seq:
                raise StaleWriterError(f"session {self.id!r} moved on since the turn paused")
            if not await self.store.take_pending(lease, blob):
                raise SessionError(f"the paused turn of session {self.id!r} was already resumed")
            done: Done | None = None
            try:
                async for event in self.agent.stream_resume(
                    msgspec.json.decode(blob),
                    decisions,
                    session_id=self.id,
                    lookup=self._lookup,
                    live=live,
                ):
                    if isinstance(event, Done):
                        done = event
                    else:
                        yield event
            except BaseException:
                await self.store.save_pending(lease, seq, blob)  # still waiting: try again
                raise
            assert done is not None
            result = await self._finish(lease, seq, done.result)
            if result.stop_reason != "paused":
                yield TurnCommitted(self.id, result.seq or seq)
            yield Done(result)
        finally:
            await self._let_go(lease)

    async def discard(self) -> bool:
        """Drop a turn that paused for approval; the session stays as it was."""
        lease = await self._acquire()
        try:
            stored = await self.store.load_pending(self.id)
            return stored is not None and await self.store.take_pending(lease, stored[1])
        finally:
            await self._let_go(lease)

    async def _finish(
        self, lease: Lease, seq: int, result: RunResult, before: ContextState | None = None
    ) -> RunResult:
        """Commit the turn (or keep a paused one aside). ``before``: the context state the
        turn started from; when its summaries are still the same, the stored state is left
        as it is rather than rewritten whole (summaries only grow: length and last say it)."""
        if result.stop_reason == "paused":
            await self.store.save_pending(lease, seq, msgspec.json.encode(result.paused))
            result.seq = seq
            return result
        after = result.context
        context = None
        if after is not None and not (before is not None and _same(before, after)):
            context = after.encode()
        commit = asyncio.ensure_future(self.store.commit(lease, seq, result.messages, context))
        try:
            result.seq = await asyncio.shield(commit)
        except asyncio.CancelledError:
            # Cancelled while the commit is under way: the commit decides, never half of
            # it. It finishes, however often the cancel comes; ``committed`` then says
            # whether the turn is in the store.
            while not commit.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(commit)
            if not commit.cancelled() and commit.exception() is None:
                self.committed = commit.result()
            raise
        self.committed = result.seq
        return result

    async def _turn(
        self, prompt: str | list[dict[str, Any]], *, live: bool
    ) -> AsyncIterator[AgentEvent]:
        lease = await self._acquire()
        try:
            cached = self._cached
            held = (
                cached is not None
                and lease.epoch == cached.epoch
                and lease.token in (cached.token, cached.token + 1)
            )
            if not (held and self._clean) and await self.store.load_pending(self.id) is not None:
                raise SessionError(
                    f"session {self.id!r} has a turn waiting for approval: resume or discard it"
                )
            if cached is not None and lease.epoch and held:
                # Nobody else held the lease since our last turn (fencing tokens grow with
                # every acquisition, and the epoch changes if the session was deleted and
                # started again), so nobody else committed: the transcript in memory is
                # the store's. A turn then costs no reading or re-checking of history.
                messages, seq, state = cached.messages, cached.seq, cached.context
            else:
                messages, seq, state = await self._load()
            # A failed run leaves the transcript as it was: still ours with this lease.
            self._cached = _Cached(messages, seq, state, lease.token, lease.epoch)
            self._clean = False
            done: Done | None = None
            before = ContextState(list(state.summaries))
            try:
                async for event in self.agent.iter(
                    prompt, messages, self.id, live=live, state=state, lookup=self._lookup
                ):
                    if isinstance(event, Done):
                        done = event
                    else:
                        yield event
            finally:
                if not self.keep_warm:
                    messages.cool()  # between turns the transcript is held as bytes only
            assert done is not None
            try:
                result = await self._finish(lease, seq, done.result, before)
            except BaseException:
                self._cached = None  # the store may have moved on: read it next time
                raise
            if result.stop_reason != "paused" and result.seq is not None:
                messages.extend(result.messages)  # encoded: a copy the caller cannot change
                after = result.context if result.context is not None else before
                if self.agent.context is not None:
                    # What the summaries stand for stays in the store (recall reaches it
                    # there): a session held in memory holds the window, not its history.
                    messages.forget_before(after.boundary)
                kept = ContextState(after.summaries)  # this turn's recalls end with it
                self._cached = _Cached(messages, result.seq, kept, lease.token, lease.epoch)
            if result.stop_reason != "paused":
                self._clean = self.hold_lease  # nobody else can pause a turn while we hold it
                yield TurnCommitted(self.id, result.seq or seq)
            yield done
        finally:
            await self._let_go(lease)

    async def _load(self) -> tuple[History, int, ContextState]:
        """What a turn needs from the store: the context state and, when the agent manages
        its context, only the messages since the last compaction (recall reaches the rest
        through :meth:`_lookup`); otherwise the whole transcript."""
        if self.agent.context is not None:
            head = await self.store.load(self.id, since=_PAST_END)
            state = ContextState.decode(head.context)
            if head.seq == 0:  # a new session: nothing more to read
                return History([]), 0, state
            since = state.boundary
            if 0 < since <= head.seq:
                tail = await self.store.load(self.id, since=since)
                if tail.seq == head.seq:  # (we hold the lease: nobody committed between)
                    return History(tail.messages, start=since), tail.seq, state
        committed = await self.store.load(self.id)
        state = ContextState.decode(committed.context)
        return History(committed.messages), committed.seq, state

    async def _lookup(
        self, words: set[str], before: int, most: int
    ) -> list[tuple[int, list[dict[str, Any]]]]:
        """Recall's way to the evicted turns: the store's search, for this session."""
        return await self.store.search(self.id, words, before, most)

    async def close(self) -> None:
        """Give back a held lease (``hold_lease=True``); the session stays in the store."""
        held, self._held = self._held, None
        if held is not None:
            await self.store.release(held)

    async def _let_go(self, lease: Lease) -> None:
        if self.hold_lease and self._cached is not None:  # (None: something went wrong)
            self._held = lease
        else:
            self._held = None  # given back (or taken over): never handed out again
            await self.store.release(lease)

    async def _acquire(self) -> Lease:
        held = self._held
        if held is not None:
            if held.expires - time.time() > self.lease_ttl / 2:
                return held
            self._held = None  # renewed below: the same owner is granted it again
        if self.concurrency == "reject":
            return await self.store.acquire(self.id, self.owner, self.lease_ttl)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.wait_timeout
        delay = 0.01
        while True:
            try:
                return await self.store.acquire(self.id, self.owner, self.lease_ttl)
            except SessionBusyError:
                if loop.time() + delay > give_up:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)


def _same(before: ContextState, after: ContextState) -> bool:
    """The same summaries: they are only ever appended (or dropped from the end when a
    conversation is rewound), so the count and the last one tell."""
    a, b = before.summaries, after.summaries
    return len(a) == len(b) and (not a or a[-1] == b[-1])


async def _result_of(events: AsyncIterator[AgentEvent]) -> RunResult:
    """The result a turn's events end with (its ``Done``)."""
    result: RunResult | None = None
    async for event in events:
        if isinstance(event, Done):
            result = event.result
    assert result is not None
    return result
