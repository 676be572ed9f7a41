"""OpenTelemetry spans for model calls, following the GenAI semantic conventions.

Active only when ``opentelemetry-api`` is installed; otherwise :class:`Tracing`
does nothing, at no cost. With the API installed but no tracer provider set
(the SDK not configured), spans would be dropped anyway: they are not built,
which spares every attempt a span object and its attribute dict. Once a
provider is set (OpenTelemetry allows that once per process), spans flow.

One span per attempt (``chat {model}``) with ``gen_ai.*`` attributes:
operation, system, request model, token usage, and the error type when the
attempt failed.
"""

from __future__ import annotations

from typing import Any

from chorus.client.observers import Attempt, CallEnd

__all__ = ["Tracing"]

_trace: Any
try:  # pragma: no cover - depends on what is installed
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover
    _trace = None


_Proxy: Any = getattr(_trace, "ProxyTracerProvider", None)


# Reading the global itself: get_tracer_provider() looks os.environ up on every call
# while no provider is set, which costs more than the span it would spare.
_GLOBAL_READABLE = hasattr(_trace, "_TRACER_PROVIDER")


def _provider_set() -> bool:
    """Has a global tracer provider been set (by the SDK, or from the environment)?"""
    if _GLOBAL_READABLE:
        return _trace._TRACER_PROVIDER is not None
    return not isinstance(_trace.get_tracer_provider(), _Proxy)  # pragma: no cover


class Tracing:
    """OpenTelemetry spans per attempt, once a tracer provider is set (see the module doc)."""

    def __init__(self, tracer: Any = None) -> None:
        self.enabled = _trace is not None or tracer is not None
        self.tracer = tracer or (_trace.get_tracer("chorus") if _trace is not None else None)
        # A tracer passed in is always used; the global one only once a provider exists.
        self._live = tracer is not None or _Proxy is None
        if not self._live:
            _trace.get_tracer_provider()  # loads one named by OTEL_PYTHON_TRACER_PROVIDER
        self._spans: dict[int, Any] = {}

    def _recording(self) -> bool:
        if self._live:
            return True
        if not _provider_set():
            return False  # no provider yet: the global tracer is a no-op
        self._live = True
        return True

    def attempt_started(self, attempt: Attempt) -> None:
        if self.tracer is None or not self._recording():
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
        if not self._spans:
            return
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
