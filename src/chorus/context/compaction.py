"""Compaction: the oldest turns folded into summaries, in chunks, kept in the session. Pure.

A session's :class:`ContextState` records, beside its full transcript, which
message ranges were summarised (and the summary text); during a run it also
holds which old exchanges were recalled for the prompt in progress.
Summaries are only ever appended, so the prompt prefix they form stays
byte-identical between compactions and the prompt cache keeps reading it.
The transcript itself is never rewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import msgspec

__all__ = [
    "SUMMARY_INSTRUCTION",
    "ContextState",
    "Summary",
    "render",
    "summary_request",
]

log = logging.getLogger("chorus.context")
SUMMARY_SYSTEM = (
    "You write short, factual summaries of conversations for a reader who will continue them. "
    "Keep names, numbers, dates, decisions and open questions; drop pleasantries."
)
SUMMARY_INSTRUCTION = "Summarize the conversation above in at most {words} words."
_TOOL_RESULT_CHARS = 2_000


class Summary(msgspec.Struct, frozen=True):
    """A summary of messages ``start`` to ``end`` of a transcript, standing in for them."""

    start: int  # first message index summarised
    end: int  # one past the last
    text: str


class ContextState(msgspec.Struct):
    """What a session keeps beside its transcript: the summaries and the last recalls."""

    summaries: list[Summary] = msgspec.field(default_factory=list)
    # The prompt in progress -> start indices of the exchanges recalled for it. Decided once
    # per turn so every step of the turn sends the same bytes; not kept after the turn.
    recalls: dict[int, list[int]] = msgspec.field(default_factory=dict)
    # The recalled exchanges' text, by start index, when recall read them from a store
    # rather than from the history in hand: shown as they were found. Not kept either.
    notes: dict[int, str] = msgspec.field(default_factory=dict)

    @property
    def boundary(self) -> int:
        """Messages before this index live in summaries; from here on they are sent verbatim."""
        return self.summaries[-1].end if self.summaries else 0

    def encode(self) -> bytes:
        """JSON of what outlives the turn: the summaries."""
        return msgspec.json.encode(ContextState(self.summaries))

    @classmethod
    def decode(cls, blob: bytes | None) -> ContextState:
        """The stored state; an unreadable one is dropped (the transcript is intact, so the
        window is simply rebuilt from it) rather than failing the session."""
        if not blob:
            return cls()
        try:
            return msgspec.json.decode(blob, type=cls)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("ignoring unreadable context state: %s", exc)
            return cls()

    def copy(self) -> ContextState:
        return ContextState(
            list(self.summaries), {k: list(v) for k, v in self.recalls.items()}, dict(self.notes)
        )


def render(messages: Sequence[dict[str, Any]]) -> str:
    """Messages as plain text ("User: ...", "Assistant: ..."), tool calls shown briefly."""
    lines = []
    for message in messages:
        who = "User" if message.get("role") == "user" else "Assistant"
        content = message.get("content")
        if isinstance(content, str):
            lines.append(f"{who}: {content}")
            continue
        for block in content or ():
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                lines.append(f"{who}: {block['text']}")
            elif kind == "tool_use":
                args = msgspec.json.encode(block.get("input", {})).decode()
                lines.append(f"{who} called {block.get('name')}({args[:_TOOL_RESULT_CHARS]})")
            elif kind == "tool_result":
                lines.append(f"Tool result: {_clip(_result_text(block.get('content')))}")
            elif kind in ("image", "document"):
                lines.append(f"{who}: [{kind}]")
    return "\n".join(lines)


def summary_request(
    messages: Sequence[dict[str, Any]], *, model: str, words: int
) -> dict[str, Any]:
    """The ``messages.create`` parameters that ask a model to summarise ``messages``."""
    text = f"<conversation>\n{render(messages)}\n</conversation>\n\n" + SUMMARY_INSTRUCTION.format(
        words=words
    )
    return {
        "model": model,
        "max_tokens": max(64, words * 2),
        "system": SUMMARY_SYSTEM,
        "messages": [{"role": "user", "content": text}],
    }


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(b.get("text", "")) if b.get("type") == "text" else f"[{b.get('type')}]"
            for b in content
            if isinstance(b, dict)
        )
    return ""


def _clip(text: str) -> str:
    if len(text) <= _TOOL_RESULT_CHARS:
        return text
    return text[:_TOOL_RESULT_CHARS] + f" [... {len(text) - _TOOL_RESULT_CHARS} more characters]"
