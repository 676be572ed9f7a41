"""Who can do what, and who is alive: capabilities, load and health, with heartbeats.

An agent advertises its capabilities (name, description, input schema) and heartbeats its
load; one that stops heartbeating is out of every lookup once its TTL passes, so work is
never allocated to it. Lookup is by capability name, or, for a task that names none, by
how well a capability's description matches the task's words (BM25, the same ranking
recall uses). A small protocol (:class:`Registry`): this one is in-process; a Redis one
plugs in behind the same methods.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chorus.agent.capability import Capability
from chorus.context.recall import BM25
from chorus.errors import ConfigError

__all__ = ["Capability", "LocalRegistry", "Member", "Registry"]


@dataclass(slots=True)
class Member:
    """What the registry knows of one agent."""

    name: str
    capabilities: tuple[Capability, ...]
    load: float = 0.0  # share of its concurrency in use, 0..1
    queue: int = 0  # tasks waiting for it
    price: float = 0.0  # what a task costs it (relative)
    seen: float = 0.0  # when it last heartbeated
    ttl: float = 30.0
    tags: dict[str, str] = field(default_factory=dict)

    def alive(self, now: float) -> bool:
        return now - self.seen <= self.ttl


class Registry(Protocol):
    """What a team needs of a registry."""

    def advertise(
        self, name: str, capabilities: Sequence[Capability], *, ttl: float = 30.0
    ) -> None: ...

    def heartbeat(self, name: str, *, load: float = 0.0, queue: int = 0) -> None: ...

    def capable(self, capability: str) -> list[Member]: ...

    def match(self, task: str, k: int = 3) -> list[tuple[Member, Capability]]: ...


class LocalRegistry:
    """A registry in this process, reading time from ``clock`` (seconds)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._members: dict[str, Member] = {}
        self._ranker = BM25(min_score=0.2)

    def advertise(
        self,
        name: str,
        capabilities: Sequence[Capability],
        *,
        ttl: float = 30.0,
        price: float = 0.0,
    ) -> None:
        """Join (or update what it offers); counts as a heartbeat."""
        if not isinstance(name, str) or not name:
            raise ConfigError("an agent needs a name to join a registry")
        if ttl <= 0:
            raise ConfigError("a registry TTL must be > 0 seconds")
        caps = tuple(capabilities)
        if len({c.name for c in caps}) != len(caps):
            raise ConfigError(f"agent {name!r} advertises a capability twice")
        member = self._members.get(name)
        if member is None:
            self._members[name] = Member(name, caps, price=price, seen=self._clock(), ttl=ttl)
        else:
            member.capabilities, member.ttl, member.price = caps, ttl, price
            member.seen = self._clock()

    def heartbeat(self, name: str, *, load: float = 0.0, queue: int = 0) -> None:
        member = self._members.get(name)
        if member is None:
            raise ConfigError(f"agent {name!r} has not advertised itself to the registry")
        member.load, member.queue, member.seen = load, queue, self._clock()

    def leave(self, name: str) -> None:
        self._members.pop(name, None)

    def alive(self, name: str) -> bool:
        member = self._members.get(name)
        return member is not None and member.alive(self._clock())

    def member(self, name: str) -> Member | None:
        return self._members.get(name)

    def capable(self, capability: str) -> list[Member]:
        """The live agents that advertise ``capability``, by name."""
        now = self._clock()
        return sorted(
            (
                m
                for m in self._members.values()
                if m.alive(now) and any(c.name == capability for c in m.capabilities)
            ),
            key=lambda m: m.name,
        )

    def match(self, task: str, k: int = 3) -> list[tuple[Member, Capability]]:
        """The live agents' capabilities whose name and description best match ``task``."""
        now = self._clock()
        offers = [
            (m, c)
            for m in sorted(self._members.values(), key=lambda m: m.name)
            if m.alive(now)
            for c in m.capabilities
        ]
        documents = [_stems(f"{c.name} {c.description}") for _, c in offers]
        return [offers[i] for i, _ in self._ranker.rank(_stems(task), documents, k)]

    def names(self) -> list[str]:
        return sorted(self._members)


_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A word without its commonest English endings, so "fixes" and "failing test" find
    "fix" and "fails tests": descriptions and tasks rarely use the same form of a word."""
    for ending, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)] + keep
    return word


def _stems(text: str) -> str:
    return " ".join(_stem(w) for w in _WORD.findall(text.lower()))
