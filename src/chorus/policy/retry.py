"""When to try a model call again, and after how long: a pure decision, no sleeping.

``policy.decide(state, outcome)`` returns :class:`Retry` (wait this long, then
try again), :class:`GiveUp` (with the reason) or :data:`SUCCEEDED`. The driver in
the client sleeps and loops; every rule lives here:

1. Success is done. Failures after output *escaped* to the caller are never
   retried here (the caller decides: continuation or an incomplete turn).
2. Server hints decide first: ``x-should-retry``, then ``retry-after-ms``, then
   ``retry-after``. A hinted wait longer than ``max_server_wait`` or past the
   deadline gives up at once instead of sleeping into certain failure.
3. Retryable without a hint: connection errors and timeouts, 408, 409, 429 and
   every 5xx including 529, and in-stream ``overloaded_error`` / ``api_error`` /
   ``rate_limit_error``. Never: other 4xx, a spend-cap 429.
4. Otherwise full jitter: ``uniform(0, min(cap, base * 2 ** backoffs))``, where
   ``backoffs`` counts this call's earlier retries that had no server hint: a
   retry the server paced (``retry-after``) says nothing about how long *we*
   should wait next time, so it does not grow the backoff.
5. No retry without a token from the shared :class:`~chorus.policy.budget.RetryBudget`,
   and none that would start after the deadline.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from chorus.policy.budget import RetryBudget
from chorus.protocol.headers import retry_after, should_retry

__all__ = ["SUCCEEDED", "GiveUp", "Outcome", "Retry", "RetryPolicy", "RetryState", "Succeeded"]

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
RETRYABLE_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to, in the terms retry decisions need."""

    kind: Literal["ok", "status", "connection", "timeout", "stream_error", "stream_cut", "tls"]
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    error_type: str = ""
    error_code: str = ""  # error.details.error_code, e.g. enforced_spend_limit_reached
    escaped: bool = False  # output already reached the caller

    # What the outcome means to the admission gates (policy/admission.py).
    @property
    def overloaded(self) -> bool:
        """The API said it is overloaded: 529, or an ``overloaded_error`` event."""
        return (self.kind == "status" and self.status == 529) or (
            self.kind == "stream_error" and self.error_type == "overloaded_error"
        )

    @property
    def rate_limited(self) -> bool:
        return self.kind == "status" and self.status == 429

    @property
    def accepted(self) -> bool:
        """The API took the request (anything but a 429 or an overload), for the throttle."""
        return not (self.overloaded or self.rate_limited)

    @property
    def healthy(self) -> bool:
        """The model answered as a healthy one would, for the breaker: success or our 4xx."""
        return self.kind == "ok" or (
            self.kind == "status" and self.status < 500 and self.status != 408
        )

    @property
    def unreachable(self) -> bool:
        """The API could not be reached at all (refused, reset, timed out)."""
        return self.kind in ("connection", "timeout", "tls")

    @classmethod
    def ok(cls) -> Outcome:
        return _OK

    @classmethod
    def from_status(
        cls, status: int, headers: Mapping[str, str] | None = None, *, error_code: str = ""
    ) -> Outcome:
        return cls("status", status, headers or {}, error_code=error_code)


_OK = Outcome("ok")


@dataclass(frozen=True, slots=True)
class Retry:
    """Try again after ``delay`` seconds; ``reason`` is a bounded label (server hint, backoff)."""

    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No more attempts at this model; ``reason`` says why."""

    reason: str


@dataclass(frozen=True, slots=True)
class Succeeded:
    """The attempt succeeded: nothing to retry. (An agent run's last event is ``Done``.)"""


SUCCEEDED = Succeeded()
Decision = Retry | GiveUp | Succeeded


@dataclass(slots=True)
class RetryState:
    """One call's progress: attempts made so far and when it must be over."""

    attempts: int = 1
    deadline: float | None = None  # on the policy clock's monotonic scale
    waited: float = 0.0
    backoffs: int = 0  # earlier retries that waited a backoff, not a server hint


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry rules of the module doc, with their numbers; ``decide`` applies them."""

    max_retries: int = 2
    base: float = 0.5
    cap: float = 8.0
    max_server_wait: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False)
    budget: RetryBudget | None = field(default=None, compare=False)

    def decide(
        self, state: RetryState, outcome: Outcome, *, now: float, wall: float | None = None
    ) -> Decision:
        """The next step after an attempt.

        ``now`` is on the deadline's (monotonic) clock; ``wall`` is epoch seconds,
        needed only to read a ``retry-after`` given as an HTTP date.
        """
        if outcome.kind == "ok":
            return SUCCEEDED
        if outcome.escaped:
            return GiveUp("output already reached the caller")
        verdict = self._retryable(outcome)
        if verdict is not True:
            return GiveUp(verdict)
        if state.attempts > self.max_retries:
            return GiveUp(f"gave up after {state.attempts} attempts")
        hinted = retry_after(outcome.headers, now=now if wall is None else wall)
        if hinted is not None and hinted > 0:
            if hinted > self.max_server_wait:
                return GiveUp(
                    f"server asked to wait {hinted:g} s, more than {self.max_server_wait:g} s"
                )
            delay, why = hinted, "server hint"
        else:
            ceiling = min(self.cap, self.base * (2**state.backoffs))
            delay, why = self.rng.uniform(0.0, ceiling), "backoff"
        if state.deadline is not None and now + delay >= state.deadline:
            return GiveUp("the deadline would pass before the next attempt")
        if self.budget is not None and not self.budget.withdraw():
            return GiveUp("retry budget exhausted")
        return Retry(delay, why)

    def _retryable(self, outcome: Outcome) -> Literal[True] | str:
        hint = should_retry(outcome.headers)
        if hint is False:
            return "server said x-should-retry: false"
        if outcome.error_code == "enforced_spend_limit_reached":
            return "spend limit reached"
        if hint is True:
            return True
        match outcome.kind:
            case "connection" | "timeout" | "stream_cut":
                return True
            case "stream_error":
                if outcome.error_type in RETRYABLE_STREAM_ERRORS:
                    return True
                return f"stream error {outcome.error_type} is not retryable"
            case "status":
                if outcome.status in RETRYABLE_STATUS or outcome.status >= 500:
                    return True
                return f"status {outcome.status} is not retryable"
        return f"{outcome.kind} is not retryable"
