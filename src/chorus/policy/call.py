"""One call's course as a pure state machine: retry, hand over to a fallback, continue, or end.

The drivers (``create``, ``stream``, ``count_tokens``) do the I/O and report
what happened; this decides what comes next, and nothing else does::

    call = Call(["claude-sonnet-4-5", "claude-haiku-4-5"], deadline=d, policy=p)
    ... an attempt at ``call.model`` fails with ``exc`` ...
    match call.failed(exc, now=clock.monotonic(), wall=clock.now()):
        case Again(delay):  sleep, then send the same request again
        case Continue(delay): sleep, then send the prefill request (the text so far)
        case Next(model):   send the request to the next fallback model
        case End(error):    the call is over: raise (wrapped as incomplete if it escaped)

Rules:

1. *Escaped* is a fact the driver reports (:meth:`Call.escape`) when the caller
   has read part of the reply. Until then any failure may be retried from
   scratch: the caller has received nothing.
2. After escape, a failure ends the call as incomplete, unless the driver says
   the reply can be continued and the retry policy allows one more attempt.
3. Before escape, the :class:`~chorus.policy.retry.RetryPolicy` decides (server
   hints, attempt cap, deadline, the shared retry budget).
4. When it gives up, or admission refuses the model, the next model of the call
   takes over if the failure says this model is unavailable (``fallback_on``);
   otherwise the call ends with that failure.
5. Every model the call starts on deposits one first attempt in the budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chorus.errors import APIError
from chorus.policy.outcomes import fallback_worthy, outcome_label, outcome_of
from chorus.policy.retry import Retry, RetryPolicy, RetryState

__all__ = ["CONTINUE", "Again", "Call", "Continue", "End", "Next", "Step"]


@dataclass(frozen=True, slots=True)
class Again:
    """Wait ``delay`` seconds, then send the same request to the same model."""

    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class Continue:
    """Wait ``delay`` seconds (the retry policy's, server hints first, as for
    :class:`Again`), then send the continuation: the text so far as a prefill."""

    delay: float = 0.0
    reason: str = "backoff"


@dataclass(frozen=True, slots=True)
class Next:
    """The model is unavailable: send the request to ``model``, the next fallback."""

    model: str


@dataclass(frozen=True, slots=True)
class End:
    """The call is over with ``error``; ``outcome`` labels it (error | shed | incomplete | …),
    ``model`` is the model the call-end record names."""

    error: APIError
    outcome: str
    model: str


CONTINUE = Continue()  # (at once: for drivers and tests that need no delay)
Step = Again | Continue | Next | End


class Call:
    """The state of one call across its attempts and models."""

    __slots__ = (
        "_at",
        "attempts",
        "deadline",
        "escaped",
        "fallback_on",
        "last",
        "model",
        "models",
        "policy",
        "retry",
    )

    def __init__(
        self,
        models: Sequence[str],
        *,
        deadline: float,
        policy: RetryPolicy,
        fallback_on: Callable[[BaseException], bool] = fallback_worthy,
    ) -> None:
        if not models:
            raise ValueError("a call needs at least one model")
        self.models = tuple(models)
        self.deadline = deadline
        self.policy = policy
        self.fallback_on = fallback_on
        self.escaped = False
        self.attempts = 0  # sent, over every model
        self.last: APIError | None = None
        self._at = 0
        self.model = self.models[0]
        self.retry = RetryState(deadline=deadline)
        if policy.budget is not None:
            policy.budget.deposit()

    def sent(self) -> None:
        """An attempt went out."""
        self.attempts += 1

    def escape(self) -> None:
        """The caller has read part of the reply: it can no longer be retried unseen."""
        self.escaped = True

    def failed(
        self, exc: APIError, *, now: float, wall: float | None = None, continuable: bool = False
    ) -> Step:
        """An attempt failed with ``exc``; ``continuable``: the reply so far can be continued."""
        outcome = outcome_of(exc, escaped=self.escaped and not continuable)
        decision = self.policy.decide(self.retry, outcome, now=now, wall=wall)
        if self.escaped:
            if continuable and isinstance(decision, Retry):
                self.retry.attempts += 1
                if decision.reason == "backoff":
                    self.retry.backoffs += 1
                return Continue(decision.delay, decision.reason)
            return End(exc, "incomplete", self.model)
        if isinstance(decision, Retry):
            self.retry.attempts += 1
            if decision.reason == "backoff":
                self.retry.backoffs += 1
            return Again(decision.delay, decision.reason)
        return self._give_up(exc, "error")

    def refused(self, exc: APIError) -> Step:
        """Admission refused the attempt (breaker, throttle, rate limit, queue)."""
        if self.escaped:
            return End(exc, "incomplete", self.model)
        return self._give_up(exc, outcome_label(exc))

    def _give_up(self, exc: APIError, label: str) -> Step:
        self.last = exc
        if not self.fallback_on(exc):
            return End(exc, label, self.model)
        self._at += 1
        if self._at >= len(self.models):
            return End(exc, outcome_label(exc), self.models[0])
        self.model = self.models[self._at]
        self.retry = RetryState(deadline=self.deadline)
        if self.policy.budget is not None:
            self.policy.budget.deposit()
        return Next(self.model)
