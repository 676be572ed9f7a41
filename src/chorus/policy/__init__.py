"""Pure policies: retry, retry budget, rate limits, circuit breaker, adaptive throttle.

Each takes facts (outcomes, times, header values) and returns decisions; none
sleeps, reads a socket or looks at the clock on its own. Time comes from an
injected :class:`Clock`, randomness from an injected ``random.Random``.
"""

from chorus.policy.breaker import CircuitBreaker
from chorus.policy.budget import RetryBudget
from chorus.policy.clock import Clock, FakeClock, SystemClock
from chorus.policy.ratelimit import ModelLimits, TokenBucket
from chorus.policy.retry import DONE, Done, GiveUp, Outcome, Retry, RetryPolicy, RetryState
from chorus.policy.throttle import AdaptiveThrottle

__all__ = [
    "DONE",
    "AdaptiveThrottle",
    "CircuitBreaker",
    "Clock",
    "Done",
    "FakeClock",
    "GiveUp",
    "ModelLimits",
    "Outcome",
    "Retry",
    "RetryBudget",
    "RetryPolicy",
    "RetryState",
    "SystemClock",
    "TokenBucket",
]
