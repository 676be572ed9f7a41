"""Envelopes: deterministic ids, applied once, hop limits, no implicit broadcast."""

from __future__ import annotations

import pytest

from chorus.team import Address, Envelope, HopLimitError, Inbox, envelope_id


def test_the_same_message_has_the_same_id_and_applies_once() -> None:
    a = envelope_id("coder", "result", "task-1", 1)
    assert a == envelope_id("coder", "result", "task-1", 1)
    assert a != envelope_id("coder", "result", "task-1", 2)
    env = Envelope(a, "result", "coder", Address("agent", "lead"), "task-1", payload="done")
    inbox = Inbox(memory=2)
    assert inbox.accept(env) and not inbox.accept(env) and inbox.duplicates == 1
    for i in range(3):  # memory is bounded
        inbox.accept(Envelope(str(i), "x", "s", Address("agent", "lead"), "c"))
    assert len(inbox._seen) == 2


def test_a_delegation_cycle_stops_at_the_hop_limit() -> None:
    env = Envelope("e", "task", "lead", Address("capability", "python"), "t", max_hops=2)
    once = env.forwarded("a", Address("agent", "b"))
    twice = once.forwarded("b", Address("agent", "a"))
    assert twice.hops == 2 and twice.headers["via"] == "b"
    with pytest.raises(HopLimitError, match="hop limit of 2"):
        twice.forwarded("a", Address("agent", "b"))
    assert Envelope("e", "k", "s", Address("topic", "t"), "c", deadline=5.0).expired(5.0)


def test_an_address_names_one_kind_of_recipient() -> None:
    assert str(Address("capability", "python")) == "capability:python"
    with pytest.raises(ValueError):
        Address("everyone", "all")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Address("agent", "")
