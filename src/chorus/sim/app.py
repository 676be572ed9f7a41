"""The simulator's HTTP face: the Messages API over aiohttp, faithful to the reference.

Routes: ``POST /v1/messages`` (JSON and SSE), ``POST /v1/messages/count_tokens``,
``GET /v1/models[/{id}]``, and the simulator's own ``/_chorus/ledger`` and
``/_chorus/health``. Every failure, including malformed JSON, oversized bodies
and unknown routes, answers in the API's error shape with a ``request-id``.

Every API endpoint (messages, count_tokens, models) is admitted the same way, as
the API does: body size -> auth -> version -> JSON -> fault plan, each attempt
recorded in the ledger. A messages attempt then goes on: validation -> context
window -> prompt cache -> rate limits -> reply (paced by the latency model,
possibly cut or broken by the fault plan).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from chorus.clock import Clock, FakeClock, SystemClock
from chorus.protocol.wire import PING, sse_events, to_json
from chorus.sim.behaviours import plan_reply
from chorus.sim.caching import PromptCache
from chorus.sim.config import SimConfig
from chorus.sim.faults import FaultPicker, FaultStep, LedgerEntry
from chorus.sim.limits import Limiter
from chorus.sim.models import ModelSpec, model_info
from chorus.sim.registry import names
from chorus.sim.render import render
from chorus.sim.request import (
    API_VERSIONS,
    Known,
    MessagesRequest,
    SimError,
    known_messages,
    parse_count_tokens,
    parse_messages,
)
from chorus.sim.samples import Samples
from chorus.sim.tokens import REQUEST_OVERHEAD, segments

__all__ = ["SimulatorApp"]

log = logging.getLogger("chorus.sim")

# What self.known knew of a request's messages (sim.known), from reading it to answering it.
_EARLIER: web.RequestKey[list[Known] | None] = web.RequestKey("chorus.earlier")
_encode = msgspec.json.Encoder().encode
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_TABLE = bytes.maketrans(bytes(range(256)), (_B58 * 5)[:256].encode())
_ORG_ID = "00000000-0000-4000-8000-000000000000"
_STATUS_MESSAGES = {
    401: "invalid x-api-key",
    402: "Your credit balance is too low to access the Anthropic API.",
    403: "Your API key does not have permission to use the specified resource.",
    404: "The requested resource could not be found.",
    408: "Request timed out.",
    409: "Conflict.",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "Number of requests has exceeded your per-minute rate limit.",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Request timed out while processing",
    529: "Overloaded",
}
_SPEND_CAP = (
    "You have reached your API usage limits: your organization has crossed its monthly API "
    "usage threshold."
)

# An endpoint's own work, run once admitted: (body, fault, request_id, ledger entry).
_Answer = Callable[[Any, FaultStep, str, LedgerEntry], Awaitable[web.StreamResponse]]


class _Reset(Exception):
    """Drop the connection without a response."""


class SimulatorApp:
    """State shared by every request: clock, ids, cache, limiters, faults, ledger."""

    def __init__(self, config: SimConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or SimConfig()
        self.clock: Clock = clock or (FakeClock() if self.config.virtual_time else SystemClock())
        self.rng = random.Random(self.config.seed)
        # Ids come from their own generator, salted per simulator: replies are
        # deterministic for a seed, but ids stay unique across restarts, as the
        # API's are (a restarted simulator must not reuse a stored tool_use id).
        self._ids = random.Random(int.from_bytes(os.urandom(8)))
        self.cache = PromptCache()
        self.known = known_messages()  # what earlier calls worked out about their messages
        self.faults = FaultPicker(self.config, self.clock.now())
        self._samples = Samples()
        self._limiters: dict[str, Limiter] = {}
        self._models = {spec.id: spec for spec in self.config.models}
        for spec in self.config.models:
            for alias in spec.aliases:
                self._models.setdefault(alias, spec)
        self._latency = self.config.latency
        self.app = self._build()

    # ------------------------------------------------------------------ plumbing

    @property
    def ledger(self) -> list[LedgerEntry]:
        return list(self.faults.ledger)

    def lookup(self, name: str) -> ModelSpec | None:
        return self._models.get(name)

    def new_id(self, prefix: str, length: int = 24) -> str:
        return prefix + self._ids.randbytes(length).translate(_B58_TABLE).decode()

    def _limiter(self, spec: ModelSpec) -> Limiter | None:
        limits = self.config.rate_limits
        if not limits:
            return None
        key = next((k for k in (spec.id, *spec.aliases) if k in limits), "*")
        if key not in limits:
            return None
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = Limiter(limits[key], self.clock.now())
        return limiter

    def _build(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body_bytes)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_get("/v1/models/{model_id}", self.get_model)
        app.router.add_get("/_chorus/ledger", self.get_ledger)
        app.router.add_delete("/_chorus/ledger", self.clear_ledger)
        app.router.add_get("/_chorus/health", self.health)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        return app

    def _headers(self, request_id: str) -> dict[str, str]:
        return {"request-id": request_id, "anthropic-organization-id": _ORG_ID}

    def _error(self, request_id: str, err: SimError) -> web.Response:
        error: dict[str, Any] = {"type": err.type, "message": err.message}
        if err.status == 429 and "spend" in err.headers.get("x-chorus-kind", ""):
            error["details"] = {"error_code": "enforced_spend_limit_reached"}
        headers = self._headers(request_id)
        headers.update({k: v for k, v in err.headers.items() if not k.startswith("x-chorus")})
        return web.Response(
            status=err.status,
            body=_encode({"type": "error", "error": error, "request_id": request_id}),
            content_type="application/json",
            headers=headers,
        )

    # ------------------------------------------------------------------ admission

    async def _admit(
        self, request: web.Request, request_id: str, entry: LedgerEntry
    ) -> tuple[Any, bytes, FaultStep]:
        """Size, auth, version, JSON and the fault plan; returns (body, raw, fault)."""
        if (
            request.content_length is not None
            and request.content_length > self.config.max_body_bytes
        ):
            raise SimError(413, _STATUS_MESSAGES[413])
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise SimError(413, _STATUS_MESSAGES[413]) from exc
        key = request.headers.get("x-api-key")
        if key is None:
            auth = request.headers.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                key = auth[7:].strip()
        if not key:
            raise SimError(401, "x-api-key header is required")
        if self.config.api_keys and key not in self.config.api_keys:
            raise SimError(401, "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if version is None:
            raise SimError(400, "anthropic-version: header is required")
        if version not in API_VERSIONS:
            raise SimError(
                400,
                f"anthropic-version: unsupported version '{version}'; "
                f"use one of {', '.join(API_VERSIONS)}",
            )
        try:
            body, earlier = self.known.read(raw) if raw else (None, None)
            request[_EARLIER] = earlier
        except msgspec.DecodeError as exc:
            raise SimError(
                400, f"There was an error parsing the body of your request: {exc}"
            ) from exc
        fields = body if isinstance(body, dict) else {}
        model = fields.get("model")
        entry.model = model if isinstance(model, str) else None
        # What the attempt asked for, even if a fault answers before it is parsed.
        entry.stream = fields.get("stream") is True
        behaviour = request.headers.get("x-chorus-behaviour")
        if behaviour is not None and behaviour not in names():
            raise SimError(
                400, f"x-chorus-behaviour: {behaviour!r} is not one of {', '.join(names())}"
            )
        fault, attempt, digest = self.faults.pick(
            header_plan=request.headers.get("x-chorus-fault"),
            body=raw,
            model=self._canonical_model(entry.model),
            now=self.clock.now(),
        )
        entry.fault, entry.attempt, entry.body_hash = str(fault), attempt, digest
        await self._pre_response_fault(fault)
        return body, raw, fault

    def _canonical_model(self, name: str | None) -> str | None:
        spec = self._models.get(name) if name else None
        return spec.id if spec else name

    async def _pre_response_fault(self, fault: FaultStep) -> None:
        if fault.kind == "status":
            raise _status_fault(fault)
        if fault.kind == "reset":
            raise _Reset()
        if fault.kind == "stall":
            await self.clock.sleep(fault.float_param("seconds", 30.0))

    # ------------------------------------------------------------------ handlers

    async def messages(self, request: web.Request) -> web.StreamResponse:
        async def answer(
            body: Any, fault: FaultStep, request_id: str, entry: LedgerEntry
        ) -> web.StreamResponse:
            req = parse_messages(
                body,
                version=request.headers["anthropic-version"],
                lookup=self.lookup,
                earlier=request.get(_EARLIER),
            )
            if self.config.quiz is not None and body.get("temperature", 1.0) != 0:
                req.sample = self._samples.seen(body)
            return await self._reply(request, req, request_id, entry, fault)

        return await self._attempt(request, answer)

    async def count_tokens(self, request: web.Request) -> web.StreamResponse:
        async def answer(
            body: Any, fault: FaultStep, request_id: str, entry: LedgerEntry
        ) -> web.StreamResponse:
            req = parse_count_tokens(
                body,
                version=request.headers["anthropic-version"],
                lookup=self.lookup,
                earlier=request.get(_EARLIER),
            )
            entry.input_tokens = self._count(req)
            return web.Response(
                body=_encode({"input_tokens": entry.input_tokens}),
                content_type="application/json",
                headers=self._headers(request_id),
            )

        return await self._attempt(request, answer)

    async def _attempt(self, request: web.Request, answer: _Answer) -> web.StreamResponse:
        """One attempt at an API endpoint: admission, the answer, errors in the API's shape,
        and the ledger entry, whatever happens. Every API endpoint goes through here, so
        none can skip the auth and version checks (the API answers 401 on all of them)."""
        request_id = self.new_id("req_")
        entry = LedgerEntry(0, self.clock.now(), request_id, request.path, None, False, "ok", 200)
        try:
            body, _, fault = await self._admit(request, request_id, entry)
            return await answer(body, fault, request_id, entry)
        except SimError as err:
            entry.status, entry.outcome = err.status, "error"
            return self._error(request_id, err)
        except _Reset:
            entry.status, entry.outcome = 0, "reset"
            _abort(request)
            return web.Response(status=500)  # never written: the connection is gone
        finally:
            entry.ended = self.clock.now()
            self.faults.record(entry)

    async def list_models(self, request: web.Request) -> web.StreamResponse:
        async def answer(
            body: Any, fault: FaultStep, request_id: str, entry: LedgerEntry
        ) -> web.StreamResponse:
            q = request.query
            try:
                limit = int(q.get("limit", "20"))
            except ValueError as exc:
                raise SimError(400, "limit: Input should be a valid integer") from exc
            if not 1 <= limit <= 1000:
                raise SimError(400, "limit: Input should be between 1 and 1000")
            ids = [spec.id for spec in self.config.models]
            start, stop = 0, len(ids)
            if "after_id" in q:
                if q["after_id"] not in ids:
                    raise SimError(400, f"after_id: unknown model {q['after_id']}")
                start = ids.index(q["after_id"]) + 1
            if "before_id" in q:
                if q["before_id"] not in ids:
                    raise SimError(400, f"before_id: unknown model {q['before_id']}")
                stop = ids.index(q["before_id"])
                start = max(start, stop - limit)
            page = self.config.models[start:stop][:limit]
            data = [model_info(spec) for spec in page]
            reply = {
                "data": data,
                "has_more": start + len(page) < stop if "before_id" not in q else start > 0,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
            return web.Response(
                body=_encode(reply),
                content_type="application/json",
                headers=self._headers(request_id),
            )

        return await self._attempt(request, answer)

    async def get_model(self, request: web.Request) -> web.StreamResponse:
        async def answer(
            body: Any, fault: FaultStep, request_id: str, entry: LedgerEntry
        ) -> web.StreamResponse:
            name = request.match_info["model_id"]
            spec = self.lookup(name)
            if spec is None:
                raise SimError(404, f"model: {name}")
            entry.model = spec.id
            return web.Response(
                body=_encode(model_info(spec)),
                content_type="application/json",
                headers=self._headers(request_id),
            )

        return await self._attempt(request, answer)

    async def get_ledger(self, request: web.Request) -> web.Response:
        return web.Response(body=_encode(self.ledger), content_type="application/json")

    async def clear_ledger(self, request: web.Request) -> web.Response:
        self.faults.ledger.clear()
        return web.Response(body=b'{"cleared":true}', content_type="application/json")

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"ok":true}', content_type="application/json")

    async def not_found(self, request: web.Request) -> web.Response:
        request_id = self.new_id("req_")
        return self._error(request_id, SimError(404, f"Not found: {request.method} {request.path}"))

    # ------------------------------------------------------------------ the reply

    def _count(self, req: MessagesRequest) -> int:
        segs = segments(
            tools=req.tools, system=req.system, messages=req.messages, earlier=req.earlier
        )
        return REQUEST_OVERHEAD + sum(s.tokens for s in segs)

    async def _reply(
        self,
        request: web.Request,
        req: MessagesRequest,
        request_id: str,
        entry: LedgerEntry,
        fault: FaultStep,
    ) -> web.StreamResponse:
        now = self.clock.now()
        segs = segments(
            tools=req.tools, system=req.system, messages=req.messages, earlier=req.earlier
        )
        total = REQUEST_OVERHEAD + sum(s.tokens for s in segs)
        if total > req.model.context_window:
            raise SimError(
                400, f"prompt is too long: {total} tokens > {req.model.context_window} maximum"
            )

        ttft = self._ttft()
        cache = self.cache.apply(
            segs,
            model=req.model.id,
            min_tokens=req.model.cache_min_tokens,
            now=now,
            visible_from=now + ttft,
            auto=req.cache_control,
        )
        limiter = self._limiter(req.model)
        if limiter is not None:
            counted = total - cache.read
            if limiter.config.count_cache_reads:
                counted = total
            refusal = limiter.admit(
                model=req.model.id, input_tokens=counted, max_tokens=req.max_tokens, now=now
            )
            if refusal is not None:
                headers = limiter.headers(now)
                headers["retry-after"] = str(refusal.retry_after)
                raise SimError(429, refusal.message, headers=headers)

        plan = plan_reply(req, self.config, request.headers.get("x-chorus-behaviour"))
        rendered = render(
            plan,
            max_tokens=req.max_tokens,
            stop_sequences=req.stop_sequences,
            fault=fault,
            new_id=self.new_id,
            stream=req.stream,
        )
        usage = {
            "input_tokens": total - cache.read - cache.written,
            "cache_creation_input_tokens": cache.written,
            "cache_read_input_tokens": cache.read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": cache.written_5m,
                "ephemeral_1h_input_tokens": cache.written_1h,
            },
            "output_tokens": rendered.output_tokens,
            "service_tier": "standard",
        }
        entry.input_tokens = usage["input_tokens"]  # type: ignore[assignment]
        entry.output_tokens = rendered.output_tokens
        entry.cache_read_input_tokens = cache.read
        entry.cache_creation_input_tokens = cache.written
        headers = self._headers(request_id)
        if limiter is not None:
            limiter.settle_output(estimated=req.max_tokens, actual=rendered.output_tokens, now=now)
            headers.update(limiter.headers(now))
        message_id = self.new_id("msg_")

        if not req.stream:
            await self.clock.sleep(ttft + self._generation_time(rendered.output_tokens))
            return web.Response(
                body=to_json(rendered, message_id=message_id, model=req.model.id, usage=usage),
                content_type="application/json",
                headers=headers,
            )

        events = sse_events(rendered, message_id=message_id, model=req.model.id, usage=usage)
        headers["content-type"] = "text/event-stream; charset=utf-8"
        headers["cache-control"] = "no-cache"
        paced = ttft > 0 or self._latency.tokens_per_second > 0
        if not paced and fault.kind not in ("cut", "sse_error", "stall_mid"):
            # Nothing to pace: headers, events and the end of the chunked body leave in
            # one write (the same bytes as the paced path, a third of the syscalls).
            entry.events_sent = len(events)
            whole = web.Response(body=b"".join(e for e, _ in events), headers=headers)
            whole.enable_chunked_encoding()
            return whole
        response = web.StreamResponse(status=200, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            await self._stream(
                request, response, events, fault, ttft, entry, rendered.output_tokens
            )
        except (ConnectionResetError, ConnectionError):
            entry.outcome = "client_gone"
        except _Reset:
            entry.outcome = "cut"
            _abort(request)
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        events: list[tuple[bytes, int]],
        fault: FaultStep,
        ttft: float,
        entry: LedgerEntry,
        output_tokens: int,
    ) -> None:
        limit = len(events)
        stop_kind = ""
        if fault.kind in ("cut", "sse_error"):
            limit = min(limit, fault.int_param("after", 3))
            stop_kind = fault.kind
        stall_at = fault.int_param("after", 3) if fault.kind == "stall_mid" else -1
        generation = self._generation_time(output_tokens)
        total_chars = sum(n for _, n in events) or 1
        clock = self.clock
        start = clock.monotonic()
        await self._pause(response, ttft)
        pending: list[bytes] = []
        chars = 0
        for i in range(limit):
            data, n = events[i]
            if i == stall_at:
                if pending:
                    await response.write(b"".join(pending))
                    pending.clear()
                await clock.sleep(fault.float_param("seconds", 30.0))
            if n and generation > 0:
                # Output arrives at the configured rate, spread over the deltas by size.
                chars += n
                due = start + ttft + generation * chars / total_chars
                wait = due - clock.monotonic()
                if wait > 0:
                    if pending:
                        await response.write(b"".join(pending))
                        pending.clear()
                    await self._pause(response, wait)
            pending.append(data)
        entry.events_sent = limit
        if stop_kind == "sse_error":
            error_type = str(fault.params.get("type", "overloaded_error"))
            message = str(fault.params.get("message", "Overloaded"))
            pending.append(
                b"event: error\ndata: "
                + _encode({"type": "error", "error": {"type": error_type, "message": message}})
                + b"\n\n"
            )
            entry.outcome = "sse_error"
        if stop_kind == "cut":
            if pending:
                await response.write(b"".join(pending))
            raise _Reset()
        await response.write_eof(b"".join(pending))  # the last events and the end in one write

    async def _pause(self, response: web.StreamResponse, seconds: float) -> None:
        """Sleep, sending keep-alive pings if the pause is long."""
        interval = self._latency.ping_interval
        while interval > 0 and seconds > interval:
            await self.clock.sleep(interval)
            await response.write(PING)
            seconds -= interval
        await self.clock.sleep(seconds)

    def _ttft(self) -> float:
        lat = self._latency
        if lat.ttft <= 0:
            return 0.0
        if lat.ttft_sigma <= 0:
            return lat.ttft
        return lat.ttft * math.exp(self.rng.gauss(0.0, lat.ttft_sigma))

    def _generation_time(self, output_tokens: int) -> float:
        tps = self._latency.tokens_per_second
        return output_tokens / tps if tps > 0 else 0.0


def _status_fault(fault: FaultStep) -> SimError:
    status = fault.status
    headers: dict[str, str] = {}
    message = str(fault.params.get("message") or _STATUS_MESSAGES.get(status, "Error"))
    if status == 429 and fault.params.get("spend_cap"):
        headers["x-chorus-kind"] = "spend"
        message = _SPEND_CAP
    elif status == 429 or "retry_after" in fault.params:
        headers["retry-after"] = _fmt(fault.params.get("retry_after", 1))
    if "retry_after_ms" in fault.params:
        headers["retry-after-ms"] = _fmt(fault.params["retry_after_ms"])
    if "should_retry" in fault.params:
        headers["x-should-retry"] = "true" if fault.params["should_retry"] else "false"
    return SimError(status, message, headers=headers)


def _fmt(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _abort(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        with contextlib.suppress(Exception):
            transport.abort()
