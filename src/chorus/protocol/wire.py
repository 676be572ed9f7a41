"""A reply as the Messages API's bytes: a JSON message, or an SSE event stream.

One encoder for every part of chorus that speaks as the API: the simulator's replies and
``chorus serve``'s ``POST /v1/messages`` both build a :class:`Rendered` reply and turn it
into bytes here, so the two always use the same grammar: ``message_start``, then per content
block a ``content_block_start``, its deltas and a ``content_block_stop``, then
``message_delta`` and ``message_stop``. Events are built as bytes directly, since this is
the simulator's hot path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

__all__ = [
    "MESSAGE_STOP",
    "PING",
    "RBlock",
    "Rendered",
    "block_stop",
    "error_event",
    "message_delta",
    "message_start",
    "sse_events",
    "text_block_start",
    "text_delta",
    "to_json",
]

_encode = msgspec.json.Encoder().encode
_PIECE = re.compile(r"\s*\S+|\s+")
_JSON_CHUNK = 10


@dataclass(slots=True)
class RBlock:
    kind: str  # text | thinking | tool_use
    text: str = ""  # text, thinking, or the tool input's JSON text
    id: str = ""
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)
    signature: str = ""


@dataclass(slots=True)
class Rendered:
    blocks: list[RBlock]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int


# --------------------------------------------------------------------------- JSON body


def to_json(r: Rendered, *, message_id: str, model: str, usage: dict[str, Any]) -> bytes:
    content: list[dict[str, Any]] = []
    for b in r.blocks:
        if b.kind == "text":
            content.append({"type": "text", "text": b.text})
        elif b.kind == "thinking":
            content.append({"type": "thinking", "thinking": b.text, "signature": b.signature})
        else:
            content.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.input})
    return _encode(
        {
            "model": model,
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "content": content,
            "stop_reason": r.stop_reason,
            "stop_sequence": r.stop_sequence,
            "usage": usage,
        }
    )


# --------------------------------------------------------------------------- SSE

PING = b'event: ping\ndata: {"type": "ping"}\n\n'
MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT_DELTA = _DELTA_HEAD + b'%d,"delta":{"type":"text_delta","text":%s}}\n\n'
_THINKING_DELTA = _DELTA_HEAD + b'%d,"delta":{"type":"thinking_delta","thinking":%s}}\n\n'
_JSON_DELTA = _DELTA_HEAD + b'%d,"delta":{"type":"input_json_delta","partial_json":%s}}\n\n'


def sse_events(
    r: Rendered, *, message_id: str, model: str, usage: dict[str, Any]
) -> list[tuple[bytes, int]]:
    """Every event of the stream with the characters of output it carries (for pacing)."""
    out: list[tuple[bytes, int]] = [(message_start(message_id, model, usage), 0)]
    for index, b in enumerate(r.blocks):
        idx = b"%d" % index
        if b.kind == "text":
            start = b'{"type":"text","text":""}'
        elif b.kind == "thinking":
            start = b'{"type":"thinking","thinking":"","signature":""}'
        else:
            start = (
                b'{"type":"tool_use","id":'
                + _encode(b.id)
                + b',"name":'
                + _encode(b.name)
                + b',"input":{}}'
            )
        out.append(
            (
                b'event: content_block_start\ndata: {"type":"content_block_start","index":'
                + idx
                + b',"content_block":'
                + start
                + b"}\n\n",
                0,
            )
        )
        if index == 0:
            out.append((PING, 0))
        if b.kind == "tool_use":
            pieces = [""] + [
                b.text[i : i + _JSON_CHUNK] for i in range(0, len(b.text), _JSON_CHUNK)
            ]
            for piece in pieces:
                out.append((_JSON_DELTA % (index, _encode(piece)), len(piece)))
        else:
            template = _TEXT_DELTA if b.kind == "text" else _THINKING_DELTA
            for piece in _PIECE.findall(b.text) or ([b.text] if b.text else []):
                out.append((template % (index, _encode(piece)), len(piece)))
            if b.kind == "thinking":
                out.append(
                    (
                        _DELTA_HEAD
                        + idx
                        + b',"delta":{"type":"signature_delta","signature":'
                        + _encode(b.signature)
                        + b"}}\n\n",
                        0,
                    )
                )
        out.append((block_stop(index), 0))
    final_usage = {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "output_tokens": r.output_tokens,
    }
    out.append((message_delta(r.stop_reason, r.stop_sequence, final_usage), 0))
    out.append((MESSAGE_STOP, 0))
    return out


# ------------------------------------------------------------------ one event at a time
# For a reply streamed as it is made (its blocks not known in advance): the same bytes as
# :func:`sse_events` gives for a whole reply.


def message_start(message_id: str, model: str, usage: dict[str, Any]) -> bytes:
    start_usage = dict(usage)
    start_usage["output_tokens"] = 1
    message: dict[str, Any] = {
        "model": model,
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    return (
        b"event: message_start\ndata: "
        + _encode({"type": "message_start", "message": message})
        + b"\n\n"
    )


def text_block_start(index: int) -> bytes:
    return (
        b'event: content_block_start\ndata: {"type":"content_block_start","index":'
        + b"%d" % index
        + b',"content_block":{"type":"text","text":""}}\n\n'
    )


def text_delta(index: int, text: str) -> bytes:
    return _TEXT_DELTA % (index, _encode(text))


def block_stop(index: int) -> bytes:
    return (
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
        + b"%d" % index
        + b"}\n\n"
    )


def message_delta(stop_reason: str, stop_sequence: str | None, usage: dict[str, Any]) -> bytes:
    delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
    body = {"type": "message_delta", "delta": delta, "usage": usage}
    return b"event: message_delta\ndata: " + _encode(body) + b"\n\n"


def error_event(kind: str, message: str) -> bytes:
    """An error inside a stream, as the API sends one (``overloaded_error``, ...)."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return b"event: error\ndata: " + _encode(body) + b"\n\n"
