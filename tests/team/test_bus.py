"""The in-process bus: addressed delivery only, bounded inboxes, applied once, counted."""

from __future__ import annotations

import asyncio

import pytest

from chorus.errors import BusFullError
from chorus.team import Address, Capability, Envelope, LocalBus, LocalRegistry, envelope_id


def env(kind: str, to: Address, n: int = 1, **extra: object) -> Envelope:
    return Envelope(envelope_id("lead", kind, "t1", n), kind, "lead", to, "t1", **extra)  # type: ignore[arg-type]


async def test_only_the_addressed_get_a_message() -> None:
    registry = LocalRegistry(clock=lambda: 0.0)
    registry.advertise("coder", [Capability("python")])
    bus = LocalBus(resolve=lambda c: [m.name for m in registry.capable(c)])
    for name in ("coder", "reviewer", "writer"):
        bus.register(name)
    bus.subscribe("reviews", "reviewer")
    assert await bus.send(env("task", Address("agent", "coder"))) == 1
    assert await bus.send(env("task", Address("capability", "python"), 2)) == 1
    assert await bus.send(env("note", Address("topic", "reviews"))) == 1
    assert await bus.send(env("note", Address("topic", "nobody-listens"), 2)) == 0
    assert bus.pending("coder") == 2 and bus.pending("reviewer") == 1
    assert bus.pending("writer") == 0  # no broadcast, ever
    got = await bus.receive("coder", wait=0.1)
    assert got is not None and got.kind == "task"
    assert await bus.receive("writer", wait=0.01) is None
    stats = bus.stats()
    assert stats["sent"] == {"task": 2, "note": 2} and stats["delivered"] == {"task": 2, "note": 1}


async def test_a_redelivered_message_is_applied_once() -> None:
    bus = LocalBus()
    bus.register("coder")
    message = env("task", Address("agent", "coder"))
    assert await bus.send(message) == 1
    assert await bus.send(message) == 0  # at least once on the wire, once in effect
    assert bus.pending("coder") == 1 and bus.stats()["duplicate"] == {"task": 1}


async def test_a_full_inbox_pushes_back_instead_of_growing() -> None:
    bus = LocalBus(capacity=2, send_timeout=0.05)
    bus.register("slow")
    for n in (1, 2):
        await bus.send(env("task", Address("agent", "slow"), n))
    with pytest.raises(BusFullError, match="inbox stayed full"):
        await bus.send(env("task", Address("agent", "slow"), 3))
    assert bus.pending("slow") == 2 and bus.stats()["refused"] == {"task": 1}
    # Room again: the same envelope goes through (the refused one was never applied).
    await bus.receive("slow")
    assert await bus.send(env("task", Address("agent", "slow"), 3)) == 1
    # A sender that waits gets through as soon as the receiver takes one.
    late = asyncio.create_task(bus.send(env("task", Address("agent", "slow"), 4)))
    await asyncio.sleep(0.01)
    await bus.receive("slow")
    assert await late == 1


async def test_an_expired_message_is_not_delivered() -> None:
    bus = LocalBus(clock=lambda: 10.0)
    bus.register("coder")
    assert await bus.send(env("task", Address("agent", "coder"), deadline=5.0)) == 0
    assert bus.stats()["expired"] == {"task": 1}
