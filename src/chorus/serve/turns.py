"""A turn as the server runs it: its events, numbered, kept for readers who come and go.

A :class:`LiveTurn` holds every event of one turn in order, each with an id that grows
within the session (``turn * 1,000,000 + n``), so ``Last-Event-ID`` names a place in the
whole session. Any number of readers follow it (:meth:`LiveTurn.follow`), each from the id
it last saw; a reader that leaves loses nothing, the turn runs on, and one that comes back
reads what it missed, while the turn runs or after it ended.

:func:`wire` turns an agent's events into what the HTTP API streams: ``text``,
``thinking``, ``tool_call``, ``tool_result``, then ``done`` (the result) or ``error``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import msgspec

from chorus.agent.events import (
    RunResult,
    TextChunk,
    ThinkingChunk,
    ToolCallStarted,
    ToolResult,
)

__all__ = ["EVENT_SPAN", "LiveTurn", "result_json", "team_event_json", "wire"]

EVENT_SPAN = 1_000_000  # event ids per turn


# What every ended turn waits on. A server keeps thousands of recent turns for readers
# who come back; each keeping its own task, two Events and their waiter deques made a dozen
# objects per turn that outlived it, and the collector walked them on every young pass.
_OVER = asyncio.Event()
_OVER.set()  # (a set Event's wait returns at once, on any loop: it never binds one)

Event = tuple[int, str, dict[str, Any]]
_encode = msgspec.json.Encoder().encode
_decode_events = msgspec.json.Decoder(list[Event]).decode
_decode_result = msgspec.json.Decoder(dict[str, Any] | None).decode


def wire(event: Any) -> tuple[str, dict[str, Any]] | None:
    """The streamed form of an agent event, or None for those the API does not stream."""
    if isinstance(event, TextChunk):
        return "text", {"text": event.text}
    if isinstance(event, ThinkingChunk):
        return "thinking", {"thinking": event.thinking}
    if isinstance(event, ToolCallStarted):
        return "tool_call", {"id": event.id, "name": event.name}
    if isinstance(event, ToolResult):
        content = event.content if isinstance(event.content, str | list) else str(event.content)
        return "tool_result", {
            "id": event.id,
            "name": event.name,
            "content": content,
            "is_error": event.is_error,
        }
    return None


def result_json(turn: int, result: RunResult) -> dict[str, Any]:
    """A finished turn as the API returns it."""
    output = result.output
    if not isinstance(output, str | int | float | bool | list | dict | type(None)):
        import msgspec

        output = msgspec.to_builtins(output)
    usage = result.usage
    body: dict[str, Any] = {
        "turn": turn,
        "output": output,
        "stop_reason": result.stop_reason,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cache_read_input_tokens,
            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        },
        "cost": round(result.cost, 8),
        "steps": result.steps,
    }
    if result.stop_reason == "paused":
        body["pending"] = [{"id": c.id, "name": c.name, "input": c.input} for c in result.pending]
    return body


class LiveTurn:
    """One turn's events, in order, for any number of readers.

    An ended turn keeps its events and result as their JSON bytes, decoded when read: a
    server holds thousands of ended turns for readers who come back, and as lists,
    tuples and dicts each one was half a dozen objects that every young pass of the
    collector walked; as bytes it is none."""

    def __init__(
        self,
        session: str,
        turn: int,
        status: str = "running",
        idempotency_key: str | None = None,
    ) -> None:
        self.session, self.turn, self.status = session, turn, status
        self.idempotency_key = idempotency_key  # the retries that carry it get this turn
        self.seq_before: int | None = None  # the session's length when the turn began
        self.message: Any = None  # what the turn was asked, while it runs (then: the store)
        self._events: list[Event] = []
        self._result: dict[str, Any] | None = None
        self._packed: tuple[bytes, bytes] | None = None  # (events, result), once ended
        self.task: asyncio.Task[Any] | None = None
        self.entered: Awaitable[None] | None = None  # its start entry, being made durable
        self.ended_at: float | None = None  # time.monotonic() when it ended
        self.cancel_requested = False
        self._signal = asyncio.Event()
        self._ended = asyncio.Event()

    @property
    def running(self) -> bool:
        return not self._ended.is_set()

    @property
    def events(self) -> list[Event]:
        """Its events so far (once it ended, decoded anew at each read)."""
        packed = self._packed
        return self._events if packed is None else _decode_events(packed[0])

    @property
    def result(self) -> dict[str, Any] | None:
        packed = self._packed
        return self._result if packed is None else _decode_result(packed[1])

    def add(self, kind: str, data: dict[str, Any]) -> int:
        event_id = self.turn * EVENT_SPAN + len(self._events) + 1
        self._events.append((event_id, kind, data))
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()
        return event_id

    def end(self, status: str, result: dict[str, Any] | None) -> None:
        self.status, self._result = status, result
        try:
            self._packed = (_encode(self._events), _encode(result))
            self._events, self._result = [], None
        except Exception:  # (not JSON: kept as it is; the turn ends all the same)
            self._packed = None
        self.message = None  # (the session's store has it now; recent turns stay small)
        self.ended_at = time.monotonic()
        self.task = self.entered = None  # (what cancels or waits on a running turn)
        self._ended.set()
        self._signal.set()
        self._ended = self._signal = _OVER

    async def wait(self) -> None:
        await self._ended.wait()

    def load(self, events: list[Any], status: str, result: Any) -> None:
        """A finished turn read back from the journal."""
        self._events = [(int(i), str(k), d) for i, k, d in events]
        self.end(status, result)

    async def follow(self, after: int = 0) -> AsyncIterator[tuple[int, str, dict[str, Any]]]:
        """The events after id ``after``, then each new one as it comes, until the turn
        has ended and every event was given."""
        index = max(0, after - self.turn * EVENT_SPAN) if after >= self.turn * EVENT_SPAN else 0
        while True:
            signal = self._signal
            events = self.events  # (an ended turn's decoded once here)
            while index < len(events):
                yield events[index]
                index += 1
            if not self.running:
                return
            await signal.wait()


def team_event_json(event: Any) -> tuple[str, dict[str, Any]]:
    """A team event as the API streams it: its kind, and its fields as JSON."""
    import dataclasses

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        return str(value)

    return event.kind, plain(event)
