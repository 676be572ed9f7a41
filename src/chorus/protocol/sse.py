"""Incremental Server-Sent Events decoding: ``feed(bytes) -> events``, no I/O.

Two layers, each usable alone:

* :class:`SSEDecoder` turns arbitrary byte chunks into ``(event, data)`` frames,
  following the SSE rules the Messages API relies on: frames end at a blank line
  (``\\n\\n``, ``\\r\\r`` or ``\\r\\n\\r\\n``, even when split across chunks), lines
  starting with ``:`` are comments, several ``data:`` lines join with ``\\n``.
* :func:`parse_event` turns one frame into a typed event, choosing the decoder
  by the ``event:`` name as the official SDK does (reference §4.1), so each
  event's JSON is parsed exactly once, straight into its struct.

:class:`EventDecoder` chains the two.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from chorus.errors import ProtocolError
from chorus.protocol.types import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    StreamEvent,
    UnknownBlock,
    UnknownDelta,
    UnknownEvent,
    block_from_dict,
    decode_message,
)

__all__ = ["EventDecoder", "SSEDecoder", "SSEFrame", "parse_event"]


class SSEFrame(NamedTuple):
    event: str | None
    data: bytes


class SSEDecoder:
    """Bytes in, complete frames out. Holds only the unfinished tail between calls."""

    __slots__ = ("_buf", "_pending_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[SSEFrame]:
        frames: list[SSEFrame] = []
        for block in self.blocks(chunk):
            frame = _parse_block(block)
            if frame is not None:
                frames.append(frame)
        return frames

    def blocks(self, chunk: bytes) -> list[bytes]:
        """The raw text of each complete frame in ``chunk`` (line ends normalized)."""
        if not chunk:
            return []  # must not forget a pending "\r" (its "\n" may come next)
        if self._pending_cr:
            # A "\r" ended the previous chunk and was already turned into "\n":
            # a "\n" starting this one belongs to the same line break.
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
            self._pending_cr = False
        if b"\r" in chunk:
            self._pending_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + chunk if self._buf else chunk
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return []
        self._buf = buf[end + 2 :]
        return buf[:end].split(b"\n\n")

    def flush(self) -> list[SSEFrame]:
        """Frames left when the body ended without a final blank line."""
        buf, self._buf = self._buf, b""
        frame = _parse_block(buf) if buf.strip(b"\n") else None
        return [frame] if frame is not None else []

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the end of a frame."""
        return len(self._buf)


def _parse_block(block: bytes) -> SSEFrame | None:
    # Fast path for the shape every Messages API event has: one event line, one data line.
    if block[:7] == b"event: ":
        nl = block.find(b"\n")
        if block[nl + 1 : nl + 7] == b"data: " and block.find(b"\n", nl + 1) < 0:
            return SSEFrame(block[7:nl].decode(), block[nl + 7 :])
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[:1] == b":":
            continue
        field, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace")
        # "id" and "retry" carry nothing the Messages API uses.
    if not data:
        return None
    return SSEFrame(event, data[0] if len(data) == 1 else b"\n".join(data))


_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "content_block_delta": msgspec.json.Decoder(ContentBlockDeltaEvent),
    "content_block_start": msgspec.json.Decoder(ContentBlockStartEvent),
    "content_block_stop": msgspec.json.Decoder(ContentBlockStopEvent),
    "message_start": msgspec.json.Decoder(MessageStartEvent),
    "message_delta": msgspec.json.Decoder(MessageDeltaEvent),
    "message_stop": msgspec.json.Decoder(MessageStopEvent),
    "ping": msgspec.json.Decoder(PingEvent),
    "error": msgspec.json.Decoder(ErrorEvent),
}

_PING = PingEvent()


def parse_event(frame: SSEFrame) -> StreamEvent:
    """One typed event per frame; unknown names and types are tolerated, not fatal."""
    name = frame.event
    if name is None:
        # The SDKs drop data-only frames; we read the type from the data instead.
        name = _type_of(frame.data)
    if name == "ping":
        return _PING
    decoder = _DECODERS.get(name)
    if decoder is None:
        return UnknownEvent(type=name, data=_loads(frame.data))
    try:
        event: StreamEvent = decoder.decode(frame.data)
    except msgspec.ValidationError:
        return _lenient(name, frame.data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"malformed JSON in SSE event {name!r}: {exc}") from exc
    return event


def _lenient(name: str, data: bytes) -> StreamEvent:
    """Slow path for a known event carrying an unknown block or delta type."""
    raw = _loads(data)
    if not isinstance(raw, dict):
        raise ProtocolError(f"SSE event {name!r} is not a JSON object")
    try:
        if name == "message_start":
            message = raw.get("message")
            if not isinstance(message, dict):
                raise TypeError("no message object")
            return MessageStartEvent(message=decode_message(msgspec.json.encode(message)))
        if name == "content_block_start":
            block = block_from_dict(raw.get("content_block") or {})
            if isinstance(block, UnknownBlock):
                event = ContentBlockStartEvent(index=int(raw["index"]), content_block=None)  # type: ignore[arg-type]
                event.content_block = block  # type: ignore[assignment]
                return event
            return ContentBlockStartEvent(index=int(raw["index"]), content_block=block)
        if name == "content_block_delta":
            delta = raw.get("delta") or {}
            event2 = ContentBlockDeltaEvent(index=int(raw["index"]), delta=None)  # type: ignore[arg-type]
            event2.delta = UnknownDelta(delta)  # type: ignore[assignment]
            return event2
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"SSE event {name!r} has an unexpected shape: {exc}") from exc
    raise ProtocolError(f"SSE event {name!r} has an unexpected shape: {data[:200]!r}")


def _loads(data: bytes) -> Any:
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"malformed JSON in SSE data: {exc}") from exc


def _type_of(data: bytes) -> str:
    raw = _loads(data)
    if isinstance(raw, dict) and isinstance(raw.get("type"), str):
        return str(raw["type"])
    return ""


_BY_NAME: dict[bytes, msgspec.json.Decoder[Any]] = {k.encode(): v for k, v in _DECODERS.items()}
_batch_decoder: msgspec.json.Decoder[list[StreamEvent]] = msgspec.json.Decoder(
    list[
        MessageStartEvent
        | ContentBlockStartEvent
        | ContentBlockDeltaEvent
        | ContentBlockStopEvent
        | MessageDeltaEvent
        | MessageStopEvent
        | PingEvent
        | ErrorEvent
    ]
)


class EventDecoder:
    """Bytes in, typed stream events out."""

    __slots__ = ("_sse",)

    def __init__(self) -> None:
        self._sse = SSEDecoder()

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        blocks = self._sse.blocks(chunk)
        if not blocks:
            return []
        # Fastest path: every frame is "event: NAME\ndata: JSON" of a known type, so
        # the whole chunk decodes in one msgspec call. Anything else (comments,
        # multi-line data, unknown types) fails a check and takes the paths below.
        # (The API guarantees the data's "type" equals the event name.)
        datas = [b.partition(b"\ndata: ")[2] for b in blocks if b[:7] == b"event: "]
        if len(datas) == len(blocks) and all(datas):
            try:
                batch: list[StreamEvent] = _batch_decoder.decode(b"[" + b",".join(datas) + b"]")
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass
            else:
                return batch
        events: list[StreamEvent] = []
        for block in blocks:
            # Fast path: "event: NAME\ndata: JSON", a known name, JSON that fits its type.
            if block[:7] == b"event: ":
                name, sep, data = block[7:].partition(b"\ndata: ")
                if sep and b"\n" not in data:
                    if name == b"ping":
                        events.append(_PING)
                        continue
                    decoder = _BY_NAME.get(name)
                    if decoder is not None:
                        try:
                            events.append(decoder.decode(data))
                            continue
                        except (msgspec.ValidationError, msgspec.DecodeError):
                            pass  # the slow path below says what is wrong, or tolerates it
            frame = _parse_block(block)
            if frame is not None:
                events.append(parse_event(frame))
        return events

    def flush(self) -> list[StreamEvent]:
        return [parse_event(f) for f in self._sse.flush()]
