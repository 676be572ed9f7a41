"""The machinery every call shares: admission, connection slots, sending, feeding the policies.

The drivers (:mod:`chorus.client.resources` for ``create`` and ``count_tokens``,
:mod:`chorus.client.stream` for ``stream``) hold one
:class:`~chorus.policy.call.Call` each and carry out its steps; the
:class:`Engine` does the I/O they share and reports every attempt's result to
the admission gates and the observers. It decides nothing: the call state
machine and the gates do. Nothing here calls back into the facade.
"""

from __future__ import annotations

import asyncio
import copy
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from chorus.client.observers import Attempt, AttemptObserver, CallEnd
from chorus.client.settings import ClientSettings
from chorus.client.transport import Response, Transport
from chorus.clock import Clock
from chorus.errors import (
    APIError,
    APIStatusError,
    ConfigError,
    ConnectionCutError,
    DeadlineExceededError,
    RequestTooLargeError,
    ShedError,
    status_error,
)
from chorus.policy.admission import Breaker, Gates, RateLimits, Refuse, Result, Throttle, Ticket
from chorus.policy.budget import RetryBudget
from chorus.policy.call import Again, Call, Continue, Step
from chorus.policy.outcomes import outcome_label, outcome_of, retry_hint
from chorus.policy.retry import Outcome, RetryPolicy
from chorus.protocol.sent import SentMessages, sendable
from chorus.protocol.types import Message, Usage, decode_message

__all__ = ["CALL_OPTIONS", "Engine", "Slots"]

_encode = msgspec.json.Encoder().encode

# Per-call options that are not part of the request body.
CALL_OPTIONS = frozenset(
    {"timeout", "extra_headers", "extra_body", "fallback_models", "continue_interrupted"}
)
_OK_OUTCOME = Outcome.ok()


_OK_RESULT = Result(_OK_OUTCOME)


class Slots:
    """A concurrency limit with a bounded queue that refuses fast."""

    def __init__(self, limit: int, max_queue: int) -> None:
        self._sem = asyncio.Semaphore(limit)
        self.limit = limit
        self.max_queue = max_queue
        self.waiting = 0
        self.in_flight = 0

    def try_acquire(self) -> bool:
        """Take a slot without waiting, if one is free (the common case)."""
        # Every waiter goes through acquire() and is counted in ``waiting``, so a free
        # slot with nobody waiting is ``_value > 0`` (``locked()`` scans the waiters).
        # tests/client/test_basics.py checks that asyncio.Semaphore still has ``_value``.
        if self.waiting or self._sem._value <= 0:
            return False
        self._sem._value -= 1  # what Semaphore.acquire does when a slot is free, minus the await
        self.in_flight += 1
        return True

    async def acquire(self, within: float) -> None:
        if self._sem.locked():
            if self.waiting >= self.max_queue:
                raise ShedError("too many calls waiting for a connection", reason="queue_full")
            self.waiting += 1
            try:
                await asyncio.wait_for(self._sem.acquire(), max(within, 0.0))
            except TimeoutError:
                raise ShedError(
                    "no connection slot before the deadline", reason="queue_timeout"
                ) from None
            finally:
                self.waiting -= 1
        else:
            await self._sem.acquire()
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1
        self._sem.release()


class Engine:
    """What the drivers share: settings, transport, clock, policies, gates, observers."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: Transport,
        base_url: str,
        headers: dict[str, str],
        clock: Clock,
        rng: random.Random,
        observers: Sequence[AttemptObserver],
        arm_deadline_below: float = math.inf,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.base_url = base_url
        self.headers = headers
        self.clock = clock
        self.rng = rng
        self.observers = list(observers)
        # Below this much time left, a call arms its own deadline timer; above it, the
        # transport's watchdog stops the request at the deadline, with no timer per call.
        self.arm_deadline_below = arm_deadline_below
        # A transport that stops a body at ``expires_in`` itself spares the stream a timer
        # per chunk; with any other, the stream bounds each read by the deadline.
        self.watches_deadlines = bool(getattr(transport, "watches_deadlines", False))
        self.budget = RetryBudget(
            ratio=settings.retry_budget_ratio,
            initial=settings.retry_budget_initial,
            max_balance=settings.retry_budget_max,
        )
        self.policy = RetryPolicy(
            max_retries=settings.max_retries,
            base=settings.backoff_base,
            cap=settings.backoff_cap,
            max_server_wait=settings.max_server_wait,
            rng=rng,
            budget=self.budget,
        )
        gates: list[Any] = []
        if settings.adaptive_throttle:
            gates.append(Throttle(rng=rng))
        if settings.breaker:
            gates.append(Breaker(rng=rng, on_change=self._breaker_changed))
        gates.append(RateLimits(settings.rate_limits, learn=settings.learn_rate_limits))
        self.gates = Gates(gates)
        self._breaker = self.gates.find(Breaker)
        self._slots: dict[asyncio.AbstractEventLoop, Slots] = {}
        self._plain: Engine | None = None
        self._closed: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Event] = {}

    @property
    def plain(self) -> Engine:
        """The same engine with no gates and no observers, for calls that are not model
        calls (``count_tokens``): they share the transport, slots, retries and budget."""
        plain = self._plain
        if plain is None:
            plain = self._plain = copy.copy(self)
            plain.gates = Gates(())
            plain._breaker = None
            plain.observers = []
            plain._plain = plain
        return plain

    # ------------------------------------------------------------------ a call's fixed parts

    def split_options(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if params.keys().isdisjoint(CALL_OPTIONS):
            return params, {}
        options = {k: params.pop(k) for k in list(params) if k in CALL_OPTIONS}
        extra = options.get("extra_body")
        if extra:
            params.update(extra)
        return params, options

    def encode_body(self, params: Mapping[str, Any]) -> bytes:
        """The request's JSON. Messages laid out with their JSON at hand
        (``protocol.sent.SentMessages``: an agent's history), and a message that carries
        its own (a ``json`` attribute holding a ``msgspec.Raw``), are sent as they are,
        not encoded again."""
        for name in ("model", "messages"):
            if name not in params:
                raise ConfigError(f"{name} is required")
        messages = params["messages"]
        if type(messages) is SentMessages and messages.json is not None:
            params = {**params, "messages": messages.json}  # (laid out with its JSON at hand)
        elif isinstance(messages, list):
            params = {**params, "messages": list(map(sendable, messages))}
        try:
            body = _encode(params)
        except (TypeError, msgspec.EncodeError) as exc:
            raise ConfigError(f"request is not JSON-serializable: {exc}") from None
        if len(body) > self.settings.max_request_bytes:
            raise RequestTooLargeError(
                f"request body is {len(body):,} bytes; the API accepts at most "
                f"{self.settings.max_request_bytes:,}",
                status=413,
                type="request_too_large",
            )
        return body

    def headers_for(self, options: Mapping[str, Any]) -> dict[str, str]:
        extra = options.get("extra_headers")
        if not extra:
            return self.headers
        headers = dict(self.headers)
        headers.update({k.lower(): v for k, v in extra.items()})
        return headers

    def call(
        self, params: Mapping[str, Any], options: Mapping[str, Any], *, fallbacks: bool = True
    ) -> Call:
        """A new call: its models in order and its deadline."""
        timeout = options.get("timeout", self.settings.timeout)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError("timeout must be a positive number of seconds")
        models = [params["model"]]
        if fallbacks:
            models += options.get("fallback_models", self.settings.fallback_models)
        deadline = self.clock.monotonic() + float(timeout)
        return Call(models, deadline=deadline, policy=self.policy)

    # ------------------------------------------------------------------ admission

    def admit_now(self, ticket: Ticket) -> Slots | float | Refuse:
        """The common case without an await: every gate says go and a slot is free, so the
        slot pool comes back. Otherwise the gates' verdict, for :meth:`admit` to carry on
        from (what they granted stays granted)."""
        verdict = self.gates.admit(ticket, self.clock.monotonic())
        if type(verdict) is float and verdict == 0.0:
            slots = self.slots()
            if slots.try_acquire():
                return slots
        return verdict

    async def admit(
        self, ticket: Ticket, verdict: float | Refuse | None = None
    ) -> tuple[Slots, float]:
        """Through the gates (waiting where the deadline allows), then a connection slot.

        ``verdict``: what :meth:`admit_now` already got from the gates. Returns the slot
        pool (to release the slot) and the seconds waited. Raises :class:`ShedError` when
        the call cannot be admitted before its deadline; the gates are then given back
        what they granted.
        """
        clock = self.clock
        if verdict is None:
            verdict = self.gates.admit(ticket, clock.monotonic())
        waited = 0.0
        while type(verdict) is Refuse:
            before = clock.monotonic()
            if before + verdict.wait >= ticket.deadline:
                raise verdict.error
            if verdict.error.reason == "breaker_open":
                await self._until_closed(ticket.model, verdict.wait)
            else:
                await clock.sleep(verdict.wait)
            waited += clock.monotonic() - before
            verdict = self.gates.admit(ticket, clock.monotonic())
        if verdict:
            try:
                await clock.sleep(verdict)  # type: ignore[arg-type]  # a float wait, held for us
            except BaseException:
                self.gates.release(ticket, clock.monotonic())  # cancelled while held
                raise
            waited += verdict  # type: ignore[operator]
        slots = self.slots()
        if not slots.try_acquire():
            try:
                await slots.acquire(ticket.deadline - clock.monotonic())
            except BaseException:
                self.gates.release(ticket, clock.monotonic())
                raise
        return slots, waited

    async def backoff(self, model: str, delay: float, *, hinted: bool = False) -> None:
        """Sleep a retry's delay; while the model's breaker is open, only until it closes.

        A backoff drawn while the model was failing says nothing once a probe has
        shown it is back: waking then is what keeps a storm from starving the calls
        that outlived it. A wait the server asked for (``hinted``) is kept whole.
        """
        breaker = self._breaker
        if not hinted and breaker is not None and breaker.of(model).state != "closed":
            await self._until_closed(model, delay)
        else:
            await self.clock.sleep(delay)

    async def _until_closed(self, model: str, wait: float) -> None:
        """Wait ``wait`` seconds, or less if the model's breaker closes first: once a probe
        shows the model is back, a waiting call need not wait for its next poll (the
        breaker gate then gives each held call its place in the spread return)."""
        key = (asyncio.get_running_loop(), model)
        event = self._closed.get(key)
        if event is None:
            event = self._closed[key] = asyncio.Event()
        sleeper = asyncio.ensure_future(self.clock.sleep(wait))
        waker = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def slots(self) -> Slots:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = Slots(self.settings.max_in_flight, self.settings.max_queue)
        return slots

    # ------------------------------------------------------------------ the exchange

    async def send(
        self, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> Response:
        """One HTTP exchange up to the response headers; error statuses raise."""
        remaining = deadline - self.clock.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError("the call's deadline passed before it could be sent")
        if remaining > self.arm_deadline_below:
            # No timer of our own: the transport's watchdog stops the request, or a body
            # still trickling in, once the deadline passes.
            resp = await self.transport.send(
                "POST", self.base_url + path, headers=headers, body=body, expires_in=remaining
            )
            if resp.status >= 400:
                raise status_error(resp.status, await resp.read(), resp.headers)
            return resp
        try:
            async with asyncio.timeout(remaining):
                resp = await self.transport.send(
                    "POST", self.base_url + path, headers=headers, body=body, expires_in=remaining
                )
                if resp.status >= 400:
                    raw = await resp.read()
                    raise status_error(resp.status, raw, resp.headers)
        except TimeoutError:
            raise DeadlineExceededError("no response before the call's deadline") from None
        return resp

    async def read_body(self, resp: Response, deadline: float) -> bytes:
        """The whole body, or :class:`DeadlineExceededError` once the deadline passes."""
        remaining = deadline - self.clock.monotonic()
        if remaining > self.arm_deadline_below:
            # Far from the deadline, as in send(): the transport's watchdog bounds the read
            # by silence and by the deadline (to its tick), with no timer per call.
            raw = await resp.read()
            if self.clock.monotonic() > deadline:
                raise DeadlineExceededError("response body not received before the deadline")
            return raw
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                return await resp.read()
        except TimeoutError:
            raise DeadlineExceededError("response body not received before the deadline") from None

    async def read_message(self, resp: Response, deadline: float) -> Message:
        raw = await self.read_body(resp, deadline)
        try:
            return decode_message(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ConnectionCutError(f"unreadable response body: {exc}") from exc

    # ------------------------------------------------------------------ results

    def started(self, call: Call, ticket: Ticket, *, stream: bool) -> Attempt:
        """An admitted attempt is about to be sent."""
        attempt = Attempt(ticket.model, call.retry.attempts, stream, self.clock.monotonic())
        ticket.went()  # (a release after this, on a cancel, leaves it counted as sent)
        call.sent()
        for obs in self.observers:
            obs.attempt_started(attempt)
        return attempt

    def headers_in(self, ticket: Ticket, headers: Mapping[str, str]) -> None:
        self.gates.headers(ticket, 200, headers, self.clock.monotonic(), self.clock.now())

    def succeeded(self, ticket: Ticket, attempt: Attempt, usage: Usage) -> None:
        """Feed a successful attempt to the gates and the observers."""
        now = self.clock.monotonic()
        if ticket.grant is None:  # nothing to settle: one shared result will do
            self.gates.record(ticket, _OK_RESULT, now)
        else:
            result = Result(
                _OK_OUTCOME,
                input_tokens=usage.input_tokens + usage.cache_creation_input_tokens,
                output_tokens=usage.output_tokens,
            )
            self.gates.record(ticket, result, now)
        attempt.outcome = "ok"
        attempt.duration = now - attempt.started
        attempt.usage = usage
        for obs in self.observers:
            obs.attempt_finished(attempt)

    def failed(
        self,
        call: Call,
        ticket: Ticket,
        attempt: Attempt,
        exc: APIError,
        *,
        continuable: bool = False,
    ) -> Step:
        """Feed a failed attempt to the gates, ask the call what next, tell the observers."""
        clock = self.clock
        now, wall = clock.monotonic(), clock.now()
        if isinstance(exc, APIStatusError):
            self.gates.headers(ticket, exc.status, exc.headers, now, wall)
        self.gates.record(ticket, Result(outcome_of(exc), retry_hint(exc, wall=wall)), now)
        attempt.outcome = outcome_label(exc)
        attempt.duration = now - attempt.started
        attempt.request_id = exc.request_id or attempt.request_id
        step = call.failed(exc, now=now, wall=wall, continuable=continuable)
        if type(step) is Again:
            attempt.retry_reason, attempt.retry_delay = step.reason, step.delay
        elif type(step) is Continue:
            attempt.retry_reason, attempt.retry_delay = "continue interrupted text", step.delay
        for obs in self.observers:
            obs.attempt_finished(attempt)
        return step

    def abandoned(self, ticket: Ticket, attempt: Attempt | None) -> None:
        """An admitted attempt that will never report (its caller was cancelled): the gates
        get back what they granted (a breaker's probe slot, a rate-limit reservation), and
        the observers hear that the attempt ended."""
        self.gates.release(ticket, self.clock.monotonic())
        if attempt is not None and not attempt.outcome:
            attempt.outcome = "cancelled"
            attempt.duration = self.clock.monotonic() - attempt.started
            for obs in self.observers:
                obs.attempt_finished(attempt)

    def ended(self, model: str, outcome: str, call: Call, started: float, waited: float) -> None:
        """The whole call is over."""
        record = CallEnd(model, outcome, call.attempts, self.clock.monotonic() - started, waited)
        for obs in self.observers:
            obs.call_finished(record)

    def _breaker_changed(self, model: str, state: str) -> None:
        if state == "closed":
            for key in [k for k in self._closed if k[1] == model]:
                self._closed.pop(key).set()  # wake the waiters; later ones get a new event
        for obs in self.observers:
            obs.breaker_changed(model, state)

    def ticket(self, model: str, body: bytes, max_tokens: int, deadline: float) -> Ticket:
        # About four bytes of JSON per input token: an estimate for pacing, settled later.
        return Ticket(model, len(body) // 4, max_tokens, deadline)
