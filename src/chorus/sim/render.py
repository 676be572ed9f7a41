"""Turn a planned reply into the API's bytes: a JSON message or an SSE event stream.

This is where ``max_tokens``, ``stop_sequences`` and the in-band faults
(``bad_tool_json``, ``max_tokens_tool``, ``stop``) shape the reply, so the JSON
and the streamed forms of one reply always agree. Events are built as bytes
directly; this is the simulator's hot path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chorus.sim.faults import FaultStep
from chorus.sim.plan import Plan
from chorus.sim.tokens import text_tokens

__all__ = ["Rendered", "render", "sse_events", "to_json"]

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


def render(
    plan: Plan,
    *,
    max_tokens: int,
    stop_sequences: list[str],
    fault: FaultStep,
    new_id: Any,
    stream: bool,
) -> Rendered:
    """Apply limits and in-band faults to ``plan``; ``new_id(prefix)`` makes ids."""
    blocks: list[RBlock] = []
    for b in plan.blocks:
        if b.kind == "tool_use":
            blocks.append(
                RBlock("tool_use", _encode(b.input).decode(), new_id("toolu_"), b.name, b.input)
            )
        elif b.kind == "thinking":
            blocks.append(RBlock("thinking", b.text, signature=_signature(b.text, new_id)))
        else:
            blocks.append(RBlock("text", b.text))
    stop_reason = plan.stop_reason
    stop_sequence: str | None = None

    if fault.kind == "bad_tool_json":
        for block in blocks:
            if block.kind == "tool_use":
                # Streamed: fragments that never form valid JSON. JSON body: an input
                # that breaks the schema (a JSON body cannot carry unparseable input).
                block.text = block.text[:-1] + ',"oops": }' if stream else "{}"
                block.input = {}
    elif fault.kind == "max_tokens_tool":
        blocks, stop_reason = _cut_mid_tool(blocks)
    elif fault.kind == "stop":
        stop_reason = str(fault.params["reason"])

    # Stop sequences end the reply where the first one appears in text.
    if stop_sequences:
        for i, block in enumerate(blocks):
            if block.kind != "text":
                continue
            hit = min(
                ((block.text.find(s), s) for s in stop_sequences if s and s in block.text),
                default=None,
            )
            if hit is not None:
                block.text = block.text[: hit[0]]
                blocks = blocks[: i + 1]
                stop_reason, stop_sequence = "stop_sequence", hit[1]
                break

    # max_tokens cuts wherever the room runs out, tool input included.
    room = max_tokens
    used = 0
    for i, block in enumerate(blocks):
        cost = text_tokens(block.text)
        if cost > room - used:
            keep = max(0, (room - used) * 4)
            block.text = block.text[:keep]
            if block.kind == "tool_use":
                block.input = _partial_input(block.text)
            blocks = blocks[: i + 1]
            used = room
            stop_reason, stop_sequence = "max_tokens", None
            break
        used += cost
    blocks = [b for b in blocks if b.kind != "text" or b.text or len(blocks) == 1]
    return Rendered(blocks, stop_reason, stop_sequence, max(1, used))


def _cut_mid_tool(blocks: list[RBlock]) -> tuple[list[RBlock], str]:
    for i, block in enumerate(blocks):
        if block.kind == "tool_use":
            block.text = block.text[: max(1, len(block.text) // 2)]
            block.input = _partial_input(block.text)
            return blocks[: i + 1], "max_tokens"
    for block in blocks:
        if block.kind == "text" and block.text:
            block.text = block.text[: max(1, len(block.text) // 2)]
            break
    return blocks, "max_tokens"


def _partial_input(text: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _signature(text: str, new_id: Any) -> str:
    return "Sig" + str(new_id("")) + "=="


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
    start_usage = dict(usage)
    start_usage["output_tokens"] = 1
    out: list[tuple[bytes, int]] = [
        (
            b"event: message_start\ndata: "
            + _encode(
                {
                    "type": "message_start",
                    "message": {
                        "model": model,
                        "id": message_id,
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": start_usage,
                    },
                }
            )
            + b"\n\n",
            0,
        )
    ]
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
        out.append(
            (
                b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
                + idx
                + b"}\n\n",
                0,
            )
        )
    final_usage = {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"],
        "output_tokens": r.output_tokens,
    }
    out.append(
        (
            b"event: message_delta\ndata: "
            + _encode(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": r.stop_reason, "stop_sequence": r.stop_sequence},
                    "usage": final_usage,
                }
            )
            + b"\n\n",
            0,
        )
    )
    out.append((MESSAGE_STOP, 0))
    return out
