"""OpenTelemetry spans for model calls, following the GenAI semantic conventions.

Active only when ``opentelemetry-api`` is installed; otherwise :class:`Tracing`
does nothing, at no cost. One span per attempt (``chat {model}``) with
``gen_ai.*`` attributes: operation, system, request model, token usage, and
the error type when the attempt failed.
"""

from __future__ import annotations

from typing import Any

from chorus.client.middleware import Attempt, CallEnd

__all__ = ["Tracing"]

_trace: Any
try:  # pragma: no cover - depends on what is installed
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover
    _trace = None


class Tracing:
    def __init__(self, tracer: Any = None) -> None:
        self.enabled = _trace is not None or tracer is not None
        self.tracer = tracer or (_trace.get_tracer("chorus") if _trace is not None else None)
        self._spans: dict[int, Any] = {}

    def attempt_started(self, attempt: Attempt) -> None:
        if self.tracer is None:
            return
        span = self.tracer.start_span(
            f"chat {attempt.model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": attempt.model,
                "chorus.attempt": attempt.attempt,
                "chorus.stream": attempt.stream,
            },
        )
        self._spans[id(attempt)] = span

    def attempt_finished(self, attempt: Attempt) -> None:
        span = self._spans.pop(id(attempt), None)
        if span is None:
            return
        if attempt.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", attempt.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", attempt.usage.output_tokens)
        if attempt.request_id:
            span.set_attribute("gen_ai.response.id", attempt.request_id)
        if attempt.outcome != "ok":
            span.set_attribute("error.type", attempt.outcome)
        span.end()

    def call_finished(self, call: CallEnd) -> None:
        pass

    def breaker_changed(self, model: str, state: str) -> None:
        pass
