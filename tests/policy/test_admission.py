"""The admission gates (policy/admission.py): one shape, combined in order, pure.

Fault 1 of reference/reliability.md §3 (429 + retry-after) is where a shared
limit and one call's bad luck must be told apart: only the first pauses the
other calls of the model.
"""

from __future__ import annotations

import math
import random

from chorus.errors import ShedError
from chorus.policy.admission import Breaker, Gates, RateLimits, Refuse, Result, Throttle, Ticket
from chorus.policy.retry import Outcome

M = "claude-sonnet-4-5"
LIMITED = Result(Outcome.from_status(429), retry_after=2.0)
OVERLOADED = Result(Outcome.from_status(529))
OK = Result(Outcome.ok())


def ticket(deadline: float = 100.0) -> Ticket:
    return Ticket(M, 100, 50, deadline)


def exhausted_headers() -> dict[str, str]:
    return {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:02Z",
    }


def test_a_lone_429_without_headers_pauses_nobody() -> None:
    limits = RateLimits()
    for i in range(20):  # plenty of traffic, one refusal among it
        t = ticket()
        assert limits.admit(t, now=i * 0.01) == 0.0
        limits.record(t, LIMITED if i == 10 else OK, now=i * 0.01 + 0.2)
    assert limits.admit(ticket(), now=0.5) == 0.0


def test_a_429_with_an_exhausted_bucket_pauses_every_call() -> None:
    limits = RateLimits()
    t = ticket()
    limits.admit(t, now=0.0)
    limits.headers(t, 429, exhausted_headers(), now=0.1, wall=1_767_225_600.0)
    limits.record(t, LIMITED, now=0.1)
    wait = limits.admit(ticket(), now=0.2)
    assert isinstance(wait, float) and wait >= 1.8  # the server's retry-after, less time gone


def test_429s_for_most_attempts_at_once_pause_every_call() -> None:
    limits = RateLimits()
    tickets = [ticket() for _ in range(10)]
    for t in tickets:
        limits.admit(t, now=0.0)
    for i, t in enumerate(tickets):
        limits.record(t, LIMITED, now=0.05 + i * 0.001)
    wait = limits.admit(ticket(), now=0.1)
    assert isinstance(wait, float) and wait > 1.0


def test_429s_that_come_back_first_are_no_storm() -> None:
    """Early in a burst of calls, refusals return before replies: judge them by attempts sent."""
    limits = RateLimits()
    tickets = [ticket() for _ in range(50)]
    for t in tickets:
        limits.admit(t, now=0.0)
    for t in tickets[:8]:  # 16% refused, and those answers arrive first
        limits.record(t, LIMITED, now=0.01)
    assert limits.admit(ticket(), now=0.02) == 0.0


def test_a_rate_limit_wait_past_the_deadline_is_refused_and_given_back() -> None:
    limits = RateLimits({"*": {"rpm": 60}})
    for _ in range(60):
        assert limits.admit(ticket(), now=0.0) == 0.0
    verdict = limits.admit(ticket(deadline=0.5), now=0.0)
    assert isinstance(verdict, Refuse) and verdict.wait == math.inf
    assert verdict.error.reason == "rate_limit_wait"
    assert limits.admit(ticket(), now=0.0) == 1.0  # the refused one took nothing


def test_refused_attempts_do_not_count_as_sent_when_judging_a_storm() -> None:
    """A storm is judged by the share of attempts *sent* that came back 429: attempts
    refused before sending (their wait would pass their deadline) were never sent."""
    limits = RateLimits({"*": {"rpm": 60}})
    sent = [ticket() for _ in range(60)]
    for t in sent:
        assert limits.admit(t, now=0.0) == 0.0
    for _ in range(200):  # refused at once: never sent
        assert isinstance(limits.admit(ticket(deadline=0.5), now=0.0), Refuse)
    assert limits.of(M).window.sent == 60


def test_an_attempt_that_waited_for_its_grant_then_never_went_is_not_counted_sent() -> None:
    """Admitted to wait for a grant, then released (its call was cancelled, or a later gate
    refused it): it never went, so it is uncounted; a release without a grant is a no-op."""
    limits = RateLimits({"*": {"rpm": 60}})
    for _ in range(60):
        limits.admit(ticket(), now=0.0)
    waiting = ticket()
    assert limits.admit(waiting, now=0.0) == 1.0  # it goes after its grant's wait...
    assert limits.of(M).window.sent == 61
    limits.release(waiting, now=0.5)  # ...but never did
    assert limits.of(M).window.sent == 60
    limits.release(waiting, now=0.6)  # (released twice: counted off once)
    assert limits.of(M).window.sent == 60


def test_an_attempt_released_after_it_went_stays_counted_sent() -> None:
    """A release after the attempt was sent (its stream closed early, its caller
    cancelled) gives back its grant but not its place among the attempts sent: a 429 storm
    is judged by what reached the API."""
    for configured in ({"*": {"rpm": 60}}, None):
        limits = RateLimits(configured)
        sent = ticket()
        assert limits.admit(sent, now=0.0) == 0.0
        sent.went()
        limits.release(sent, now=0.1)
        assert limits.of(M).window.sent == 1
        unsent = ticket()  # admitted at once, then refused by a later gate: never went
        assert limits.admit(unsent, now=0.2) == 0.0
        limits.release(unsent, now=0.2)
        assert limits.of(M).window.sent == 1


def test_an_attempt_released_after_it_went_keeps_its_request_and_input_spent() -> None:
    """Sent, then abandoned (a stream closed early): the API has counted the request and
    its input, so those stay taken; only the unknown output is given back. One released
    before it went gives everything back."""
    limits = RateLimits({"*": {"rpm": 2}})
    went = ticket()
    assert limits.admit(went, now=0.0) == 0.0
    went.went()
    limits.release(went, now=0.0)
    never = ticket()
    assert limits.admit(never, now=0.0) == 0.0  # the second of two requests a minute
    limits.release(never, now=0.0)  # never sent: its request is given back
    third = limits.admit(ticket(), now=0.0)
    assert third == 0.0  # (the given-back one's place)
    fourth = limits.admit(ticket(), now=0.0)
    assert isinstance(fourth, float) and fourth > 0  # the sent one still counts


def test_the_breaker_refuses_while_open_and_probes_soon() -> None:
    changes: list[tuple[str, str]] = []
    breaker = Breaker(rng=random.Random(0), on_change=lambda m, s: changes.append((m, s)))
    for i in range(20):
        t = ticket()
        breaker.admit(t, now=i * 0.01)
        breaker.record(t, OVERLOADED, now=i * 0.01)
    assert changes == [(M, "open")]
    verdict = breaker.admit(ticket(), now=0.3)
    assert isinstance(verdict, Refuse) and verdict.error.reason == "breaker_open"
    assert verdict.wait <= 0.5
    probe = ticket()
    assert breaker.admit(probe, now=0.5) == 0.0  # half-open: one probe
    assert isinstance(breaker.admit(ticket(), now=0.5), Refuse)
    breaker.record(probe, OK, now=0.7)
    assert changes[-1] == (M, "closed")


def test_a_429_is_no_health_failure_for_the_breaker() -> None:
    breaker = Breaker(rng=random.Random(0))
    for i in range(40):
        t = ticket()
        breaker.admit(t, now=i)
        breaker.record(t, LIMITED, now=i)
    assert breaker.of(M).state == "closed"


def test_gates_give_back_what_earlier_gates_granted_when_a_later_one_refuses() -> None:
    class Refusing:
        def admit(self, ticket: Ticket, now: float) -> float | Refuse:
            return Refuse(1.0, ShedError("no", reason="test"))

        def release(self, ticket: Ticket, now: float) -> None:
            pass

        def headers(self, *args: object) -> None:
            pass

        def record(self, *args: object) -> None:
            pass

    limits = RateLimits({"*": {"rpm": 1}})
    gates = Gates([limits, Refusing()])
    t = ticket()
    assert isinstance(gates.admit(t, now=0.0), Refuse)
    assert t.grant is None
    assert limits.admit(ticket(), now=0.0) == 0.0  # the request bucket is whole again


def test_the_throttle_refuses_only_while_the_model_refuses_most_requests() -> None:
    throttle = Throttle(rng=random.Random(1))
    for i in range(40):
        throttle.record(ticket(), OVERLOADED, now=i * 0.1)
    refused = sum(isinstance(throttle.admit(ticket(), now=4.0), Refuse) for _ in range(100))
    assert refused > 50
    later = 4.0 + throttle.window + 1  # the storm has left the window
    assert not any(isinstance(throttle.admit(ticket(), now=later), Refuse) for _ in range(100))


def test_the_throttle_leaves_the_open_breakers_probes_to_the_breaker() -> None:
    throttle = Throttle(rng=random.Random(1))
    for i in range(40):
        probe = ticket()
        probe.probe = True
        throttle.record(probe, OVERLOADED, now=i * 0.1)
    assert not any(isinstance(throttle.admit(ticket(), now=4.0), Refuse) for _ in range(100))


def test_calls_held_through_a_spell_return_spread_and_new_ones_go_at_once() -> None:
    """Through Gates, as the client asks: a call first refused while the breaker was open
    waits its place in the spread (a tenth of the spell) once; one that first asks after
    the close goes at once."""
    breaker = Breaker(rng=random.Random(3))
    gates = Gates([breaker])
    for i in range(20):  # the model fails from t = 10: the breaker opens
        t = ticket(deadline=1000.0)
        gates.admit(t, now=10 + i * 0.01)
        breaker.record(t, OVERLOADED, now=10 + i * 0.01)
    held = [ticket(deadline=1000.0) for _ in range(200)]
    for t in held:  # (open for 0.25 s from 10.19)
        assert isinstance(gates.admit(t, now=10.3), Refuse)
    now = 10.3
    while breaker.of(M).state != "closed":  # probes fail until t = 50, then one succeeds
        now += 0.1
        probe = ticket()
        if gates.admit(probe, now) == 0.0:
            breaker.record(probe, OK if now >= 50 else OVERLOADED, now)
    spread = breaker.of(M).spread
    assert math.isclose(spread, (now - 10.19) / 10)  # (it opened at the 20th failure)
    waits = [gates.admit(t, now) for t in held]
    assert all(isinstance(w, float) and 0 <= w <= spread for w in waits)
    assert 0.3 * spread <= sorted(waits)[100] <= 0.7 * spread  # (float: even, not bunched)
    assert all(gates.admit(t, now + w) == 0.0 for t, w in zip(held, waits, strict=True))  # once
    assert gates.admit(ticket(deadline=1000.0), now) == 0.0  # a new call goes at once
    soon = ticket(deadline=now + 1.0)
    soon.since = 10.3  # held too, but its deadline is near: it keeps a second for its reply
    assert gates.admit(soon, now) == 0.0


def test_only_the_probe_gives_its_probe_slot_back() -> None:
    breaker = Breaker(rng=random.Random(0))
    for i in range(20):
        t = ticket()
        breaker.admit(t, now=i * 0.01)
        breaker.record(t, OVERLOADED, now=i * 0.01)
    bystander = ticket()  # admitted earlier, while closed; never a probe
    probe = ticket()
    assert breaker.admit(probe, now=1.0) == 0.0 and probe.probe
    breaker.release(bystander, now=1.0)  # must not free the probe's slot
    assert isinstance(breaker.admit(ticket(), now=1.0), Refuse)
    breaker.release(probe, now=1.0)  # the probe was cancelled: another may go at once
    assert breaker.admit(ticket(), now=1.0) == 0.0
