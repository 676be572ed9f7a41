"""What the simulator has already worked out about a message, found by the message's JSON.

Every call of a conversation resends all its earlier messages, so a simulator that decodes,
checks and counts each one afresh costs more per call the longer the conversation runs
(measured: about 30 µs per earlier exchange, so that one core of it served a fifth as many
calls at fifty exchanges as at the first). What a message comes to on its own (the decoded
message, that it breaks no rule about it alone, its tool calls and results, its cache
breakpoints, its token segments) depends on nothing else. So a request body is read with
each message left as its JSON; a message seen before is found by those bytes, decoded and
worked out once. A call then decodes and checks its newest message in full, and only what
spans messages (roles, tool pairing) across the rest. Bounded: past ``most`` messages the
memory starts afresh. The decoded messages it hands out are shared: read, never change them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["KnownMessages"]

T = TypeVar("T")
_decode = msgspec.json.decode
_fields = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_items = msgspec.json.Decoder(list[msgspec.Raw]).decode


class KnownMessages(Generic[T]):
    """``learn(message)`` says what a decoded message comes to, or None if it breaks a rule
    on its own (it is then not kept)."""

    def __init__(self, learn: Callable[[dict[str, Any]], T | None], most: int = 50_000) -> None:
        self._learn = learn
        self._known: dict[bytes, tuple[dict[str, Any], T]] = {}
        self._most = most

    def __len__(self) -> int:
        return len(self._known)

    def read(self, raw: bytes) -> tuple[Any, list[T] | None]:
        """The request body decoded, and what is known of each of its messages but the
        last (None if the body has no list of messages, or one of them breaks a rule on its
        own: the caller checks them all in full). Malformed JSON raises msgspec.DecodeError
        exactly as decoding it whole does."""
        try:
            fields = _fields(raw)
            listed = fields.get("messages")
            parts = _items(listed) if listed is not None else None
        except (msgspec.DecodeError, msgspec.ValidationError):
            return _decode(raw), None  # (not an object with a list of messages: as it is)
        if parts is None:
            return {k: _decode(v) for k, v in fields.items()}, None
        try:
            body = {k: _decode(v) for k, v in fields.items() if k != "messages"}
            messages, earlier = self._messages(parts)
        except msgspec.DecodeError:
            return _decode(raw), None  # (raises where decoding it whole does)
        # (the fields in the order they came: the first unknown one is the one refused)
        ordered = {k: messages if k == "messages" else body[k] for k in fields}
        return ordered, earlier

    def _messages(self, parts: list[msgspec.Raw]) -> tuple[list[Any], list[T] | None]:
        known = self._known
        messages: list[Any] = []
        earlier: list[T] | None = []
        last = len(parts) - 1
        for i, part in enumerate(parts):
            key = bytes(part)
            found = known.get(key) if i < last else None
            if found is not None:
                messages.append(found[0])
                if earlier is not None:
                    earlier.append(found[1])
                continue
            message = _decode(key)
            messages.append(message)
            if i == last:
                break
            learned = self._learn(message) if isinstance(message, dict) else None
            if learned is None:
                earlier = None  # (the rest is still decoded: the caller checks it all)
                continue
            if len(known) >= self._most:
                known.clear()
            known[key] = (message, learned)
            if earlier is not None:
                earlier.append(learned)
        return messages, earlier
