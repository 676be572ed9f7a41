"""Admission: may an attempt go to the API now? Small gates of one shape, combined in order.

Every gate answers the same three questions for one attempt (a :class:`Ticket`):

* ``admit(ticket, now)`` -> ``0.0`` (go now), a wait in seconds with capacity
  already reserved (go after it), or :class:`Refuse` (not now: ask again after
  ``wait``, or give the caller ``error`` if its deadline comes first);
* ``headers(ticket, status, headers, now, wall)``: the response headers arrived;
* ``record(ticket, result, now)``: the attempt ended; ``release(ticket, now)``:
  it was admitted and then never sent.

:class:`Gates` asks each gate in turn and gives back what earlier gates granted
when a later one refuses. The client builds ``[Throttle, Breaker, RateLimits]``
from its settings; a shared limiter (Redis) is one more gate of the same shape.

The three gates shape traffic in a storm and stay out of the way between storms:

* :class:`RateLimits` paces calls to the buckets the headers describe (or that
  were configured). A 429 pauses *every* call of the model only on evidence that
  the limit is shared: the headers say a bucket is exhausted, or 429s arrive from
  many calls at once (at least ``storm_min`` of the last attempts within
  ``storm_window`` seconds, and at least ``storm_share`` of them). A lone 429 with
  no such evidence delays only its own call (the retry policy waits its
  ``retry-after``).
* :class:`Breaker` opens on health failures and probes again after a short,
  bounded interval (0.25 s, doubling to 0.5 s): a few probes a second cost the API
  nothing, and traffic is back within about half a second of its return. The calls
  it held then return spread over a tenth of the outage (policy/breaker.py), while
  calls that start after it closed go at once.
* :class:`Throttle` refuses locally while the model refuses most requests
  (SRE book's adaptive throttling), over a window short enough to forget a storm
  once it is over. The open breaker's probes are not counted: they are the
  breaker's question, and their failures would hold back the first calls after it
  closed.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from chorus.errors import ShedError
from chorus.policy.breaker import CircuitBreaker
from chorus.policy.ratelimit import Grant, ModelLimits
from chorus.policy.retry import Outcome
from chorus.policy.throttle import AdaptiveThrottle
from chorus.protocol.headers import RateLimitInfo, parse_rate_limits

__all__ = [
    "Breaker",
    "Gate",
    "Gates",
    "RateLimits",
    "Refuse",
    "Result",
    "Throttle",
    "Ticket",
]


class Ticket:
    """One attempt asking to be sent: what it will cost, and what it was granted."""

    __slots__ = (
        "answered",
        "counted",
        "deadline",
        "grant",
        "input_tokens",
        "model",
        "output_tokens",
        "probe",
        "sent",
        "since",
    )

    def __init__(self, model: str, input_tokens: int, output_tokens: int, deadline: float) -> None:
        self.model = model
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.deadline = deadline
        self.grant: Grant | None = None  # the rate-limit reservation, settled on record
        self.answered = False  # a success's health was reported when its headers came
        self.probe = False  # it holds the half-open breaker's probe slot
        self.since: float | None = None  # when it first asked (Gates.admit sets it)
        # The storm window's slot it was counted sent in, while it has not gone yet: one
        # released before it goes (a later gate refused it, its caller gave up) is
        # uncounted; the engine clears this once the attempt is sent (see ``went``).
        self.counted: list[float] | None = None
        self.sent = False  # it went to the API (a release after that gives back less)

    def went(self) -> None:
        """The attempt was sent: from now on it stays counted, however it ends."""
        self.counted = None
        self.sent = True


@dataclass(frozen=True, slots=True)
class Refuse:
    """Not now: ask again after ``wait`` seconds (``inf``: not before the deadline)."""

    wait: float
    error: ShedError


@dataclass(frozen=True, slots=True)
class Result:
    """How an admitted attempt ended, in the terms the gates need."""

    outcome: Outcome
    retry_after: float | None = None  # the server's hint on an error response
    input_tokens: int = 0  # what the API counted (input + cache writes), 0 on failure
    output_tokens: int = 0


_G = TypeVar("_G")


class Gate(Protocol):
    def admit(self, ticket: Ticket, now: float) -> float | Refuse: ...

    def release(self, ticket: Ticket, now: float) -> None: ...

    def headers(
        self, ticket: Ticket, status: int, headers: Mapping[str, str], now: float, wall: float
    ) -> None: ...

    def record(self, ticket: Ticket, result: Result, now: float) -> None: ...


class Gates:
    """Gates asked in order: all must let an attempt through; the longest wait holds."""

    __slots__ = ("gates",)

    def __init__(self, gates: Sequence[Gate]) -> None:
        self.gates = tuple(gates)

    def admit(self, ticket: Ticket, now: float) -> float | Refuse:
        if ticket.since is None:
            ticket.since = now
        wait = 0.0
        gates = self.gates
        for i, gate in enumerate(gates):
            verdict = gate.admit(ticket, now)
            if type(verdict) is Refuse:
                for earlier in reversed(gates[:i]):
                    earlier.release(ticket, now)
                return verdict
            if verdict > wait:  # type: ignore[operator]  # a float, once not a Refuse
                wait = verdict  # type: ignore[assignment]
        return wait

    def release(self, ticket: Ticket, now: float) -> None:
        for gate in reversed(self.gates):
            gate.release(ticket, now)

    def headers(
        self, ticket: Ticket, status: int, headers: Mapping[str, str], now: float, wall: float
    ) -> None:
        for gate in self.gates:
            gate.headers(ticket, status, headers, now, wall)

    def record(self, ticket: Ticket, result: Result, now: float) -> None:
        for gate in self.gates:
            gate.record(ticket, result, now)

    def find(self, kind: type[_G]) -> _G | None:
        """The first gate of this type (for stats and tests)."""
        for gate in self.gates:
            if isinstance(gate, kind):
                return gate
        return None


class _PerModel:
    """Gates keep one small state object per model name."""

    def headers(
        self, ticket: Ticket, status: int, headers: Mapping[str, str], now: float, wall: float
    ) -> None:
        return None

    def release(self, ticket: Ticket, now: float) -> None:
        return None


class Throttle(_PerModel):
    """Adaptive throttling per model: refuse locally while the model refuses most requests."""

    def __init__(
        self, *, rng: random.Random, k: float = 2.0, window: float = 30.0, min_requests: int = 20
    ) -> None:
        self.rng = rng
        self.k, self.window, self.min_requests = k, window, min_requests
        self.models: dict[str, AdaptiveThrottle] = {}

    def of(self, model: str) -> AdaptiveThrottle:
        throttle = self.models.get(model)
        if throttle is None:
            throttle = self.models[model] = AdaptiveThrottle(
                k=self.k, window=self.window, min_requests=self.min_requests, rng=self.rng
            )
        return throttle

    def admit(self, ticket: Ticket, now: float) -> float | Refuse:
        if self.of(ticket.model).allow(now):
            return 0.0
        return Refuse(
            self.rng.uniform(0.1, 1.0),
            ShedError(
                f"{ticket.model} is refusing requests; throttled locally", reason="throttled"
            ),
        )

    def record(self, ticket: Ticket, result: Result, now: float) -> None:
        if ticket.probe:  # the open breaker's own question: its answer is the breaker's
            return
        outcome = result.outcome
        self.of(ticket.model).record(outcome.kind == "ok" or outcome.accepted, now)


class Breaker(_PerModel):
    """A circuit breaker per model; ``on_change(model, state)`` hears it open and close."""

    def __init__(
        self,
        *,
        rng: random.Random,
        on_change: Callable[[str, str], None] | None = None,
        open_for: float = 0.25,
        max_open: float = 0.5,
    ) -> None:
        self.rng = rng
        self.on_change = on_change
        self.open_for, self.max_open = open_for, max_open
        self.models: dict[str, CircuitBreaker] = {}

    def of(self, model: str) -> CircuitBreaker:
        breaker = self.models.get(model)
        if breaker is None:
            breaker = self.models[model] = CircuitBreaker(
                open_for=self.open_for, max_open=self.max_open
            )
        return breaker

    def admit(self, ticket: Ticket, now: float) -> float | Refuse:
        breaker = self.of(ticket.model)
        if breaker.allow(now):
            ticket.probe = breaker.state == "half_open"
            since = ticket.since
            if since is not None and since < breaker.closed_at <= now:
                # Held through the last spell: its place in the spread return, once
                # (after it, it no longer asked before the close), never using more
                # than half the time it has left past a second kept for its reply.
                ticket.since = now
                wait = breaker.returning(now, self.rng.random())
                return min(wait, max(0.0, ticket.deadline - now - 1.0) / 2)
            return 0.0
        # Open: wait for the probe window. Half-open with the probe out: check back soon.
        wait = breaker.retry_in(now) or 0.25
        return Refuse(
            wait + self.rng.uniform(0, 0.25),
            ShedError(
                f"circuit open for {ticket.model}: it has been failing",
                reason="breaker_open",
                retry_after=wait,
            ),
        )

    def release(self, ticket: Ticket, now: float) -> None:
        if ticket.probe:  # only the probe's own slot: never another call's
            ticket.probe = False
            self.of(ticket.model).release()

    def headers(
        self, ticket: Ticket, status: int, headers: Mapping[str, str], now: float, wall: float
    ) -> None:
        # A probe answered with a 200 has shown the model is back: close now, not once
        # its whole reply has streamed in, so the calls waiting for it go a reply sooner.
        if status < 300 and self.of(ticket.model).state == "half_open":
            ticket.answered = True
            self._record(ticket.model, True, now)

    def record(self, ticket: Ticket, result: Result, now: float) -> None:
        breaker = self.of(ticket.model)
        outcome = result.outcome
        if outcome.kind == "ok":  # the common case, without the failure arithmetic
            if not ticket.answered:  # else counted when its headers came
                self._record(ticket.model, True, now)
            return
        # A 429 says nothing about health, except that a probe answered at all.
        if outcome.rate_limited and breaker.state != "half_open":
            return
        self._record(ticket.model, outcome.healthy, now, connection=outcome.unreachable)

    def _record(self, model: str, healthy: bool, now: float, *, connection: bool = False) -> None:
        """Count one health outcome, and tell ``on_change`` if the breaker moved."""
        breaker = self.of(model)
        before = breaker.state
        breaker.record(healthy, now, connection=connection)
        if breaker.state != before and self.on_change is not None:
            self.on_change(model, breaker.state)


class _Window:
    """Attempts sent and 429s received over the last ``span`` seconds, in eight slots:
    a fixed cost per attempt, however many attempts a second there are."""

    __slots__ = ("limited", "sent", "slot", "slots")

    def __init__(self, span: float) -> None:
        self.slot = span / 8
        self.slots: deque[list[float]] = deque()  # [slot start, sent, limited]
        self.sent = 0
        self.limited = 0

    def _current(self, now: float) -> list[float]:
        slots = self.slots
        if slots and now < slots[-1][0] + self.slot:
            return slots[-1]
        horizon = now - 8 * self.slot
        while slots and slots[0][0] + self.slot <= horizon:
            _, sent, limited = slots.popleft()
            self.sent -= int(sent)
            self.limited -= int(limited)
        current = [now - now % self.slot, 0.0, 0.0]
        slots.append(current)
        return current

    def add_sent(self, now: float) -> list[float]:
        """Count an attempt sent now; the slot it was counted in is returned (see unsend)."""
        current = self._current(now)
        current[1] += 1
        self.sent += 1
        return current

    def unsend(self, slot: list[float]) -> None:
        """An attempt counted sent in ``slot`` never went: uncount it, if still in view."""
        if slot[1] > 0 and any(s is slot for s in self.slots):
            slot[1] -= 1
            self.sent -= 1

    def add_limited(self, now: float) -> None:
        self._current(now)[2] += 1
        self.limited += 1


class _Limits:
    """One model's buckets, and the recent 429s that tell a shared limit from noise."""

    __slots__ = ("buckets", "exhausted_at", "window")

    def __init__(self, buckets: ModelLimits, span: float) -> None:
        self.buckets = buckets
        self.exhausted_at = -math.inf  # when the headers last showed a bucket at 0
        self.window = _Window(span)


class RateLimits(_PerModel):
    """Per-model request and token buckets: configured, or learned from the headers."""

    def __init__(
        self,
        configured: Mapping[str, Mapping[str, float]] | None = None,
        *,
        learn: bool = True,
        storm_min: int = 8,
        storm_share: float = 0.5,
        storm_window: float = 2.0,
    ) -> None:
        self.configured = dict(configured or {})
        self.learn = learn
        self.storm_min, self.storm_share, self.storm_window = storm_min, storm_share, storm_window
        self.models: dict[str, _Limits] = {}

    def of(self, model: str, now: float = 0.0) -> _Limits:
        state = self.models.get(model)
        if state is None:
            limits = self.configured.get(model) or self.configured.get("*") or {}
            buckets = ModelLimits(
                rpm=limits.get("rpm", 0),
                itpm=limits.get("itpm", 0),
                otpm=limits.get("otpm", 0),
                now=now,
            )
            state = self.models[model] = _Limits(buckets, self.storm_window)
        return state

    def admit(self, ticket: Ticket, now: float) -> float | Refuse:
        state = self.of(ticket.model, now)
        buckets = state.buckets
        if not (buckets.configured or buckets.blocked_until > now):
            ticket.counted = state.window.add_sent(now)  # the last gate: this attempt goes
            return 0.0
        grant = buckets.reserve(
            input_tokens=ticket.input_tokens, output_tokens=ticket.output_tokens, now=now
        )
        if grant.wait > 0 and now + grant.wait >= ticket.deadline:
            buckets.cancel(grant, now)  # (refused: never sent, so not counted as sent)
            return Refuse(
                math.inf,
                ShedError(
                    f"rate limit for {ticket.model} frees up in {grant.wait:.1f} s, "
                    "after the deadline",
                    reason="rate_limit_wait",
                    retry_after=grant.wait,
                ),
            )
        ticket.grant = grant
        ticket.counted = state.window.add_sent(now)  # it goes, after waiting for its grant
        return grant.wait

    def release(self, ticket: Ticket, now: float) -> None:
        state = self.of(ticket.model, now)
        if ticket.grant is not None:
            if ticket.sent:  # (the request and its input were spent; only output is unknown)
                state.buckets.settle(
                    ticket.grant, input_tokens=ticket.grant.input_tokens, output_tokens=0, now=now
                )
            else:
                state.buckets.cancel(ticket.grant, now)
            ticket.grant = None
        if ticket.counted is not None:  # admitted, then never went: not an attempt sent
            state.window.unsend(ticket.counted)
            ticket.counted = None

    def headers(
        self, ticket: Ticket, status: int, headers: Mapping[str, str], now: float, wall: float
    ) -> None:
        if (
            "anthropic-ratelimit-requests-limit" not in headers
            and "anthropic-ratelimit-input-tokens-limit" not in headers
            and "anthropic-ratelimit-output-tokens-limit" not in headers
            and "anthropic-ratelimit-tokens-limit" not in headers
        ):
            return
        info = parse_rate_limits(headers)
        if info.empty:
            return
        state = self.of(ticket.model, now)
        if self.learn:
            state.buckets.learn(info, now, wall)
        if _exhausted(info):  # evidence of a shared limit, learned or not
            state.exhausted_at = now

    def record(self, ticket: Ticket, result: Result, now: float) -> None:
        state = self.of(ticket.model, now)
        grant = ticket.grant
        if grant is not None:
            ticket.grant = None
            state.buckets.settle(
                grant, input_tokens=result.input_tokens, output_tokens=result.output_tokens, now=now
            )
        if result.outcome.kind != "ok" and result.outcome.rate_limited and self._shared(state, now):
            wait = result.retry_after if result.retry_after is not None else 1.0
            state.buckets.block(wait, now)

    def _shared(self, state: _Limits, now: float) -> bool:
        """Is this 429 a limit every call of the model shares, or one call's bad luck?

        Shared when the headers showed a bucket at 0 just now, or when, over the
        window, 429s came back for at least ``storm_min`` attempts and for at least
        ``storm_share`` of the attempts sent (not of those finished: refusals come
        back faster than replies, so early in a burst they would look like most).
        """
        window = state.window
        window.add_limited(now)
        if now - state.exhausted_at <= self.storm_window:
            return True
        hits = window.limited
        return hits >= self.storm_min and hits >= self.storm_share * window.sent


def _exhausted(info: RateLimitInfo) -> bool:
    return any(
        b is not None and b.remaining <= 0
        for b in (info.requests, info.input_tokens, info.output_tokens, info.tokens)
    )
