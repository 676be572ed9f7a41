"""Pure policies (retry, rate limits, breakers) and the clocks they are driven by."""

from chorus.policy.clock import Clock, FakeClock, SystemClock

__all__ = ["Clock", "FakeClock", "SystemClock"]
