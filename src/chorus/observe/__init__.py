"""Observability: Prometheus metrics, OpenTelemetry spans and structured logs for model calls."""

from chorus.observe.context_metrics import ContextMetrics
from chorus.observe.logs import LogObserver
from chorus.observe.metrics import Metrics
from chorus.observe.tracing import Tracing

__all__ = ["ContextMetrics", "LogObserver", "Metrics", "Tracing"]
