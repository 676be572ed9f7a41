"""What travels between agents: addressed envelopes, never an implicit broadcast. Pure.

An :class:`Envelope` names one recipient: an agent, a capability (whoever the registry says
can do it), or a topic that has explicit subscribers. Its id is derived from what it says
(sender, kind, correlation and the sender's sequence number), so a message sent twice has
one id, and an :class:`Inbox` applies it once: delivery may be at least once, its effect
is exactly once. A hop count and a limit end any delegation cycle; a deadline says when
it stops being worth delivering. A large payload travels by reference.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = ["Address", "Envelope", "HopLimitError", "Inbox", "envelope_id"]

Kind = Literal["agent", "capability", "topic"]


@dataclass(frozen=True, slots=True)
class Address:
    """One recipient: ``Address("agent", "coder")``, ``Address("capability", "python")`` or
    ``Address("topic", "reviews")``."""

    kind: Kind
    name: str

    def __post_init__(self) -> None:
        if self.kind not in ("agent", "capability", "topic"):
            raise ValueError(f"an address is an agent, a capability or a topic, not {self.kind!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("an address needs a name")

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class HopLimitError(ValueError):
    """A message was passed on more times than its hop limit allows (a delegation cycle)."""


def envelope_id(sender: str, kind: str, correlation: str, sequence: int) -> str:
    """The id of the ``sequence``-th message of ``kind`` that ``sender`` sent for
    ``correlation``: the same whenever it is sent again."""
    digest = hashlib.sha256(f"{sender}\x00{kind}\x00{correlation}\x00{sequence}".encode())
    return digest.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message between agents."""

    id: str
    kind: str  # what it is: task, bid, award, result, answer, ... (counted per kind)
    sender: str
    to: Address
    correlation: str  # the task or question it belongs to
    payload: Any = None
    ref: str | None = None  # where a large payload is kept, instead of ``payload``
    hops: int = 0
    max_hops: int = 8
    deadline: float | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def forwarded(self, by: str, to: Address) -> Envelope:
        """The envelope passed on by ``by`` to ``to``: one hop more, or HopLimitError."""
        if self.hops + 1 > self.max_hops:
            raise HopLimitError(
                f"message {self.id} ({self.kind}) reached its hop limit of {self.max_hops} "
                f"at {by}: a delegation cycle?"
            )
        return replace(self, to=to, hops=self.hops + 1, headers={**self.headers, "via": by})

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


class Inbox:
    """Deduplication for one recipient: ``accept(envelope)`` is True the first time an id is
    seen, False after. It remembers the last ``memory`` ids (redeliveries come soon after
    the original, so a bounded memory is enough, and it never grows without end)."""

    def __init__(self, memory: int = 10_000) -> None:
        if memory < 1:
            raise ValueError("an inbox remembers at least one id")
        self.memory = memory
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0

    def forget(self, envelope: Envelope) -> None:
        """Take back an ``accept`` whose delivery did not happen, so a resend is applied."""
        self._seen.pop(envelope.id, None)

    def accept(self, envelope: Envelope) -> bool:
        if envelope.id in self._seen:
            self._seen.move_to_end(envelope.id)
            self.duplicates += 1
            return False
        self._seen[envelope.id] = None
        if len(self._seen) > self.memory:
            self._seen.popitem(last=False)
        return True
