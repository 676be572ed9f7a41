"""Validation shared by every store: a whole transcript once, on load; each turn on its own.

A transcript is checked against the API's rules when it is first loaded. After that, each
committed turn is checked against the one message it extends, so a turn costs the same
however long the session is. (What a one-message view cannot see, such as a tool_use id
that repeats one from long ago, is still caught by the whole check on the next load.)
"""

from __future__ import annotations

from typing import Any

from chorus.errors import CorruptTranscriptError
from chorus.protocol import transcript

__all__ = ["check_turn", "checked"]

# Stands in for everything before the message a turn extends: only that message's role
# and its tool calls bear on whether the turn may follow it.
_EARLIER = {"role": "user", "content": "(earlier turns)"}


def checked(session_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` if the API would accept them as history, else CorruptTranscriptError."""
    if not messages:
        return messages
    found = transcript.problems(messages, first_only=True)
    # History may end with the assistant's reply; only a trailing prefill rule differs.
    if found:
        raise CorruptTranscriptError(f"session {session_id!r}: {found[0]}")
    return messages


def check_turn(
    session_id: str, before: dict[str, Any] | None, turn: list[dict[str, Any]], seq: int
) -> None:
    """Raise CorruptTranscriptError if ``turn``, appended after ``before`` (the last message
    committed, at ``seq``; None for a new session), would make a transcript the API refuses."""
    if not turn:
        return
    if before is None:
        found = transcript.problems(turn, first_only=True)
    elif before.get("role") == "assistant":
        found = transcript.problems([_EARLIER, before, *turn], first_only=True)
    else:
        # A user message last: its tool results answered calls in the message before it,
        # which stands in here as just those calls.
        found = transcript.problems([*_answered(before), before, *turn], first_only=True)
    if found:
        raise CorruptTranscriptError(
            f"session {session_id!r}: the turn after message {seq} is refused: {found[0]}"
        )


def _answered(message: dict[str, Any]) -> list[dict[str, Any]]:
    """What must precede ``message`` for its tool results to pair: the calls they answer."""
    content = message.get("content")
    ids = [
        b.get("tool_use_id")
        for b in (content if isinstance(content, list) else [])
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]
    if not ids:
        return []
    calls: list[dict[str, Any]] = [
        {"type": "tool_use", "id": i, "name": "earlier", "input": {}} for i in ids
    ]
    return [_EARLIER, {"role": "assistant", "content": calls}]
