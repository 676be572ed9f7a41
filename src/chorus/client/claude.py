"""The Claude client: ``create``, ``stream`` and ``count_tokens``, resilient by default.

Same parameter names and dict shapes as the official SDK::

    claude = Claude()                           # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL
    msg = await claude.messages.create(model=..., max_tokens=..., messages=[...])
    async with claude.messages.stream(model=..., max_tokens=..., messages=[...]) as s:
        async for text in s.text_stream: ...

This module is the one retry loop of chorus. For each call it: waits for the
model's rate-limit buckets (within the deadline), asks the circuit breaker and
the adaptive throttle, takes a concurrency slot, sends, and feeds the outcome
back to every policy. What to do next is decided by the pure
:class:`~chorus.policy.retry.RetryPolicy`; this driver only sleeps and loops.
When a model keeps failing before anything escaped, the next fallback model
takes over.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chorus.client.middleware import Attempt, AttemptObserver, CallEnd
from chorus.client.outcomes import outcome_label, outcome_of, retry_hint
from chorus.client.transport import AiohttpTransport, Response, Transport
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
from chorus.policy.breaker import CircuitBreaker
from chorus.policy.budget import RetryBudget
from chorus.policy.clock import Clock, SystemClock
from chorus.policy.ratelimit import Grant, ModelLimits
from chorus.policy.retry import Decision, Outcome, Retry, RetryPolicy, RetryState
from chorus.policy.throttle import AdaptiveThrottle
from chorus.protocol.headers import parse_rate_limits
from chorus.protocol.types import Message, Usage, decode_message

__all__ = ["Claude", "ClientSettings", "TokenCount"]

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
MAX_REQUEST_BYTES = 32 * 1024 * 1024
_encode = msgspec.json.Encoder().encode
_count_decoder = msgspec.json.Decoder(dict[str, Any])

# Per-call options that are not part of the request body.
_CALL_OPTIONS = frozenset(
    {"timeout", "extra_headers", "extra_body", "fallback_models", "continue_interrupted"}
)


class TokenCount(int):
    """``count_tokens`` result: an int, with ``input_tokens`` as the SDK names it."""

    @property
    def input_tokens(self) -> int:
        return int(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """Everything tunable about a :class:`Claude` client, with production defaults."""

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_server_wait: float = 60.0
    retry_budget_ratio: float = 0.2
    retry_budget_initial: float = 10.0
    retry_budget_max: float = 1000.0
    timeout: float = 120.0  # each call's deadline, across all its attempts
    rate_limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    learn_rate_limits: bool = True
    breaker: bool = True
    adaptive_throttle: bool = True
    max_in_flight: int = 1000
    max_queue: int = 10_000
    fallback_models: Sequence[str] = ()
    max_request_bytes: int = MAX_REQUEST_BYTES
    continue_interrupted: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError("max_retries must be 0 or more")
        if self.timeout <= 0:
            raise ConfigError("timeout must be positive (seconds)")
        if self.max_in_flight < 1 or self.max_queue < 0:
            raise ConfigError("max_in_flight must be >= 1 and max_queue >= 0")
        for model, limits in self.rate_limits.items():
            unknown = set(limits) - {"rpm", "itpm", "otpm"}
            if unknown:
                raise ConfigError(
                    f"rate_limits[{model!r}]: unknown key {sorted(unknown)[0]!r}; "
                    "use rpm, itpm, otpm"
                )


class _ModelState:
    """Everything the client tracks about one model."""

    def __init__(
        self, settings: ClientSettings, model: str, now: float, rng: random.Random
    ) -> None:
        limits = settings.rate_limits.get(model) or settings.rate_limits.get("*") or {}
        self.limits = ModelLimits(
            rpm=limits.get("rpm", 0),
            itpm=limits.get("itpm", 0),
            otpm=limits.get("otpm", 0),
            now=now,
        )
        self.breaker = CircuitBreaker() if settings.breaker else None
        self.throttle = AdaptiveThrottle(rng=rng) if settings.adaptive_throttle else None


class _Busy(Exception):
    """Not now: try again after ``wait`` seconds, or give ``refusal`` if time is short."""

    def __init__(self, wait: float, refusal: ShedError) -> None:
        self.wait = wait
        self.refusal = refusal


class _Slots:
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
                if within > 30.0:
                    await self._sem.acquire()  # the call's deadline is checked again on send
                else:
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


class Claude:
    """A resilient Messages API client. Share one per process."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: ClientSettings | None = None,
        transport: Transport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        observers: Sequence[AttemptObserver] | None = None,
        default_headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        if options:
            try:
                settings = ClientSettings(**{**_fields(settings), **options})
            except TypeError as exc:
                raise ConfigError(f"Claude(): {exc}") from None
        self.settings = settings or ClientSettings()
        api_key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        base_url = base_url if base_url is not None else os.environ.get("ANTHROPIC_BASE_URL")
        self._simulator: Any = None
        self._sim_config: Any = None
        if not api_key and base_url is None and not getattr(self, "_simulated", False):
            raise ConfigError(
                "no API key: set ANTHROPIC_API_KEY (or pass api_key=...), or use "
                "Claude.simulated() to run against the built-in simulator"
            )
        self.api_key = api_key or ""
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        own_transport = transport is None
        self.transport: Transport = transport or AiohttpTransport(
            max_connections=self.settings.max_in_flight
        )
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.budget = RetryBudget(
            ratio=self.settings.retry_budget_ratio,
            initial=self.settings.retry_budget_initial,
            max_balance=self.settings.retry_budget_max,
        )
        self.policy = RetryPolicy(
            max_retries=self.settings.max_retries,
            base=self.settings.backoff_base,
            cap=self.settings.backoff_cap,
            max_server_wait=self.settings.max_server_wait,
            rng=self.rng,
            budget=self.budget,
        )
        if observers is None:
            from chorus.observe.logs import LogObserver
            from chorus.observe.tracing import Tracing

            tracing = Tracing()
            observers = [LogObserver(), tracing] if tracing.enabled else [LogObserver()]
        self.observers = list(observers)
        self._models: dict[str, _ModelState] = {}
        self._slots: dict[asyncio.AbstractEventLoop, _Slots] = {}
        self._headers = {
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": "chorus/0.1",
        }
        if self.api_key:
            self._headers["x-api-key"] = self.api_key
        if default_headers:
            self._headers.update({k.lower(): v for k, v in default_headers.items()})
        if own_transport and isinstance(self.transport, AiohttpTransport):
            self.transport.default_headers = self._headers
        # Below this much time left, the call arms its own deadline timer; above it,
        # the transport's connect/read timeouts fire first and per-chunk checks suffice.
        self._arm_deadline_below = float("inf")
        if isinstance(self.transport, AiohttpTransport) and self.transport.read_timeout:
            self._arm_deadline_below = self.transport.connect_timeout + self.transport.read_timeout
        from chorus.client.resources import Messages

        self.messages = Messages(self)

    @classmethod
    def simulated(cls, config: Any = None, **kwargs: Any) -> Claude:
        """A client answered by the built-in simulator, started on first use on 127.0.0.1."""
        client = cls.__new__(cls)
        client._simulated = True  # type: ignore[attr-defined]
        cls.__init__(client, api_key="sk-chorus-simulator", base_url="http://127.0.0.1:0", **kwargs)
        client._sim_config = config
        client._simulator = False  # started lazily, inside the caller's event loop
        return client

    @property
    def simulated_backend(self) -> bool:
        return self._simulator is not None

    async def _ensure_backend(self) -> None:
        if self._simulator is False:
            from chorus.sim import Simulator

            sim = Simulator(self._sim_config)
            await sim.start()
            self._simulator = sim
            self.base_url = sim.base_url

    async def aclose(self) -> None:
        await self.transport.aclose()
        if self._simulator:
            await self._simulator.stop()
            self._simulator = False

    async def __aenter__(self) -> Claude:
        await self._ensure_backend()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ shared machinery

    def model_state(self, model: str) -> _ModelState:
        state = self._models.get(model)
        if state is None:
            state = self._models[model] = _ModelState(
                self.settings, model, self.clock.monotonic(), self.rng
            )
        return state

    def _slots_for_loop(self) -> _Slots:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = _Slots(self.settings.max_in_flight, self.settings.max_queue)
        return slots

    def split_options(self, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if params.keys().isdisjoint(_CALL_OPTIONS):
            return params, {}
        options = {k: params.pop(k) for k in list(params) if k in _CALL_OPTIONS}
        extra = options.get("extra_body")
        if extra:
            params.update(extra)
        return params, options

    def encode_body(self, params: Mapping[str, Any]) -> bytes:
        for name in ("model", "messages"):
            if name not in params:
                raise ConfigError(f"{name} is required")
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
            return self._headers
        headers = dict(self._headers)
        headers.update({k.lower(): v for k, v in extra.items()})
        return headers

    def deadline_for(self, options: Mapping[str, Any]) -> float:
        timeout = options.get("timeout", self.settings.timeout)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigError("timeout must be a positive number of seconds")
        return self.clock.monotonic() + float(timeout)

    def admit(
        self, model: str, body: bytes, max_tokens: int, deadline: float
    ) -> tuple[_ModelState, Grant | None, float]:
        """Rate limits, breaker, throttle: refuse now, or say how long to wait first.

        Returns the model's state, the rate-limit grant (to settle later), and the
        seconds the caller must wait before sending (0 almost always).
        """
        state = self.model_state(model)
        now = self.clock.monotonic()
        if state.throttle is not None and not state.throttle.allow(now):
            raise _Busy(
                self.rng.uniform(0.1, 1.0),
                ShedError(f"{model} is refusing requests; throttled locally", reason="throttled"),
            )
        breaker = state.breaker
        if breaker is not None and not breaker.allow(now):
            # Open: wait for the probe window. Half-open with the probe out: check back soon.
            wait = breaker.retry_in(now) or 0.25
            raise _Busy(
                wait + self.rng.uniform(0, 0.25),
                ShedError(
                    f"circuit open for {model}: it has been failing",
                    reason="breaker_open",
                    retry_after=wait,
                ),
            )
        grant = None
        waited = 0.0
        if state.limits.configured or state.limits.blocked_until > now:
            grant = state.limits.reserve(
                input_tokens=len(body) // 4, output_tokens=max_tokens, now=now
            )
            if grant.wait > 0:
                if now + grant.wait >= deadline:
                    state.limits.cancel(grant, now)
                    if breaker is not None:
                        breaker.release()
                    raise ShedError(
                        f"rate limit for {model} frees up in {grant.wait:.1f} s, "
                        "after the deadline",
                        reason="rate_limit_wait",
                        retry_after=grant.wait,
                    )
                waited = grant.wait
        return state, grant, waited

    async def admit_patiently(
        self,
        model: str,
        body: bytes,
        max_tokens: int,
        deadline: float,
        first: _Busy | None = None,
    ) -> tuple[_ModelState, Grant | None, float]:
        """:meth:`admit`, waiting out an open breaker or local throttling while the
        deadline allows; returns after any rate-limit wait has been slept.

        ``first``: the refusal a caller already got from :meth:`admit` (its fast path).
        """
        waited = 0.0
        busy = first
        while True:
            try:
                if busy is not None:
                    raise busy
                state, grant, wait = self.admit(model, body, max_tokens, deadline)
            except _Busy as refused:
                busy = None
                if self.clock.monotonic() + refused.wait >= deadline:
                    raise refused.refusal from None
                await self.clock.sleep(refused.wait)
                waited += refused.wait
                continue
            if wait:
                await self.clock.sleep(wait)
            return state, grant, waited + wait

    def learn(self, state: _ModelState, headers: Mapping[str, str]) -> None:
        if not self.settings.learn_rate_limits:
            return
        if (
            "anthropic-ratelimit-requests-limit" not in headers
            and "anthropic-ratelimit-input-tokens-limit" not in headers
            and "anthropic-ratelimit-output-tokens-limit" not in headers
        ):
            return
        info = parse_rate_limits(headers)
        if not info.empty:
            state.limits.learn(info, self.clock.monotonic(), self.clock.now())

    def record_outcome(
        self, model: str, state: _ModelState, outcome: Outcome, retry_after: float | None
    ) -> None:
        """Feed one attempt's result to the breaker, throttle and limiter."""
        now = self.clock.monotonic()
        kind = outcome.kind
        if kind == "ok":  # the common case, without the failure arithmetic
            accepted = healthy = True
            rate_limited = connection = False
        else:
            overloaded = (kind == "status" and outcome.status == 529) or (
                kind == "stream_error" and outcome.error_type == "overloaded_error"
            )
            rate_limited = kind == "status" and outcome.status == 429
            accepted = not (overloaded or rate_limited)
            healthy = kind == "status" and outcome.status < 500 and outcome.status != 408
            connection = kind in ("connection", "timeout", "tls")
        if state.throttle is not None:
            state.throttle.record(accepted, now)
        if rate_limited:
            state.limits.block(retry_after if retry_after is not None else 1.0, now)
        breaker = state.breaker
        if breaker is not None and (not rate_limited or breaker.state == "half_open"):
            before = breaker.state
            breaker.record(healthy, now, connection=connection)
            if breaker.state != before:
                for obs in self.observers:
                    obs.breaker_changed(model, breaker.state)

    def attempt_failed(
        self,
        exc: APIError,
        *,
        model: str,
        mstate: _ModelState,
        grant: Grant | None,
        attempt: Attempt,
        state: RetryState,
        escaped: bool = False,
    ) -> Decision:
        """Feed a failed attempt to every policy and return what to do next.

        The attempt record is filled in (outcome, duration, the retry's reason
        and delay); the caller notifies observers and sleeps.
        """
        outcome = outcome_of(exc, escaped=escaped)
        self.record_outcome(model, mstate, outcome, retry_hint(exc))
        if isinstance(exc, APIStatusError):
            self.learn(mstate, exc.headers)
        now = self.clock.monotonic()
        if grant is not None:
            mstate.limits.settle(grant, input_tokens=0, output_tokens=0, now=now)
        attempt.outcome = outcome_label(exc)
        attempt.duration = now - attempt.started
        attempt.request_id = exc.request_id or attempt.request_id
        decision = self.policy.decide(state, outcome, now=now, wall=self.clock.now())
        if isinstance(decision, Retry):
            attempt.retry_reason, attempt.retry_delay = decision.reason, decision.delay
        return decision

    def attempt_succeeded(
        self,
        *,
        model: str,
        mstate: _ModelState,
        grant: Grant | None,
        attempt: Attempt,
        usage: Usage,
    ) -> None:
        """Feed a successful attempt to every policy and to the observers."""
        now = self.clock.monotonic()
        self.record_outcome(model, mstate, Outcome.ok(), None)
        if grant is not None:
            mstate.limits.settle(
                grant,
                input_tokens=usage.input_tokens + usage.cache_creation_input_tokens,
                output_tokens=usage.output_tokens,
                now=now,
            )
        attempt.outcome = "ok"
        attempt.duration = now - attempt.started
        attempt.usage = usage
        self.notify_end(attempt)

    def notify_start(self, attempt: Attempt) -> None:
        for obs in self.observers:
            obs.attempt_started(attempt)

    def notify_end(self, attempt: Attempt) -> None:
        for obs in self.observers:
            obs.attempt_finished(attempt)

    def notify_call(self, call: CallEnd) -> None:
        for obs in self.observers:
            obs.call_finished(call)

    async def send(
        self, path: str, headers: Mapping[str, str], body: bytes, deadline: float
    ) -> Response:
        """One HTTP exchange up to the response headers; error statuses raise."""
        remaining = deadline - self.clock.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError("the call's deadline passed before it could be sent")
        if self._simulator is False:
            await self._ensure_backend()
        if remaining > self._arm_deadline_below:
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
                    "POST", self.base_url + path, headers=headers, body=body
                )
                if resp.status >= 400:
                    raw = await resp.read()
                    raise status_error(resp.status, raw, resp.headers)
        except TimeoutError:
            raise DeadlineExceededError("no response before the call's deadline") from None
        return resp

    async def read_message(self, resp: Response, deadline: float) -> Message:
        remaining = deadline - self.clock.monotonic()
        if remaining > self._arm_deadline_below:
            # Far from the deadline, as in send(): the transport's watchdog bounds the read
            # by silence and by the deadline (to its tick), with no timer per call.
            raw = await resp.read()
            if self.clock.monotonic() > deadline:
                raise DeadlineExceededError("response body not received before the deadline")
        else:
            try:
                async with asyncio.timeout(max(remaining, 0.001)):
                    raw = await resp.read()
            except TimeoutError:
                raise DeadlineExceededError(
                    "response body not received before the deadline"
                ) from None
        try:
            message = decode_message(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ConnectionCutError(f"unreadable response body: {exc}") from exc
        return message

    async def count(self, params: dict[str, Any]) -> TokenCount:
        params, options = self.split_options(params)
        body = self.encode_body(params)
        deadline = self.deadline_for(options)
        headers = self.headers_for(options)
        state = RetryState(deadline=deadline)
        while True:
            try:
                resp = await self.send("/v1/messages/count_tokens", headers, body, deadline)
                raw = await resp.read()
                return TokenCount(int(_count_decoder.decode(raw)["input_tokens"]))
            except APIError as exc:
                decision = self.policy.decide(
                    state, outcome_of(exc), now=self.clock.monotonic(), wall=self.clock.now()
                )
                if not isinstance(decision, Retry):
                    raise
                await self.clock.sleep(decision.delay)
                state.attempts += 1


def _fields(settings: ClientSettings | None) -> dict[str, Any]:
    if settings is None:
        return {}
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}
