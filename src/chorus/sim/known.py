"""What the simulator has already worked out about a message, by the message's JSON.

Every call of a conversation resends all its earlier messages, so a simulator that checks
and counts each one afresh costs more per call the longer the conversation runs (about
30 µs per earlier exchange, measured: one core of it then serves a fifth of the calls at
fifty exchanges that it serves at the first). What a message comes to on its own (that it
breaks no rule about it alone, its tool calls and results, its cache breakpoints, its
token segments) depends on nothing else, so it is worked out once and found again by the
message's JSON, which is cheap to make. A call then checks what spans its messages, and
its newest message in full. Bounded: past ``most`` messages the memory starts afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["KnownMessages"]

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode


class KnownMessages(Generic[T]):
    """``learn(message)`` says what a message comes to, or None if it breaks a rule alone."""

    def __init__(self, learn: Callable[[dict[str, Any]], T | None], most: int = 50_000) -> None:
        self._learn = learn
        self._known: dict[bytes, T] = {}
        self._most = most

    def __len__(self) -> int:
        return len(self._known)

    def earlier(self, messages: list[Any]) -> list[T] | None:
        """What is known of each message but the last (learned now where new), or None if
        one of them breaks a rule on its own: the caller then checks them all in full."""
        known = self._known
        out: list[T] = []
        for message in messages[:-1]:
            if not isinstance(message, dict):
                return None
            key = _encode(message)
            found = known.get(key)
            if found is None:
                found = self._learn(message)
                if found is None:
                    return None
                if len(known) >= self._most:
                    known.clear()
                known[key] = found
            out.append(found)
        return out
