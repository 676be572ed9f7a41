"""Retry decisions: server hints first, full jitter, budgets, deadlines; and the budget property."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.policy import SUCCEEDED, GiveUp, Outcome, Retry, RetryBudget, RetryPolicy, RetryState


def policy(**kw) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(1), **kw)


@pytest.mark.parametrize(
    ("outcome", "retry"),
    [
        (Outcome.from_status(429), True),
        (Outcome.from_status(529), True),
        (Outcome.from_status(500), True),
        (Outcome.from_status(502), True),
        (Outcome.from_status(503), True),
        (Outcome.from_status(504), True),
        (Outcome.from_status(408), True),
        (Outcome.from_status(409), True),
        (Outcome.from_status(400), False),
        (Outcome.from_status(401), False),
        (Outcome.from_status(403), False),
        (Outcome.from_status(404), False),
        (Outcome.from_status(413), False),
        (Outcome.from_status(422), False),
        (Outcome("connection"), True),
        (Outcome("timeout"), True),
        (Outcome("stream_cut"), True),
        (Outcome("tls"), False),
        (Outcome("stream_error", 200, error_type="overloaded_error"), True),
        (Outcome("stream_error", 200, error_type="invalid_request_error"), False),
        (Outcome.from_status(500, {"x-should-retry": "false"}), False),
        (Outcome.from_status(400, {"x-should-retry": "true"}), True),
        (Outcome.from_status(429, error_code="enforced_spend_limit_reached"), False),
        (Outcome("stream_cut", escaped=True), False),
    ],
)
def test_what_is_retried(outcome: Outcome, retry: bool) -> None:
    decision = policy().decide(RetryState(), outcome, now=0.0)
    assert isinstance(decision, Retry) is retry


def test_success_is_done() -> None:
    assert policy().decide(RetryState(), Outcome.ok(), now=0.0) is SUCCEEDED


def test_server_hints_first() -> None:
    p = policy()
    ms = p.decide(
        RetryState(),
        Outcome.from_status(429, {"retry-after-ms": "1500", "retry-after": "9"}),
        now=0,
    )
    assert ms == Retry(1.5, "server hint")
    seconds = p.decide(RetryState(), Outcome.from_status(529, {"retry-after": "3"}), now=0)
    assert seconds == Retry(3.0, "server hint")
    date = p.decide(
        RetryState(),
        Outcome.from_status(503, {"retry-after": "Thu, 01 Jan 2026 00:00:10 GMT"}),
        now=0,
        wall=1767225600.0,
    )
    assert date == Retry(10.0, "server hint")


def test_hint_longer_than_allowed_gives_up() -> None:
    decision = policy(max_server_wait=60).decide(
        RetryState(), Outcome.from_status(429, {"retry-after": "90"}), now=0
    )
    assert isinstance(decision, GiveUp) and "90" in decision.reason


def test_full_jitter_bounds() -> None:
    p = policy(max_retries=10)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 8.0), (9, 8.0)]:
        delays = [
            p.decide(
                RetryState(attempts=attempt, backoffs=attempt - 1), Outcome("connection"), now=0
            ).delay
            for _ in range(200)
        ]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # really spread over the whole range


def test_deadline_and_attempt_limits() -> None:
    p = policy(max_retries=2)
    assert isinstance(p.decide(RetryState(attempts=3), Outcome("connection"), now=0), GiveUp)
    hinted = Outcome.from_status(429, {"retry-after": "5"})
    assert isinstance(p.decide(RetryState(deadline=4.0), hinted, now=0), GiveUp)
    assert isinstance(p.decide(RetryState(deadline=6.0), hinted, now=0), Retry)


def test_budget_refuses_when_spent() -> None:
    budget = RetryBudget(ratio=0.0, initial=2.0, max_balance=2.0)
    p = policy(max_retries=5, budget=budget)
    decisions = [p.decide(RetryState(), Outcome("connection"), now=0) for _ in range(4)]
    assert [isinstance(d, Retry) for d in decisions] == [True, True, False, False]
    assert budget.refused == 2


@settings(max_examples=300, deadline=None)
@given(
    max_retries=st.integers(0, 6),
    ratio=st.floats(0, 1),
    initial=st.floats(0, 20),
    calls=st.lists(
        st.lists(st.sampled_from([429, 500, 529, 503, 0, 200]), min_size=1, max_size=10),
        max_size=40,
    ),
)
def test_attempts_never_exceed_one_plus_budget(max_retries, ratio, initial, calls) -> None:
    """Per call: attempts <= 1 + max_retries. Overall: retries <= initial + ratio * calls."""
    budget = RetryBudget(ratio=ratio, initial=initial, max_balance=max(initial, 100.0))
    p = RetryPolicy(max_retries=max_retries, rng=random.Random(0), budget=budget)
    total_retries = 0
    for statuses in calls:
        budget.deposit()
        state = RetryState()
        for status in statuses:
            outcome = (
                Outcome.ok()
                if status == 200
                else Outcome("connection")
                if status == 0
                else Outcome.from_status(status)
            )
            decision = p.decide(state, outcome, now=0.0)
            if not isinstance(decision, Retry):
                break
            state.attempts += 1
            total_retries += 1
        assert state.attempts <= 1 + max_retries
    assert total_retries == budget.retries
    assert total_retries <= initial + ratio * len(calls) + 1e-9


def test_a_retry_the_server_paced_does_not_grow_the_backoff() -> None:
    """After two 429s with retry-after, a 529 backs off as a first unhinted retry would."""
    from chorus.errors import OverloadedError, RateLimitError
    from chorus.policy.call import Again, Call

    p = policy(max_retries=10)
    call = Call(["m"], deadline=100.0, policy=p)
    limited = RateLimitError("x", status=429, type="rate_limit_error", headers={"retry-after": "1"})
    for _ in range(2):
        assert call.failed(limited, now=0.0, wall=0.0) == Again(1.0, "server hint")
    overloaded = OverloadedError("x", status=529, type="overloaded_error")
    step = call.failed(overloaded, now=0.0, wall=0.0)
    assert isinstance(step, Again) and step.reason == "backoff" and step.delay <= 0.5
    step = call.failed(overloaded, now=0.0, wall=0.0)
    assert isinstance(step, Again) and step.delay <= 1.0


def test_a_continuation_waits_as_a_retry_would() -> None:
    """A reply cut after its text reached the caller is continued, after the delay the
    retry policy gives the failure (a hint first), never at once regardless."""
    from chorus.errors import OverloadedError
    from chorus.policy.call import Call, Continue

    call = Call(["m"], deadline=100.0, policy=policy(max_retries=3))
    call.escape()
    hinted = OverloadedError("x", status=529, type="overloaded_error", headers={"retry-after": "2"})
    assert call.failed(hinted, now=0.0, wall=0.0, continuable=True) == Continue(2.0, "server hint")
    unhinted = OverloadedError("x", status=529, type="overloaded_error")
    step = call.failed(unhinted, now=0.0, wall=0.0, continuable=True)
    assert isinstance(step, Continue) and step.reason == "backoff" and 0 <= step.delay <= 0.5
