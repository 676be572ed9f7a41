"""Observability: Prometheus metrics, OpenTelemetry spans and structured logs for model calls."""

from chorus.observe.logs import LogObserver
from chorus.observe.metrics import Metrics
from chorus.observe.tracing import Tracing

__all__ = ["LogObserver", "Metrics", "Tracing"]
