"""Tracing: one span per attempt with GenAI attributes, and none built while nobody records."""

from __future__ import annotations

from typing import Any

import pytest

from chorus.client.observers import Attempt
from chorus.observe import Tracing
from chorus.protocol import Usage

trace = pytest.importorskip("opentelemetry.trace")


class FakeSpan:
    def __init__(self, name: str, attributes: dict[str, Any]) -> None:
        self.name = name
        self.attributes = dict(attributes)
        self.ended = False

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def end(self) -> None:
        self.ended = True


class FakeTracer:
    def __init__(self) -> None:
        self.spans: list[FakeSpan] = []

    def start_span(self, name: str, attributes: dict[str, Any]) -> FakeSpan:
        span = FakeSpan(name, attributes)
        self.spans.append(span)
        return span


class FakeProvider:
    def __init__(self) -> None:
        self.tracer = FakeTracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> FakeTracer:
        return self.tracer


def attempt(outcome: str = "ok") -> Attempt:
    a = Attempt("claude-sonnet-4-5", 1, True, 0.0, request_id="req_1")
    a.outcome = outcome
    a.usage = Usage(input_tokens=5, output_tokens=7)
    return a


def test_a_tracer_passed_in_gets_one_span_per_attempt() -> None:
    tracer = FakeTracer()
    tracing = Tracing(tracer)
    ok, failed = attempt(), attempt("overloaded")
    for a in (ok, failed):
        tracing.attempt_started(a)
        tracing.attempt_finished(a)
    first, second = tracer.spans
    assert first.name == "chat claude-sonnet-4-5"
    assert first.ended and second.ended
    assert first.attributes["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert first.attributes["gen_ai.usage.output_tokens"] == 7
    assert first.attributes["gen_ai.response.id"] == "req_1"
    assert "error.type" not in first.attributes
    assert second.attributes["error.type"] == "overloaded"


def test_no_span_is_built_until_a_tracer_provider_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    tracing = Tracing()
    a = attempt()
    tracing.attempt_started(a)
    assert tracing._spans == {}
    tracing.attempt_finished(a)

    provider = FakeProvider()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    tracing.attempt_started(a)
    tracing.attempt_finished(a)
    (span,) = provider.tracer.spans
    assert span.name == "chat claude-sonnet-4-5" and span.ended
