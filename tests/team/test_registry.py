"""The registry: capabilities by name and by description, liveness by heartbeat TTL."""

from __future__ import annotations

import pytest

from chorus.clock import FakeClock
from chorus.errors import ConfigError
from chorus.team import Capability, LocalRegistry


def test_an_agent_that_stops_heartbeating_is_out_within_its_ttl() -> None:
    clock = FakeClock()
    registry = LocalRegistry(clock=clock.now)
    registry.advertise("a", [Capability("python", "writes and fixes Python code")], ttl=10)
    registry.advertise("b", [Capability("python")], ttl=10)
    assert [m.name for m in registry.capable("python")] == ["a", "b"]
    clock.advance(6)
    registry.heartbeat("a", load=0.5, queue=1)
    clock.advance(6)  # b last seen 12 s ago, a 6 s ago
    assert [m.name for m in registry.capable("python")] == ["a"]
    member = registry.member("a")
    assert member is not None and (member.load, member.queue) == (0.5, 1)
    assert registry.alive("a") and not registry.alive("b")
    with pytest.raises(ConfigError, match="has not advertised"):
        registry.heartbeat("stranger")


def test_a_task_that_names_no_capability_finds_one_by_its_description() -> None:
    registry = LocalRegistry(clock=lambda: 0.0)
    registry.advertise("coder", [Capability("python", "writes and fixes Python code and tests")])
    registry.advertise("dba", [Capability("sql", "tunes slow database queries and indexes")])
    registry.advertise("writer", [Capability("docs", "writes user guides and release notes")])
    (best, cap), *_ = registry.match("the nightly database queries are slow, add an index")
    assert (best.name, cap.name) == ("dba", "sql")
    (best, _), *_ = registry.match("the failing test needs a fix")  # test/tests, fix/fixes
    assert best.name == "coder"
    assert registry.match("bake a cake") == []
    with pytest.raises(ConfigError):
        registry.advertise("x", [Capability("a"), Capability("a")])
    with pytest.raises(ConfigError):
        Capability(" ")
