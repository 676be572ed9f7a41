"""Prometheus metrics for agents' context windows: how good the token estimate is, how full
the windows run, how often they compact and recall.

Pass one to ``Agent(metrics=ContextMetrics(registry))``; share the registry with
:class:`~chorus.observe.Metrics` to expose both on one ``/metrics``. Labels are
bounded as there: the first ``max_models`` model names, then ``other``.

==========================================  =========  =====================================
metric                                      type       labels
==========================================  =========  =====================================
chorus_context_estimate_error_ratio         histogram  model ((estimate - actual) / actual)
chorus_context_window_fill_ratio            histogram  model (estimated tokens / limit)
chorus_context_compactions_total            counter    model
chorus_context_recalled_exchanges_total     counter    model (once per turn)
chorus_context_dropped_messages_total       counter    model (left out without a summary,
                                                       summed over calls)
==========================================  =========  =====================================
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from chorus.observe.labels import ModelLabels, children

__all__ = ["ContextMetrics"]

_ERROR = (-0.5, -0.2, -0.1, -0.05, -0.02, 0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_FILL = (0.1, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


class ContextMetrics:
    """Prometheus metrics of what context management does: compactions, recalls, estimate error."""

    def __init__(self, registry: CollectorRegistry | None = None, *, max_models: int = 32) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._model = ModelLabels(max_models)
        r = self.registry
        self.estimate_error = Histogram(
            "chorus_context_estimate_error_ratio",
            "Relative error of the token estimate against the API's count (positive: high).",
            ["model"],
            buckets=_ERROR,
            registry=r,
        )
        self.fill = Histogram(
            "chorus_context_window_fill_ratio",
            "Estimated prompt tokens over the input limit, per model call.",
            ["model"],
            buckets=_FILL,
            registry=r,
        )
        self.compactions = Counter(
            "chorus_context_compactions", "Chunks of turns summarised.", ["model"], registry=r
        )
        self.recalled = Counter(
            "chorus_context_recalled_exchanges",
            "Evicted exchanges brought back into windows (counted once per turn).",
            ["model"],
            registry=r,
        )
        self.dropped = Counter(
            "chorus_context_dropped_messages",
            "Messages left out of a window with no summary covering them, summed over calls.",
            ["model"],
            registry=r,
        )
        self._compactions = children(self.compactions)
        self._dropped = children(self.dropped)
        self._estimate_error = children(self.estimate_error)
        self._fill = children(self.fill)
        self._recalled = children(self.recalled)

    def estimate_observed(self, model: str, error: float) -> None:
        self._estimate_error(self._model(model)).observe(error)

    def laid_out(self, model: str, layout: Any) -> None:
        """One call's window (a :class:`~chorus.context.Layout`) and the compactions before it."""
        m = self._model(model)
        self._fill(m).observe(layout.tokens / layout.limit if layout.limit else 0.0)
        if layout.compacted:
            self._compactions(m).inc(layout.compacted)
        if layout.recalled_now:
            self._recalled(m).inc(layout.recalled_now)
        if layout.dropped:
            self._dropped(m).inc(layout.dropped)
