"""A request's messages together with the JSON they are sent as. Pure.

A long conversation's request is mostly messages sent before, unchanged, each decoded
from JSON that is sent again as it is. Finding that JSON is a walk over the whole
conversation in Python at every call, a cost that grows with the session, unless whoever
laid the messages out kept it: the context manager does, from call to call, and hands the
call a :class:`SentMessages`, the list of messages (what code reads) that also carries
``json``, the same messages as sent (each one's own JSON as a ``msgspec.Raw``, or the
message itself where it has none), and ``marked``, whether any of them carries a
``cache_control``. The client sends ``json`` without looking at each message; prompt
caching skips its search for markers when ``marked`` says there are none.

Whoever changes an entry of one changes the other; a plain list is always good too.
"""

from __future__ import annotations

from typing import Any

from msgspec import Raw

__all__ = ["SentMessages", "sendable"]


class SentMessages(list):  # type: ignore[type-arg]
    """Messages, with ``json`` (what each is sent as, in the same order) and ``marked``
    (whether any carries a ``cache_control``; None: not known)."""

    __slots__ = ("json", "marked")

    def __init__(
        self, messages: Any = (), json: list[Any] | None = None, marked: bool | None = None
    ) -> None:
        super().__init__(messages)
        self.json: list[Any] | None = json
        self.marked = marked


def sendable(message: Any) -> Any:
    """What a message is sent as: the JSON it carries (``message.json``), or itself."""
    found = getattr(message, "json", None)
    return found if type(found) is Raw else message
