"""A circuit breaker per model: stop calling a model that is failing, probe it, come back.

States: ``closed`` (calls flow; the last ``window_calls`` outcomes are kept),
``open`` (calls refused until ``open_until``), ``half_open`` (a few probe calls
decide: success closes, failure reopens for twice as long, up to ``max_open``).

It opens when, among the last ``window_calls`` calls (once at least
``min_calls`` were seen), the share of failures reaches ``failure_ratio``, or
after ``consecutive`` connection failures in a row. The window counts calls,
not seconds: at hundreds of calls a second a time window full of earlier
successes would take seconds to notice an outage, and every one of those
seconds is a wave of failing calls and retries. (A streak of other failures
means little under concurrency, where calls finish in bursts.)

Only health failures count (529, 5xx, timeouts, connection errors): a 429
shapes traffic through the rate limiter and says nothing about health, except
that a probe answered with 429 shows the model is up again. A probe that never
reports back (its call was cancelled) is replaced after ``probe_timeout``.

When it closes again, the calls it held return spread out, not at once: each
draws a delay within ``spread`` seconds, a tenth of the time the model was
failing (at most ``max_spread``). Calls that arrived at the normal rate during
the spell so go back at about ten times that rate: the backlog is gone within a
tenth of the outage, and the API that just came back, and the client's own
event loop, never take all of it in one instant (the thundering herd that can
knock a recovering API over again). Calls that start after it closed go at once.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """A circuit breaker for one model: ``allow`` before a call, ``record`` after it."""

    def __init__(
        self,
        *,
        window_calls: int = 50,
        min_calls: int = 20,
        failure_ratio: float = 0.5,
        consecutive: int = 5,
        open_for: float = 5.0,
        max_open: float = 60.0,
        probes: int = 1,
        probe_timeout: float = 10.0,
        spread_share: float = 0.1,
        max_spread: float = 10.0,
    ) -> None:
        if window_calls < min_calls:
            raise ValueError("window_calls must be at least min_calls")
        self.min_calls = min_calls
        self.failure_ratio = failure_ratio
        self.consecutive = consecutive
        self.base_open = open_for
        self.max_open = max_open
        self.probes = probes
        self.probe_timeout = probe_timeout
        self.spread_share, self.max_spread = spread_share, max_spread
        self.state: State = "closed"
        self.open_until = 0.0
        self._open_for = open_for
        self._recent: deque[bool] = deque(maxlen=window_calls)  # True = failure
        self._failures = 0
        self._streak = 0
        self._probes_out = 0
        self._probe_at = 0.0
        self.opened = 0  # times it opened, for metrics
        self.failing_since: float | None = None  # when this spell opened it first
        self.spread = 0.0  # the held calls' return, in seconds, since it last closed...
        self.closed_at = 0.0  # ... at this time

    def allow(self, now: float) -> bool:
        """May a call go to this model now? A True in half-open takes a probe slot."""
        if self.state == "open":
            if now < self.open_until:
                return False
            self.state = "half_open"
            self._probes_out = 0
        if self.state == "half_open":
            if self._probes_out >= self.probes:
                if now - self._probe_at < self.probe_timeout:
                    return False
                self._probes_out = 0  # a probe never reported back: send another
            self._probes_out += 1
            self._probe_at = now
        return True

    def release(self) -> None:
        """Give back a probe slot taken by a call that was then not sent."""
        if self.state == "half_open" and self._probes_out:
            self._probes_out -= 1

    def returning(self, now: float, draw: float) -> float:
        """How long a call held through the last spell waits now that it is over, given
        ``draw`` (uniform in 0..1): its place in the spread return, or 0 once past it."""
        if self.state != "closed":
            return 0.0
        return max(0.0, self.closed_at + draw * self.spread - now)

    def retry_in(self, now: float) -> float:
        """Seconds until the breaker lets a call through (0 if it does now)."""
        return max(0.0, self.open_until - now) if self.state == "open" else 0.0

    def record(self, ok: bool, now: float, *, connection: bool = False) -> None:
        """Count one finished call (health outcome only; see the module doc).

        ``connection``: the failure was reaching the API at all (refused, reset,
        timed out), the kind whose streaks open the breaker on their own.
        """
        if self.state == "half_open":
            if ok:
                self._close(now)
            else:
                self._trip(now, longer=True)
            return
        recent = self._recent
        if len(recent) == recent.maxlen and recent[0]:
            self._failures -= 1
        recent.append(not ok)
        if ok:
            self._streak = 0
            return  # a success can never trip the breaker
        self._failures += 1
        if connection:
            self._streak += 1
        if self.state == "closed" and (
            self._streak >= self.consecutive
            or (
                len(recent) >= self.min_calls and self._failures >= self.failure_ratio * len(recent)
            )
        ):
            self._trip(now, longer=False)

    def _trip(self, now: float, *, longer: bool) -> None:
        if self.failing_since is None:
            self.failing_since = now
        if longer:
            self._open_for = min(self.max_open, self._open_for * 2)
        self.state = "open"
        self.open_until = now + self._open_for
        self.opened += 1
        self._recent.clear()
        self._failures = self._streak = 0

    def _close(self, now: float) -> None:
        since = now if self.failing_since is None else self.failing_since
        self.spread = min(self.max_spread, (now - since) * self.spread_share)
        self.failing_since = None
        self.closed_at = now
        self.state = "closed"
        self._open_for = self.base_open
        self._recent.clear()
        self._failures = self._streak = 0
