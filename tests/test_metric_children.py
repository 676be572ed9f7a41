"""observe.labels.children: a labelled metric's children, looked up once per label set."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from chorus.observe.labels import children


def test_the_same_labels_give_the_same_child_and_count_in_the_registry() -> None:
    registry = CollectorRegistry()
    counter = Counter("chorus_probe", "A probe.", ["model", "outcome"], registry=registry)
    child = children(counter)
    assert child("m", "ok") is child("m", "ok") is counter.labels("m", "ok")
    child("m", "ok").inc()
    child("m", "error").inc(2)
    text = generate_latest(registry).decode()
    assert 'chorus_probe_total{model="m",outcome="ok"} 1.0' in text
    assert 'chorus_probe_total{model="m",outcome="error"} 2.0' in text
