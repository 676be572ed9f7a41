"""Token buckets, circuit breaker and adaptive throttle: pure, on explicit time."""

from __future__ import annotations

import math
import random

import pytest

from chorus.policy import AdaptiveThrottle, CircuitBreaker, ModelLimits, TokenBucket
from chorus.protocol.headers import Bucket, RateLimitInfo


def test_bucket_refills_continuously_up_to_its_limit() -> None:
    bucket = TokenBucket(60, now=0.0)
    bucket.take(60, 0.0)
    assert bucket.wait_for(1, 0.0) == pytest.approx(1.0)
    assert bucket.wait_for(1, 0.5) == pytest.approx(0.5)
    assert bucket.wait_for(30, 30.0) == 0.0
    assert bucket.wait_for(61, 1000.0) == math.inf
    bucket.refill(1000.0)
    assert bucket.level == 60


def test_model_limits_queue_callers_behind_each_other() -> None:
    limits = ModelLimits(rpm=60, now=0.0)
    waits = [limits.reserve(input_tokens=10, output_tokens=10, now=0.0).wait for _ in range(63)]
    assert waits[:60] == [0.0] * 60
    assert waits[60:] == pytest.approx([1.0, 2.0, 3.0])


def test_settle_and_cancel() -> None:
    limits = ModelLimits(itpm=1000, otpm=1000, now=0.0)
    grant = limits.reserve(input_tokens=100, output_tokens=800, now=0.0)
    limits.settle(grant, input_tokens=100, output_tokens=50, now=0.0)
    assert limits.output.level == pytest.approx(950)
    other = limits.reserve(input_tokens=100, output_tokens=100, now=0.0)
    limits.cancel(other, 0.0)
    assert limits.input.level == pytest.approx(900)


def test_learning_from_headers_and_blocking() -> None:
    limits = ModelLimits(now=0.0)
    assert not limits.configured
    limits.learn(RateLimitInfo(requests=Bucket(50, 0, None)), now=0.0, wall=0.0)
    assert limits.configured
    assert limits.reserve(input_tokens=0, output_tokens=0, now=0.0).wait == pytest.approx(60 / 50)
    limits.block(5.0, now=0.0)
    assert limits.reserve(input_tokens=0, output_tokens=0, now=1.0).wait >= 4.0


def test_breaker_opens_on_consecutive_failures_and_probes() -> None:
    breaker = CircuitBreaker(consecutive=3, open_for=5, max_open=20)
    for t in range(3):
        assert breaker.allow(t)
        breaker.record(False, t, connection=True)
    assert breaker.state == "open" and not breaker.allow(3)
    assert breaker.allow(7.1) and breaker.state == "half_open"
    assert not breaker.allow(7.2)  # one probe at a time
    breaker.record(False, 7.3, connection=True)  # probe failed: open twice as long
    assert breaker.state == "open" and breaker.open_until == pytest.approx(17.3)
    assert breaker.allow(17.4)
    breaker.record(True, 17.5)
    assert breaker.state == "closed"


def test_held_calls_return_over_a_tenth_of_the_outage() -> None:
    """The spread is a tenth of the spell, from its first opening (not its last probe)
    to the close, at most max_spread; the next spell starts counting afresh."""
    breaker = CircuitBreaker(consecutive=1, open_for=0.25, max_open=0.5, max_spread=10)
    breaker.record(False, 10.0, connection=True)
    t = 10.0
    while t < 70.0:  # probing every half second, every probe failing
        t = breaker.open_until + 0.01
        assert breaker.allow(t)
        breaker.record(t >= 70.0, t, connection=True)
    assert breaker.state == "closed" and breaker.spread == pytest.approx((t - 10.0) / 10)
    breaker.record(False, 100.0, connection=True)  # a short spell: a short spread
    assert breaker.allow(100.3)
    breaker.record(True, 100.3)
    assert breaker.spread == pytest.approx(0.03)
    long = CircuitBreaker(consecutive=1, max_spread=10)
    long.record(False, 0.0, connection=True)
    assert long.allow(long.open_until)
    long.record(True, 500.0)
    assert long.spread == 10  # capped


def test_breaker_opens_on_failure_ratio_of_recent_calls() -> None:
    breaker = CircuitBreaker(window_calls=50, min_calls=20, failure_ratio=0.5, consecutive=100)
    for i in range(200):  # a steady 8% of failures never opens it
        breaker.record(i % 12 != 0, i * 0.01)
    assert breaker.state == "closed"
    t = 2.0
    while breaker.state == "closed":  # then an outage: every call fails
        breaker.record(False, t)
        t += 0.005
    assert 20 <= round((t - 2.0) / 0.005) <= 26  # about half of the last 50 calls


def test_streaks_count_connection_failures_only() -> None:
    breaker = CircuitBreaker(consecutive=3)
    for t in range(10):
        breaker.record(False, t)  # 529s, one after another, but fewer than min_calls
    assert breaker.state == "closed"
    for t in range(3):
        breaker.record(False, 20 + t, connection=True)
    assert breaker.state == "open"


def test_throttle_rejects_in_proportion_and_recovers() -> None:
    throttle = AdaptiveThrottle(k=2, window=60, rng=random.Random(3))
    for i in range(100):
        throttle.record(i % 4 == 0, now=i * 0.1)  # 25% accepted
    p = throttle.reject_probability(10.0)
    assert p == pytest.approx((100 - 2 * 25) / 101)
    rejected = sum(not throttle.allow(10.0) for _ in range(1000))
    assert 400 < rejected < 600
    assert throttle.reject_probability(100.0) == 0.0  # the window moved on


def test_throttle_ignores_a_handful_of_failures() -> None:
    throttle = AdaptiveThrottle(min_requests=20, rng=random.Random(0))
    for i in range(5):
        throttle.record(False, now=i)
    assert throttle.reject_probability(5) == 0.0


def test_breaker_replaces_a_probe_that_never_reports() -> None:
    breaker = CircuitBreaker(consecutive=1, open_for=5, probe_timeout=10)
    breaker.record(False, 0.0, connection=True)
    assert breaker.allow(5.0)  # the probe goes out ... and is never heard of again
    assert not breaker.allow(6.0)
    assert breaker.allow(15.5)  # after probe_timeout another probe may go


def test_breaker_probe_slot_can_be_given_back() -> None:
    breaker = CircuitBreaker(consecutive=1, open_for=5)
    breaker.record(False, 0.0, connection=True)
    assert breaker.allow(5.0)
    breaker.release()
    assert breaker.allow(5.1)


def test_429_block_releases_callers_spread_over_a_window_and_is_not_extended() -> None:
    limits = ModelLimits(now=0.0)
    limits.block(2.0, now=0.0)
    limits.block(2.0, now=1.0)  # same episode: no extension
    waits = [limits.reserve(input_tokens=0, output_tokens=0, now=1.0).wait for _ in range(16)]
    assert waits[0] == pytest.approx(1.0)
    assert waits == sorted(waits) and waits[-1] < 1.0 + 2.0
    assert limits.reserve(input_tokens=0, output_tokens=0, now=2.0).wait < 2.0
