"""Fold stream events into the final :class:`Message`, with no I/O.

``message = accumulate(events)`` is the whole idea; :class:`Accumulator` is the
same fold one event at a time, for drivers that also forward deltas as they
arrive. Text and thinking deltas are kept as lists of parts and joined once,
so a long reply costs linear time. Tool input is the concatenation of the
``input_json_delta`` fragments, parsed once when its block stops.

A block whose stop never arrived, or whose JSON does not parse (the stream was
cut, or ``max_tokens`` struck inside a ``tool_use``), is listed in
:attr:`Accumulator.incomplete`: a caller must never execute such a tool call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from chorus.errors import ProtocolError, StreamError
from chorus.protocol.types import (
    CitationsDelta,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    InputJSONDelta,
    KnownBlock,
    Message,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    ServerToolUseBlock,
    SignatureDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
)

__all__ = ["Accumulator", "accumulate"]

_json_decoder = msgspec.json.Decoder(dict[str, Any])


class _Slot:
    """One content block under construction."""

    __slots__ = ("block", "citations", "done", "json_ok", "parts")

    def __init__(self, block: KnownBlock) -> None:
        self.block = block
        self.parts: list[str] = []
        self.citations: list[dict[str, Any]] | None = None
        self.done = False
        self.json_ok = True


class Accumulator:
    """Events in, a message snapshot out at any time."""

    __slots__ = ("_message", "_slots", "done", "ended", "request_id")

    def __init__(self) -> None:
        self._message: Message | None = None
        self._slots: list[_Slot] = []
        self.done = False
        self.ended = False  # message_delta came: the stop reason and final usage are known
        self.request_id: str | None = None

    # ----------------------------------------------------------------- input

    def add(self, event: StreamEvent) -> None:
        """Apply one event. Raises :class:`StreamError` on an ``error`` event."""
        kind = type(event)
        if kind is ContentBlockDeltaEvent:
            delta = event.delta  # type: ignore[union-attr]
            slots = self._slots
            index = event.index  # type: ignore[union-attr]
            if type(delta) is TextDelta and 0 <= index < len(slots):
                slots[index].parts.append(delta.text)  # the hot path
                return
            self._delta(self._slot(index), delta)
            return
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, event)
        # ping and unknown events carry nothing to fold

    def extend(self, events: list[StreamEvent]) -> None:
        """:meth:`add` each event in order, in one call (the events of a network chunk).

        An ``error`` event raises :class:`StreamError` once the events before it
        are applied; those after it are not.
        """
        slots = self._slots
        add = self.add
        for event in events:
            if type(event) is ContentBlockDeltaEvent:
                delta, index = event.delta, event.index
                if type(delta) is TextDelta and 0 <= index < len(slots):
                    slots[index].parts.append(delta.text)  # add()'s hot path, inline
                    continue
            add(event)

    def _delta(self, slot: _Slot, delta: object) -> None:
        if isinstance(delta, TextDelta):
            slot.parts.append(delta.text)
        elif isinstance(delta, InputJSONDelta):
            slot.parts.append(delta.partial_json)
        elif isinstance(delta, ThinkingDelta):
            slot.parts.append(delta.thinking)
        elif isinstance(delta, SignatureDelta):
            if isinstance(slot.block, ThinkingBlock):
                slot.block.signature = delta.signature
        elif isinstance(delta, CitationsDelta):
            if slot.citations is None:
                slot.citations = []
            slot.citations.append(delta.citation)
        # Unknown delta types are ignored, as the API asks.

    def _on_message_start(self, event: MessageStartEvent) -> None:
        if self._message is not None:
            raise ProtocolError("a second message_start in one stream")
        # Copies: the fold updates these, and the caller may still hold (or yield) the event.
        message = event.message
        self._message = msgspec.structs.replace(
            message, usage=msgspec.structs.replace(message.usage)
        )

    def _on_block_start(self, event: ContentBlockStartEvent) -> None:
        self._require_start("content_block_start")
        index, block = event.index, event.content_block
        if index != len(self._slots):
            raise ProtocolError(f"content_block_start index {index}, expected {len(self._slots)}")
        if isinstance(block, ToolUseBlock | ServerToolUseBlock | ThinkingBlock):
            block = msgspec.structs.replace(block)  # its input or signature is set later
        slot = _Slot(block)
        if isinstance(block, TextBlock) and block.text:
            slot.parts.append(block.text)
        elif isinstance(block, ThinkingBlock) and block.thinking:
            slot.parts.append(block.thinking)
        self._slots.append(slot)

    def _on_block_stop(self, event: ContentBlockStopEvent) -> None:
        slot = self._slot(event.index)
        slot.done = True
        if isinstance(slot.block, ToolUseBlock | ServerToolUseBlock):
            self._finish_tool_input(slot)

    def _on_message_delta(self, event: MessageDeltaEvent) -> None:
        message = self._require_start("message_delta")
        self.ended = True
        delta, usage = event.delta, event.usage
        message.stop_reason = delta.stop_reason
        message.stop_sequence = delta.stop_sequence
        u = message.usage
        u.output_tokens = usage.output_tokens
        if usage.input_tokens is not None:
            u.input_tokens = usage.input_tokens
        if usage.cache_creation_input_tokens is not None:
            u.cache_creation_input_tokens = usage.cache_creation_input_tokens
        if usage.cache_read_input_tokens is not None:
            u.cache_read_input_tokens = usage.cache_read_input_tokens

    def _on_message_stop(self, event: MessageStopEvent) -> None:
        self._require_start("message_stop")
        self.done = True

    def _on_error(self, event: ErrorEvent) -> None:
        raise StreamError(event.error.message, type=event.error.type, request_id=self.request_id)

    # ----------------------------------------------------------------- output

    @property
    def started(self) -> bool:
        return self._message is not None

    @property
    def whole(self) -> bool:
        """Everything but ``message_stop`` came: the stop reason, the final usage, every
        block closed and sound. ``message_stop`` carries nothing more, so a stream cut
        here has lost nothing."""
        return self.done or (self.ended and not self.incomplete)

    @property
    def incomplete(self) -> list[int]:
        """Indices of blocks that must not be trusted: never stopped, or bad tool JSON."""
        return [i for i, s in enumerate(self._slots) if not s.done or not s.json_ok]

    @property
    def text(self) -> str:
        """Text received so far across all text blocks."""
        return "".join("".join(s.parts) for s in self._slots if isinstance(s.block, TextBlock))

    @property
    def message(self) -> Message:
        """A snapshot of the message as received so far."""
        base = self._require_start("snapshot")
        content: list[KnownBlock] = []
        for slot in self._slots:
            block = slot.block
            if isinstance(block, TextBlock):
                block = TextBlock(text="".join(slot.parts), citations=slot.citations)
            elif isinstance(block, ThinkingBlock):
                block = ThinkingBlock(thinking="".join(slot.parts), signature=block.signature)
            elif isinstance(block, ToolUseBlock | ServerToolUseBlock) and not slot.done:
                block = type(block)(id=block.id, name=block.name, input=_partial(slot))
            content.append(block)
        return msgspec.structs.replace(
            base, content=content, usage=msgspec.structs.replace(base.usage)
        )

    # ----------------------------------------------------------------- helpers

    def _require_start(self, what: str) -> Message:
        if self._message is None:
            raise ProtocolError(f"{what} before message_start")
        return self._message

    def _slot(self, index: int) -> _Slot:
        if not 0 <= index < len(self._slots):
            raise ProtocolError(f"event for block {index}, which has not started")
        return self._slots[index]

    def _finish_tool_input(self, slot: _Slot) -> None:
        block = slot.block
        assert isinstance(block, ToolUseBlock | ServerToolUseBlock)
        raw = "".join(slot.parts)
        if not raw.strip():
            block.input = block.input or {}
            return
        try:
            block.input = _json_decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            slot.json_ok = False
            block.input = {}


def _partial(slot: _Slot) -> dict[str, Any]:
    try:
        return _json_decoder.decode("".join(slot.parts))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {}


_HANDLERS: dict[type, Any] = {
    MessageStartEvent: Accumulator._on_message_start,
    ContentBlockStartEvent: Accumulator._on_block_start,
    ContentBlockStopEvent: Accumulator._on_block_stop,
    MessageDeltaEvent: Accumulator._on_message_delta,
    MessageStopEvent: Accumulator._on_message_stop,
    ErrorEvent: Accumulator._on_error,
}


def accumulate(events: Iterable[StreamEvent]) -> Message:
    """Fold a whole event list into the final message."""
    acc = Accumulator()
    for event in events:
        acc.add(event)
    return acc.message
