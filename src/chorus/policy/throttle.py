"""Adaptive client-side throttling (Google SRE book, "Handling Overload").

Over a sliding window the client counts ``requests`` it attempted and
``accepts`` the backend took (anything but 429/529). When the backend starts
refusing, new requests are rejected locally with probability
``max(0, (requests - k * accepts) / (requests + 1))``, so an overloaded API
sees a bounded trickle instead of a retry storm, and traffic recovers on its
own as accepts return. Below ``min_requests`` in the window nothing is
rejected: a handful of failures says little. The random draw is injected for
deterministic tests.
"""

from __future__ import annotations

import random
from collections import deque

__all__ = ["AdaptiveThrottle"]


class AdaptiveThrottle:
    """Adaptive throttling for one backend: ``allow`` before a request, ``record`` after it."""

    def __init__(
        self,
        *,
        k: float = 2.0,
        window: float = 120.0,
        min_requests: int = 20,
        rng: random.Random | None = None,
    ) -> None:
        if k < 1:
            raise ValueError("k below 1 would throttle a healthy backend")
        self.k = k
        self.window = window
        self.min_requests = min_requests
        self.rng = rng or random.Random()
        # Counts per slot of window/120 seconds: no allocation per request.
        self._slot = window / 120
        self._buckets: deque[list[float]] = deque()  # [slot start, requests, accepts]
        self.requests = 0
        self.accepts = 0
        self.rejected = 0

    def _trim(self, now: float) -> None:
        horizon = now - self.window
        buckets = self._buckets
        while buckets and buckets[0][0] + self._slot <= horizon:
            _, requests, accepts = buckets.popleft()
            self.requests -= int(requests)
            self.accepts -= int(accepts)

    def reject_probability(self, now: float) -> float:
        self._trim(now)
        if self.requests < self.min_requests:
            return 0.0  # too few samples to judge the backend
        return max(0.0, (self.requests - self.k * self.accepts) / (self.requests + 1))

    def allow(self, now: float) -> bool:
        """Should this request go to the backend? False means reject it locally."""
        if self.k * self.accepts >= self.requests:  # the healthy case, without a draw
            return True
        if self.rng.random() < self.reject_probability(now):
            self.rejected += 1
            return False
        return True

    def record(self, accepted: bool, now: float) -> None:
        """Count a request that went out; ``accepted`` is False for 429 and 529."""
        buckets = self._buckets
        if buckets and now < buckets[-1][0] + self._slot:
            bucket = buckets[-1]
        else:
            self._trim(now)
            bucket = [now - (now % self._slot), 0, 0]
            buckets.append(bucket)
        bucket[1] += 1
        self.requests += 1
        if accepted:
            bucket[2] += 1
            self.accepts += 1
