"""Load-time validation shared by every store."""

from __future__ import annotations

from typing import Any

from chorus.errors import CorruptTranscriptError
from chorus.protocol import transcript

__all__ = ["checked"]


def checked(session_id: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` if the API would accept them as history, else CorruptTranscriptError."""
    if not messages:
        return messages
    found = transcript.problems(messages, first_only=True)
    # History may end with the assistant's reply; only a trailing prefill rule differs.
    if found:
        raise CorruptTranscriptError(f"session {session_id!r}: {found[0]}")
    return messages
