"""Turn a planned reply into what the API sends: a :class:`Rendered` reply, whose bytes
(a JSON message or an SSE event stream) come from :mod:`chorus.protocol.wire`.

This is where ``max_tokens``, ``stop_sequences`` and the in-band faults
(``bad_tool_json``, ``max_tokens_tool``, ``stop``) shape the reply, so the JSON
and the streamed forms of one reply always agree.
"""

from __future__ import annotations

from typing import Any

import msgspec

from chorus.protocol.wire import RBlock, Rendered
from chorus.sim.faults import FaultStep
from chorus.sim.plan import Plan
from chorus.sim.tokens import text_tokens

__all__ = ["render"]

_encode = msgspec.json.Encoder().encode


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
