"""The simulator's tokenizer: deterministic, cheap, and the same for every endpoint.

There is no real tokenizer offline, so a token is four characters of text,
rounded up per segment (reference §9.4). ``count_tokens``, ``usage`` and the
context-window check all use :func:`segments`, so they always agree. The
prompt is cut into segments in cache order (tools, system, messages), one per
block, because prompt caching works on block boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

__all__ = ["Segment", "canonical", "message_segments", "segments", "text_tokens"]

MESSAGE_OVERHEAD = 3
TOOL_OVERHEAD = 8
TOOLS_PREAMBLE = 150  # the hidden tool-use instructions the API adds
IMAGE_TOKENS = 1_600
REQUEST_OVERHEAD = 4

_encode = msgspec.json.Encoder().encode
_NONE = b"null\x1e"  # the identity of the tools' hidden preamble


def text_tokens(text: str) -> int:
    return (len(text) + 3) // 4


class Segment(NamedTuple):
    """One cacheable unit of the prompt."""

    tokens: int
    canonical: bytes  # the block's identity for the prompt cache (its JSON, marker left out)
    cache_control: dict[str, Any] | None


def segments(
    *,
    tools: list[Any] | None,
    system: Any,
    messages: list[dict[str, Any]],
    earlier: Sequence[Sequence[Segment]] | None = None,
) -> list[Segment]:
    """``earlier``: the segments of each message but the last, already counted (see
    :func:`message_segments`), so a long conversation is not counted afresh every call."""
    out: list[Segment] = []
    if tools:
        out.append(Segment(TOOLS_PREAMBLE, _NONE, None))
        for tool in tools:
            out.append(Segment(_tool_tokens(tool), canonical(tool), _cc(tool)))
    if isinstance(system, str):
        if system:
            out.append(Segment(text_tokens(system), canonical(system), None))
    elif isinstance(system, list):
        for block in system:
            out.append(Segment(_block_tokens(block, True), canonical(block), _cc(block)))
    last = len(messages) - 1
    for i, message in enumerate(messages):
        if earlier is not None and i < last:
            out.extend(earlier[i])
        else:
            # Thinking from earlier assistant turns is not counted (reference §2.3).
            out.extend(message_segments(message, current=i == last))
    return out


def message_segments(message: dict[str, Any], *, current: bool) -> list[Segment]:
    """One message's segments; ``current``: it is the last one, whose thinking counts."""
    role = message.get("role")
    content = message.get("content")
    out = [Segment(MESSAGE_OVERHEAD, canonical(role), None)]
    if isinstance(content, str):
        out.append(Segment(text_tokens(content), canonical(content), None))
    else:
        for block in content or ():
            out.append(Segment(_block_tokens(block, current), canonical(block), _cc(block)))
    return out


def canonical(block: Any) -> bytes:
    """Block identity for the prompt cache: its JSON without the cache marker itself."""
    if isinstance(block, dict) and "cache_control" in block:
        block = {k: v for k, v in block.items() if k != "cache_control"}
    return _encode(block) + b"\x1e"


def _cc(block: Any) -> dict[str, Any] | None:
    if isinstance(block, dict):
        cc = block.get("cache_control")
        if isinstance(cc, dict):
            return cc
    return None


def _tool_tokens(tool: Any) -> int:
    if not isinstance(tool, dict):
        return TOOL_OVERHEAD
    n = TOOL_OVERHEAD + text_tokens(str(tool.get("name", "")))
    n += text_tokens(str(tool.get("description", "")))
    schema = tool.get("input_schema")
    if schema is not None:
        n += text_tokens(_encode(schema).decode())
    return n


def _block_tokens(block: Any, current_turn: bool) -> int:
    if not isinstance(block, dict):
        return 1
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text", "")))
    if kind == "tool_use":
        return (
            4
            + text_tokens(str(block.get("name", "")))
            + text_tokens(_encode(block.get("input", {})).decode())
        )
    if kind == "tool_result":
        return 4 + _content_tokens(block.get("content", ""))
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            return 8 + text_tokens(str(source.get("data", "")))
        if source.get("type") == "content":
            return 8 + _content_tokens(source.get("content", []))
        return 8 + (len(str(source.get("data", ""))) * 3 // 4) // 16  # ~ bytes of PDF / 16
    if kind == "thinking":
        return text_tokens(str(block.get("thinking", ""))) if current_turn else 0
    if kind == "redacted_thinking":
        return 0
    return text_tokens(_encode(block).decode())


def _content_tokens(content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(_block_tokens(b, True) for b in content)
    return 0
