"""Prometheus metrics for ``chorus serve``: requests, turns, and what is running now.

Labels are bounded: routes are the route templates (never a session id), agents are the
configured ones, statuses a fixed few.

================================  =========  ========================================
metric                            type       labels
================================  =========  ========================================
chorus_http_requests_total        counter    route, method, status
chorus_http_request_seconds       histogram  route
chorus_turns_total                counter    agent, status (done, paused, failed, ...)
chorus_turn_seconds               histogram  agent
chorus_turn_cost_dollars_total    counter    agent (what the turns' model calls cost)
chorus_team_cost_dollars_total    counter    team (team runs' cost, from their tokens)
================================  =========  ========================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from chorus.observe.labels import ModelLabels, children

__all__ = ["ServeMetrics"]


class ServeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._routes = ModelLabels(64)
        self._agents = ModelLabels(64)
        r = self.registry
        self.requests = Counter(
            "chorus_http_requests",
            "HTTP requests served.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "chorus_http_request_seconds",
            "Time to the response's headers (a stream's whole length is not counted).",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.turns = Counter(
            "chorus_turns", "Turns run, by how they ended.", ["agent", "status"], registry=r
        )
        self.turn_seconds = Histogram(
            "chorus_turn_seconds",
            "A turn's length, admission to its end.",
            ["agent"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )

        self.turn_cost = Counter(
            "chorus_turn_cost_dollars",
            "What turns' model calls cost, in US dollars at list prices.",
            ["agent"],
            registry=r,
        )

        self.team_cost = Counter(
            "chorus_team_cost_dollars",
            "What team runs cost, in US dollars: their tokens at the reserved runs' prices.",
            ["team"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "chorus_store_commit_seconds",
            "A store transaction's length, its fsync included (many turns' writes in one: "
            "group commit). Past 20 ms it is the disk: every turn committing meanwhile waits.",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 5),
            registry=r,
        )
        self.commit_writes = Counter(
            "chorus_store_commit_writes",
            "Writes committed by the store's transactions (turns, journal entries, leases).",
            registry=r,
        )
        self._teams = ModelLabels(64)
        self._request_seconds = children(self.request_seconds)
        self._requests = children(self.requests)
        self._team_cost = children(self.team_cost)
        self._turn_cost = children(self.turn_cost)
        self._turn_seconds = children(self.turn_seconds)
        self._turns = children(self.turns)

    def store_commit(self, seconds: float, writes: int) -> None:
        """One store transaction committed (called from the store's thread)."""
        self.commit_seconds.observe(seconds)
        self.commit_writes.inc(writes)

    def team_run(self, team: str, cost: float) -> None:
        if cost > 0:
            self._team_cost(self._teams(team)).inc(cost)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        label = self._routes(route)
        self._requests(label, method, str(status)).inc()
        self._request_seconds(label).observe(seconds)

    def turn(self, agent: str, status: str, seconds: float, cost: float = 0.0) -> None:
        label = self._agents(agent)
        self._turns(label, status).inc()
        self._turn_seconds(label).observe(seconds)
        if cost > 0:
            self._turn_cost(label).inc(cost)

    def render(self) -> bytes:
        return generate_latest(self.registry)
