"""The in-process bus: addressed delivery on bounded inboxes, with backpressure and counters.

Every envelope goes to the recipients its address names and no one else: an agent's
inbox, the agents the registry lists for a capability (the bus asks a ``resolve``
callable; the sender usually resolves first and addresses one agent), or a topic's
explicit subscribers. There is no "everyone".

Inboxes are bounded. A sender to a full inbox waits, and fails with
:class:`~chorus.errors.BusFullError` if its envelope's deadline (or the bus's
``send_timeout``) passes first: memory never grows without end. Each recipient
deduplicates by envelope id, so a redelivered envelope is applied once. ``stats()``
counts what was sent, delivered, dropped as a duplicate and refused, by kind.

The bus is a small protocol (:class:`Bus`): this one is in-process; a Redis one plugs in
behind the same methods.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from chorus.errors import BusFullError, ConfigError
from chorus.team.envelope import Envelope, Inbox

__all__ = ["Bus", "LocalBus"]


class Bus(Protocol):
    """What a team needs of a bus."""

    def register(self, agent: str) -> None: ...

    def subscribe(self, topic: str, agent: str) -> None: ...

    async def send(self, envelope: Envelope) -> int:
        """Deliver to every recipient the address names; returns how many got it."""
        ...

    async def receive(self, agent: str, wait: float | None = None) -> Envelope | None: ...

    def pending(self, agent: str) -> int:
        """Envelopes waiting in ``agent``'s inbox."""
        ...

    def stats(self) -> dict[str, dict[str, int]]: ...


class LocalBus:
    """A bus in this process: one bounded queue per agent."""

    def __init__(
        self,
        *,
        capacity: int = 256,
        send_timeout: float = 5.0,
        resolve: Callable[[str], list[str]] | None = None,
        clock: Callable[[], float] | None = None,
        observe: Callable[[str, str], None] | None = None,
    ) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ConfigError("LocalBus(capacity=...) must be at least 1")
        if send_timeout <= 0:
            raise ConfigError("LocalBus(send_timeout=...) must be > 0 seconds")
        self.capacity = capacity
        self.send_timeout = send_timeout
        self.resolve = resolve
        self._clock = clock
        self._observe = observe  # (outcome, kind), e.g. TeamMetrics.message
        self._queues: dict[str, asyncio.Queue[Envelope]] = {}
        self._inboxes: dict[str, Inbox] = {}
        self._topics: dict[str, set[str]] = {}
        self._counts: dict[str, Counter[str]] = {
            k: Counter() for k in ("sent", "delivered", "duplicate", "refused", "expired")
        }

    def register(self, agent: str) -> None:
        if agent not in self._queues:
            self._queues[agent] = asyncio.Queue(self.capacity)
            self._inboxes[agent] = Inbox()

    def subscribe(self, topic: str, agent: str) -> None:
        self.register(agent)
        self._topics.setdefault(topic, set()).add(agent)

    def recipients(self, envelope: Envelope) -> list[str]:
        to = envelope.to
        if to.kind == "agent":
            return [to.name] if to.name in self._queues else []
        if to.kind == "topic":
            return sorted(self._topics.get(to.name, ()))
        if self.resolve is None:
            return []
        return [a for a in self.resolve(to.name) if a in self._queues]

    async def send(self, envelope: Envelope) -> int:
        self._count("sent", envelope.kind)
        now = self._now()
        if envelope.expired(now):
            self._count("expired", envelope.kind)
            return 0
        delivered = 0
        for agent in self.recipients(envelope):
            if not self._inboxes[agent].accept(envelope):
                self._count("duplicate", envelope.kind)
                continue
            wait = self.send_timeout
            if envelope.deadline is not None:
                wait = min(wait, max(0.0, envelope.deadline - now))
            queue = self._queues[agent]
            try:
                if queue.full():  # (asyncio.timeout: a cancel is never lost, as wait_for may)
                    async with asyncio.timeout(wait):
                        await queue.put(envelope)
                else:
                    queue.put_nowait(envelope)
            except TimeoutError:
                self._inboxes[agent].forget(envelope)  # not applied: a resend may go through
                self._count("refused", envelope.kind)
                raise BusFullError(
                    f"{agent}'s inbox stayed full ({self.capacity} messages) for {wait:g} s; "
                    f"{envelope.kind} {envelope.id} not delivered"
                ) from None
            self._count("delivered", envelope.kind)
            delivered += 1
        return delivered

    async def receive(self, agent: str, wait: float | None = None) -> Envelope | None:
        """The next envelope for ``agent``, or None after ``wait`` seconds."""
        self.register(agent)
        queue = self._queues[agent]
        try:
            return await asyncio.wait_for(queue.get(), wait)
        except TimeoutError:
            return None

    def pending(self, agent: str) -> int:
        queue = self._queues.get(agent)
        return queue.qsize() if queue is not None else 0

    def stats(self) -> dict[str, dict[str, int]]:
        """Envelopes by outcome (sent, delivered, duplicate, refused, expired) and kind."""
        return {outcome: dict(kinds) for outcome, kinds in self._counts.items()}

    def _count(self, outcome: str, kind: str) -> None:
        self._counts[outcome][kind] += 1
        if self._observe is not None:
            self._observe(outcome, kind)

    def _now(self) -> float:
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()
