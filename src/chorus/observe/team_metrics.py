"""Prometheus metrics for teams: messages on the bus, tasks allocated, decisions made.

Pass one to ``Team(agents, metrics=TeamMetrics(registry))``; share the registry with the
other metrics to expose everything on one ``/metrics``. Labels are bounded: the first
``max_labels`` message kinds and capabilities are their own label, later ones ``other``.

==================================  =========  ==========================================
metric                              type       labels
==================================  =========  ==========================================
chorus_team_messages_total          counter    kind, outcome (sent, delivered, duplicate,
                                               refused, expired)
chorus_team_tasks_total             counter    capability, outcome (completed, failed)
chorus_team_task_awards             histogram  capability (awards a task took)
chorus_team_decisions_total         counter    strategy, outcome (agreed, tie, no_quorum,
                                               abstained)
==================================  =========  ==========================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from chorus.observe.labels import ModelLabels, children

__all__ = ["TeamMetrics"]


class TeamMetrics:
    """Prometheus metrics of what a team does: messages by kind, tasks, decisions."""

    def __init__(self, registry: CollectorRegistry | None = None, *, max_labels: int = 32) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._kind = ModelLabels(max_labels)
        self._capability = ModelLabels(max_labels)
        r = self.registry
        self.messages = Counter(
            "chorus_team_messages",
            "Envelopes on the team's bus, by kind and what became of them.",
            ["kind", "outcome"],
            registry=r,
        )
        self.tasks = Counter(
            "chorus_team_tasks",
            "Tasks allocated, by outcome.",
            ["capability", "outcome"],
            registry=r,
        )
        self.awards = Histogram(
            "chorus_team_task_awards",
            "Awards a task took (more than one: its awardee failed or timed out).",
            ["capability"],
            buckets=(1, 2, 3, 5, 10),
            registry=r,
        )
        self.decisions = Counter(
            "chorus_team_decisions",
            "Decisions between members' answers, by strategy and outcome.",
            ["strategy", "outcome"],
            registry=r,
        )
        self._awards = children(self.awards)
        self._decisions = children(self.decisions)
        self._messages = children(self.messages)
        self._tasks = children(self.tasks)

    def message(self, outcome: str, kind: str) -> None:
        self._messages(self._kind(kind), outcome).inc()

    def task(self, capability: str, outcome: str, awards: int) -> None:
        label = self._capability(capability)
        self._tasks(label, outcome).inc()
        if awards:
            self._awards(label).observe(awards)

    def decision(self, strategy: str, outcome: str) -> None:
        self._decisions(strategy, outcome).inc()
