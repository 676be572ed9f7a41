"""Prometheus metrics for model calls, fed once per attempt by the client.

Labels are bounded: ``model`` is one of the first ``max_models`` model names
seen (later ones count as ``other``), ``outcome`` comes from a fixed set, and
no label ever carries a key, a prompt or a request id.

==========================================  =========  =====================================
metric                                      type       labels
==========================================  =========  =====================================
chorus_model_requests_total                 counter    model, outcome (per attempt)
chorus_model_calls_total                    counter    model, outcome (per call)
chorus_model_request_duration_seconds       histogram  model
chorus_model_time_to_first_token_seconds    histogram  model
chorus_model_tokens_total                   counter    model, kind (input, output,
                                                       cache_read, cache_write)
chorus_model_retries_total                  counter    model, reason
chorus_model_rate_limit_wait_seconds_total  counter    model
chorus_model_breaker_state                  gauge      model (0 closed, 1 half-open, 2 open)
chorus_model_in_flight                      gauge      model
==========================================  =========  =====================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chorus.client.observers import Attempt, CallEnd
from chorus.observe.labels import ModelLabels, children

__all__ = ["Metrics"]

_LATENCY = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160)
_TTFT = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
_BREAKER = {"closed": 0, "half_open": 1, "open": 2}
_REASONS = {"server hint", "backoff", "continue interrupted text"}


class Metrics:
    """An :class:`~chorus.client.observers.AttemptObserver` that keeps Prometheus metrics."""

    def __init__(self, registry: CollectorRegistry | None = None, *, max_models: int = 32) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._model = ModelLabels(max_models)
        r = self.registry
        self.requests = Counter(
            "chorus_model_requests",
            "Attempts sent to a model, by outcome.",
            ["model", "outcome"],
            registry=r,
        )
        self.calls = Counter(
            "chorus_model_calls",
            "Calls (all attempts together), by outcome.",
            ["model", "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            "chorus_model_request_duration_seconds",
            "Duration of one attempt, to the end of its body.",
            ["model"],
            buckets=_LATENCY,
            registry=r,
        )
        self.ttft = Histogram(
            "chorus_model_time_to_first_token_seconds",
            "Time from sending a streamed attempt to its first content event.",
            ["model"],
            buckets=_TTFT,
            registry=r,
        )
        self.tokens = Counter(
            "chorus_model_tokens", "Tokens by kind.", ["model", "kind"], registry=r
        )
        self.retries = Counter(
            "chorus_model_retries", "Retries, by reason.", ["model", "reason"], registry=r
        )
        self.rate_limit_wait = Counter(
            "chorus_model_rate_limit_wait_seconds",
            "Seconds calls waited for client-side rate limits.",
            ["model"],
            registry=r,
        )
        self.breaker = Gauge(
            "chorus_model_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ["model"],
            registry=r,
        )
        self.in_flight = Gauge(
            "chorus_model_in_flight", "Attempts in flight.", ["model"], registry=r
        )
        self._breaker = children(self.breaker)
        self._calls = children(self.calls)
        self._duration = children(self.duration)
        self._in_flight = children(self.in_flight)
        self._rate_limit_wait = children(self.rate_limit_wait)
        self._requests = children(self.requests)
        self._retries = children(self.retries)
        self._tokens = children(self.tokens)
        self._ttft = children(self.ttft)

    def attempt_started(self, attempt: Attempt) -> None:
        self._in_flight(self._model(attempt.model)).inc()

    def attempt_finished(self, attempt: Attempt) -> None:
        model = self._model(attempt.model)
        self._in_flight(model).dec()
        self._requests(model, attempt.outcome or "error").inc()
        self._duration(model).observe(attempt.duration)
        if attempt.ttft is not None:
            self._ttft(model).observe(attempt.ttft)
        if attempt.retry_reason:
            reason = attempt.retry_reason if attempt.retry_reason in _REASONS else "other"
            self._retries(model, reason).inc()
        usage = attempt.usage
        if usage is not None:
            self._tokens(model, "input").inc(usage.input_tokens)
            self._tokens(model, "output").inc(usage.output_tokens)
            self._tokens(model, "cache_read").inc(usage.cache_read_input_tokens)
            self._tokens(model, "cache_write").inc(usage.cache_creation_input_tokens)

    def call_finished(self, call: CallEnd) -> None:
        model = self._model(call.model)
        self._calls(model, call.outcome).inc()
        if call.rate_limit_wait:
            self._rate_limit_wait(model).inc(call.rate_limit_wait)

    def breaker_changed(self, model: str, state: str) -> None:
        self._breaker(self._model(model)).set(_BREAKER.get(state, 2))
