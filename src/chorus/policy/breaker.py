"""A circuit breaker per model: stop calling a model that is failing, probe it, come back.

States: ``closed`` (calls flow; outcomes counted in a sliding window),
``open`` (calls refused until ``open_until``), ``half_open`` (a few probe calls
decide: success closes, failure reopens for twice as long, up to ``max_open``).

It opens when, within ``window`` seconds, at least ``min_calls`` calls saw a
failure rate of ``failure_ratio`` or more, or after ``consecutive`` failures in
a row. Only health failures count (529, 5xx, timeouts, connection errors):
a 429 shapes traffic through the rate limiter and says nothing about health,
except that a probe answered with 429 shows the model is up again. A probe that
never reports back (its call was cancelled) is replaced after ``probe_timeout``.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

__all__ = ["CircuitBreaker"]

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(
        self,
        *,
        window: float = 10.0,
        min_calls: int = 20,
        failure_ratio: float = 0.5,
        consecutive: int = 5,
        open_for: float = 5.0,
        max_open: float = 60.0,
        probes: int = 1,
        probe_timeout: float = 10.0,
    ) -> None:
        self.window = window
        self.min_calls = min_calls
        self.failure_ratio = failure_ratio
        self.consecutive = consecutive
        self.base_open = open_for
        self.max_open = max_open
        self.probes = probes
        self.probe_timeout = probe_timeout
        self._probe_at = 0.0
        self.state: State = "closed"
        self.open_until = 0.0
        self._open_for = open_for
        # Counts per slot of window/20 seconds: no allocation per call.
        self._slot = window / 20
        self._buckets: deque[list[float]] = deque()  # [slot start, calls, failures]
        self._count = 0
        self._failures = 0
        self._streak = 0
        self._probes_out = 0
        self.opened = 0  # times it opened, for metrics

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

    def retry_in(self, now: float) -> float:
        """Seconds until the breaker lets a call through (0 if it does now)."""
        return max(0.0, self.open_until - now) if self.state == "open" else 0.0

    def record(self, ok: bool, now: float) -> None:
        """Count one finished call (health outcome only; see the module doc)."""
        if self.state == "half_open":
            if ok:
                self._close()
            else:
                self._trip(now, longer=True)
            return
        buckets = self._buckets
        if buckets and now < buckets[-1][0] + self._slot:
            bucket = buckets[-1]
        else:
            horizon = now - self.window
            while buckets and buckets[0][0] + self._slot <= horizon:
                _, calls, failures = buckets.popleft()
                self._count -= int(calls)
                self._failures -= int(failures)
            bucket = [now - (now % self._slot), 0, 0]
            buckets.append(bucket)
        bucket[1] += 1
        self._count += 1
        if ok:
            self._streak = 0
            return  # a success can never trip the breaker
        bucket[2] += 1
        self._failures += 1
        self._streak += 1
        if self.state == "closed" and (
            self._streak >= self.consecutive
            or (
                self._count >= self.min_calls and self._failures >= self.failure_ratio * self._count
            )
        ):
            self._trip(now, longer=False)

    def _trip(self, now: float, *, longer: bool) -> None:
        if longer:
            self._open_for = min(self.max_open, self._open_for * 2)
        self.state = "open"
        self.open_until = now + self._open_for
        self.opened += 1
        self._buckets.clear()
        self._count = self._failures = self._streak = 0

    def _close(self) -> None:
        self.state = "closed"
        self._open_for = self.base_open
        self._buckets.clear()
        self._count = self._failures = self._streak = 0
