"""Fit a conversation into a token limit without ever making it unsendable. Pure.

``fit(messages, limit=...)`` returns a new list (the input is never changed):

* whole *exchanges* are dropped from the front, oldest first: an exchange
  starts at a user message that is not a tool result and runs to the next one,
  so a ``tool_use`` is never separated from its ``tool_result``;
* the latest exchange always stays; if it is still too big, its largest tool
  results are cut down, with a note the model can read saying how much was
  left out;
* the result is checked against the transcript rules before it is returned.

Token counts come from an estimator (``estimate(message) -> int``); the
default is :func:`estimate_message`, a conservative character-based estimate
that :mod:`chorus.context.tokens` calibrates against real ``usage``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from chorus.errors import ContextOverflowError
from chorus.protocol import transcript

__all__ = [
    "ContextOverflowError",
    "Window",
    "cap_tool_results",
    "estimate_message",
    "exchanges",
    "fit",
]

_encode = msgspec.json.Encoder().encode
_TRUNCATED = "characters of this tool result were left out to fit the context window"
TRUNCATION_NOTE = "[{omitted} " + _TRUNCATED + "; the session keeps the whole result]"
_NOTE = re.compile(r"\n\[(\d+) " + re.escape(_TRUNCATED) + r"[^\]]*\]$")
IMAGE_TOKENS = 1_600


@dataclass(frozen=True, slots=True)
class Window:
    messages: list[dict[str, Any]]
    tokens: int  # estimated
    dropped: int  # messages left out from the front
    truncated: int  # tool results cut down


def estimate_message(message: dict[str, Any]) -> int:
    """A deliberately high estimate: 3.5 characters a token, plus per-message overhead."""
    content = message.get("content")
    if isinstance(content, str):
        return 4 + int(len(content) / 3.5) + 1
    total = 4
    for block in content or ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "image":
            total += IMAGE_TOKENS
        elif kind == "text":
            total += int(len(block.get("text", "")) / 3.5) + 1
        elif kind == "tool_result":
            inner = block.get("content", "")
            total += 6 + estimate_message({"content": inner})
        else:
            total += int(len(_encode(block)) / 3.5) + 1
    return total


def exchanges(messages: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    """(start, end) index ranges of the exchanges, in order."""
    starts = [i for i, m in enumerate(messages) if is_prompt(m)]
    if not starts or starts[0] != 0:
        starts = [0, *[s for s in starts if s != 0]]
    bounds = [*starts[1:], len(messages)]
    return list(zip(starts, bounds, strict=True))


def fit(
    messages: Sequence[dict[str, Any]],
    *,
    limit: int,
    estimate: Callable[[dict[str, Any]], int] = estimate_message,
    fixed: int = 0,
    min_tool_result_chars: int = 200,
    keep_from: int | None = None,
) -> Window:
    """The longest suffix of whole exchanges that fits ``limit - fixed`` tokens.

    ``fixed`` is what the request spends outside the messages (system prompt,
    tool definitions); ``limit`` is the input limit minus the reserved output.
    ``keep_from``: messages from this index on are one unit, never split (the turn in
    progress, whose own nudges to the model would otherwise start new exchanges).
    """
    room = limit - fixed
    if room <= 0:
        raise ContextOverflowError(f"the fixed part ({fixed} tokens) leaves no room in {limit}")
    msgs = list(messages)
    if not msgs:
        return Window([], 0, 0, 0)
    costs = [estimate(m) for m in msgs]
    spans = exchanges(msgs)
    if keep_from is not None and 0 <= keep_from < len(msgs):
        spans = [s for s in spans if s[0] <= keep_from]
        spans[-1] = (spans[-1][0], len(msgs))
    # Take exchanges from the newest back while they fit.
    total = 0
    first = len(spans)
    for k in range(len(spans) - 1, -1, -1):
        start, end = spans[k]
        cost = sum(costs[start:end])
        if total + cost > room and k != len(spans) - 1:
            break
        total += cost
        first = k
    start = spans[first][0]
    kept = msgs[start:]
    truncated = 0
    if total > room:
        kept, total, truncated = _shrink(kept, room, estimate, min_tool_result_chars)
    # The input's validity is the caller's; what fit() changed is checked. A suffix that
    # starts at an exchange needs only its first message checked; cut results, everything.
    if truncated:
        problems = transcript.problems(kept, first_only=True)
        if problems:  # pragma: no cover - a bug here must never reach the API
            raise AssertionError(f"fit() built an invalid window: {problems[0]}")
    elif start and not is_prompt(kept[0]):
        raise AssertionError("fit() built a window that does not start with a prompt")
    return Window(kept, total, start, truncated)


def _shrink(
    kept: list[dict[str, Any]],
    room: int,
    estimate: Callable[[dict[str, Any]], int],
    floor: int,
) -> tuple[list[dict[str, Any]], int, int]:
    """Cut the largest tool results (newest exchange only) until the window fits.

    A result may be cut more than once (one cut can fall short when the estimate is
    calibrated below its base rate, and a result may arrive already capped); each cut takes
    at least a quarter of what is left, so this ends at the floor."""
    kept = [dict(m) for m in kept]
    cut: set[tuple[int, int]] = set()
    while True:
        total = sum(estimate(m) for m in kept)
        if total <= room:
            return kept, total, len(cut)
        target = _largest_tool_result(kept, floor)
        if target is None:
            raise ContextOverflowError(
                f"the latest exchange needs about {total} tokens; the limit leaves {room}"
            )
        mi, bi, text = target
        body, omitted = _split_note(text)
        over = total - room
        keep_chars = max(floor, len(body) - max(int(over * 3.5) + 200, len(body) // 4))
        omitted += len(body) - keep_chars
        content = list(kept[mi]["content"])
        block = dict(content[bi])
        block["content"] = body[:keep_chars] + "\n" + TRUNCATION_NOTE.format(omitted=omitted)
        content[bi] = block
        kept[mi] = {**kept[mi], "content": content}
        cut.add((mi, bi))


def _split_note(text: str) -> tuple[str, int]:
    """A tool result's text without a truncation note, and how much that note said was cut."""
    found = _NOTE.search(text)
    if found is None:
        return text, 0
    return text[: found.start()], int(found.group(1))


def _largest_tool_result(messages: list[dict[str, Any]], floor: int) -> tuple[int, int, str] | None:
    best: tuple[int, int, str] | None = None
    for mi, m in enumerate(messages):
        content = m.get("content")
        if m.get("role") != "user" or not isinstance(content, list):
            continue
        for bi, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "tool_result":
                continue
            text = block.get("content")
            if isinstance(text, list):
                text = "\n".join(b.get("text", "") for b in text if isinstance(b, dict))
            if not isinstance(text, str) or len(_split_note(text)[0]) <= floor + 50:
                continue
            if best is None or len(text) > len(best[2]):
                best = (mi, bi, text)
    return best


def cap_tool_results(messages: Sequence[dict[str, Any]], max_chars: int) -> list[dict[str, Any]]:
    """Cut every tool result's text longer than ``max_chars``, saying so where the model reads it.

    Deterministic, so the same history always gives the same bytes (and cache hits);
    messages that need no cut are passed through as they are.
    """
    out = []
    for message in messages:
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            out.append(message)
            continue
        blocks = [_capped(b, max_chars) for b in content]
        changed = any(a is not b for a, b in zip(blocks, content, strict=True))
        out.append({**message, "content": blocks} if changed else message)
    return out


def _capped(block: Any, max_chars: int) -> Any:
    if not isinstance(block, dict) or block.get("type") != "tool_result":
        return block
    inner = block.get("content")
    if isinstance(inner, str):
        return {**block, "content": _cut(inner, max_chars)} if len(inner) > max_chars else block
    if not isinstance(inner, list):
        return block
    parts = [
        {**b, "text": _cut(b["text"], max_chars)}
        if isinstance(b, dict) and b.get("type") == "text" and len(b.get("text", "")) > max_chars
        else b
        for b in inner
    ]
    if all(a is b for a, b in zip(parts, inner, strict=True)):
        return block
    return {**block, "content": parts}


def _cut(text: str, max_chars: int) -> str:
    body, omitted = _split_note(text)
    keep = max(0, max_chars - 120)
    if len(body) <= keep:
        return text
    return body[:keep] + "\n" + TRUNCATION_NOTE.format(omitted=omitted + len(body) - keep)


def is_prompt(message: dict[str, Any]) -> bool:
    """A user message that is not tool results: where an exchange starts."""
    if message.get("role") != "user":
        return False
    content = message.get("content")
    return not (
        isinstance(content, list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )
