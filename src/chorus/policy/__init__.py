"""Pure policies: retry, retry budget, rate limits, circuit breaker, adaptive throttle.

Each takes facts (outcomes, times, header values) and returns decisions; none
sleeps, reads a socket or looks at the clock on its own: time comes in as
arguments (``now``), randomness from an injected ``random.Random``. The clock
the drivers read is :mod:`chorus.clock`.
"""

from chorus.policy.breaker import CircuitBreaker
from chorus.policy.budget import RetryBudget
from chorus.policy.ratelimit import ModelLimits, TokenBucket
from chorus.policy.retry import (
    SUCCEEDED,
    GiveUp,
    Outcome,
    Retry,
    RetryPolicy,
    RetryState,
    Succeeded,
)
from chorus.policy.throttle import AdaptiveThrottle

__all__ = [
    "SUCCEEDED",
    "AdaptiveThrottle",
    "CircuitBreaker",
    "GiveUp",
    "ModelLimits",
    "Outcome",
    "Retry",
    "RetryBudget",
    "RetryPolicy",
    "RetryState",
    "Succeeded",
    "TokenBucket",
]
