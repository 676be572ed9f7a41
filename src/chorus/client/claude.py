"""The Claude client: ``create``, ``stream`` and ``count_tokens``, resilient by default.

Same parameter names and dict shapes as the official SDK::

    claude = Claude()                           # ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL
    msg = await claude.messages.create(model=..., max_tokens=..., messages=[...])
    async with claude.messages.stream(model=..., max_tokens=..., messages=[...]) as s:
        async for text in s.text_stream: ...

This module is the facade: it reads the constructor's arguments (and the
environment, when they are left out), builds the :class:`~chorus.client.engine.Engine`
and hands it to ``claude.messages``. The one retry loop is the pure
:class:`~chorus.policy.call.Call` state machine, carried out by the drivers in
:mod:`chorus.client.resources` and :mod:`chorus.client.stream`; admission is the
gates of :mod:`chorus.policy.admission`.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

from chorus.client.engine import Engine
from chorus.client.http1 import Http1Transport
from chorus.client.observers import AttemptObserver, LogObserver
from chorus.client.resources import Messages
from chorus.client.settings import API_VERSION, DEFAULT_BASE_URL, ClientSettings, merged
from chorus.client.tracing import Tracing
from chorus.client.transport import Transport
from chorus.clock import Clock, SystemClock
from chorus.errors import ConfigError
from chorus.policy.admission import Breaker, Gates, RateLimits, Throttle
from chorus.policy.budget import RetryBudget
from chorus.policy.retry import RetryPolicy

__all__ = ["Claude"]


class Claude:
    """A resilient Messages API client. Share one per process.

    ``observers``: what hears every attempt and call (``[Metrics()]`` for
    Prometheus); the client's own log and, once an OpenTelemetry tracer provider
    is set, spans are there unless ``observers`` is given. ``transport``: any
    :class:`~chorus.client.transport.Transport` (the simulator's, a test double);
    by default a pooled HTTP/1.1 one (:mod:`chorus.client.http1`). Settings come as
    ``settings=ClientSettings(...)`` or as keywords (``Claude(max_retries=3)``).
    """

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
        settings = merged(settings, options) if options else settings or ClientSettings()
        api_key = api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY")
        base_url = base_url if base_url is not None else os.environ.get("ANTHROPIC_BASE_URL")
        if not api_key and base_url is None:
            raise ConfigError(
                "no API key: set ANTHROPIC_API_KEY (or pass api_key=...), or use "
                "chorus.sim.simulated_client() to run against the built-in simulator"
            )
        self.api_key = api_key or ""
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        headers = {
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
            "accept": "application/json",
            "user-agent": "chorus/0.1",
        }
        if self.api_key:
            headers["x-api-key"] = self.api_key
        if default_headers:
            headers.update({k.lower(): v for k, v in default_headers.items()})
        if transport is None:
            transport = Http1Transport(
                max_connections=settings.max_in_flight, default_headers=headers
            )
        # A transport that stops requests at their deadline itself says from how far off.
        arm_below = getattr(transport, "deadline_timer_below", float("inf"))
        if observers is None:
            tracing = Tracing()
            observers = [LogObserver(), tracing] if tracing.enabled else [LogObserver()]
        self.engine = Engine(
            settings,
            transport=transport,
            base_url=self.base_url,
            headers=headers,
            clock=clock or SystemClock(),
            rng=rng or random.Random(),
            observers=observers,
            arm_deadline_below=arm_below,
        )
        self.messages = Messages(self.engine)

    # What users and operators look at; the engine owns them.
    @property
    def settings(self) -> ClientSettings:
        return self.engine.settings

    @property
    def transport(self) -> Transport:
        return self.engine.transport

    @property
    def clock(self) -> Clock:
        return self.engine.clock

    @property
    def budget(self) -> RetryBudget:
        return self.engine.budget

    @property
    def policy(self) -> RetryPolicy:
        return self.engine.policy

    @property
    def gates(self) -> Gates:
        return self.engine.gates

    @property
    def observers(self) -> list[AttemptObserver]:
        return self.engine.observers

    def model_state(self, model: str) -> ModelState:
        """What the gates know of one model: its breaker, throttle and rate-limit buckets."""
        return ModelState(self.engine.gates, model, self.engine.clock.monotonic())

    def breaker_stats(self) -> dict[str, int]:
        """Times each model's breaker opened so far."""
        breaker = self.engine.gates.find(Breaker)
        return {} if breaker is None else {m: b.opened for m, b in breaker.models.items()}

    async def aclose(self) -> None:
        await self.engine.transport.aclose()

    async def __aenter__(self) -> Claude:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class ModelState:
    """One model's admission state, read from the client's gates."""

    def __init__(self, gates: Gates, model: str, now: float) -> None:
        breaker, throttle, limits = (
            gates.find(Breaker),
            gates.find(Throttle),
            gates.find(RateLimits),
        )
        self.breaker = breaker.of(model) if breaker is not None else None
        self.throttle = throttle.of(model) if throttle is not None else None
        self.limits = limits.of(model, now).buckets if limits is not None else None
