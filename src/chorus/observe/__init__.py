"""Observability: Prometheus metrics, OpenTelemetry spans and structured logs for model calls.

:class:`Metrics`, :class:`ContextMetrics` and :class:`TeamMetrics` are handed to the
client, the agent and the team (``observers=[metrics]``, ``metrics=...``). :class:`LogObserver` and
:class:`Tracing` belong to the client itself, which uses them by default; they
are re-exported here so that everything an operator wires up is in one place.
"""

from chorus.client.observers import LogObserver
from chorus.client.tracing import Tracing
from chorus.observe.context_metrics import ContextMetrics
from chorus.observe.metrics import Metrics
from chorus.observe.team_metrics import TeamMetrics

__all__ = ["ContextMetrics", "LogObserver", "Metrics", "TeamMetrics", "Tracing"]
