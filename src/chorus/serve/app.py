"""The HTTP face of ``chorus serve``: routes, auth, limits, JSON errors and SSE.

Every error is ``{"type": "error", "error": {"type": ..., "message": ...}}`` with the
status the Messages API would use (400, 401, 403, 404, 409, 413, 429, 503), and
``Retry-After`` when waiting helps. Streams are server-sent events, each with an ``id``
that grows within the session; ``Last-Event-ID`` (header, or ``?after=``) resumes one. A
reader whose connection cannot take more within ``stall`` seconds is disconnected; the
turn runs on, and the reader resumes where it was.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from chorus.errors import ChorusError, ConfigError, TaskFailedError
from chorus.observe.serve_metrics import ServeMetrics
from chorus.protocol.nesting import MAX_DEPTH, too_deep
from chorus.serve.a2a import a2a_routes, is_public
from chorus.serve.auth import Principal, presented_key
from chorus.serve.console import CONSOLE_PREFIX, console_routes
from chorus.serve.messages_api import create_message, list_models
from chorus.serve.openapi import openapi
from chorus.serve.service import ServeError, Service
from chorus.serve.turns import LiveTurn, team_event_json

__all__ = ["make_app"]

_log = logging.getLogger("chorus.serve")
_SERVICE = web.AppKey("service", Service)
_METRICS = web.AppKey("metrics", ServeMetrics)
_PRINCIPAL = web.RequestKey("principal", Principal)
_encode = msgspec.json.Encoder().encode
_PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/"}


def _error(status: int, kind: str, message: str, retry_after: float | None = None) -> web.Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.Response(
        status=status, body=_encode(body), content_type="application/json", headers=headers
    )


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=_encode(body), content_type="application/json")


@web.middleware
async def _guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    service = request.app[_SERVICE]
    started = time.perf_counter()
    route = (
        request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    )
    try:
        path = request.path
        if path not in _PUBLIC and not path.startswith(CONSOLE_PREFIX) and not is_public(path):
            principal = service.principal(presented_key(request.headers))
            request[_PRINCIPAL] = principal
        response = await handler(request)
    except ServeError as exc:
        response = _error(exc.status, exc.kind, exc.message, exc.retry_after)
    except web.HTTPRequestEntityTooLarge:
        response = _error(413, "request_too_large", "the request body is too large")
    except web.HTTPException as exc:
        kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
        response = _error(exc.status, kind, exc.reason)
        if "Allow" in exc.headers:  # a 405 says which methods the path takes
            response.headers["Allow"] = exc.headers["Allow"]
    except (ConfigError, TaskFailedError) as exc:
        response = _error(
            400 if isinstance(exc, ConfigError) else 422, "invalid_request_error", str(exc)
        )
    except ChorusError as exc:
        response = _error(500, "api_error", f"{type(exc).__name__}: {exc}")
    metrics = request.app.get(_METRICS)
    if metrics is not None:
        metrics.request(route, request.method, response.status, time.perf_counter() - started)
    return response


def _scope(request: web.Request, scope: str) -> Principal:
    principal = request[_PRINCIPAL]
    if scope not in principal.scopes:
        raise ServeError(403, "permission_error", f"this key lacks the {scope!r} scope")
    return principal


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ServeError(
            400, "invalid_request_error", "send a JSON body (Content-Type: application/json)"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise
    try:
        body = msgspec.json.decode(raw) if raw else {}
    except msgspec.DecodeError as exc:
        raise ServeError(
            400, "invalid_request_error", f"the body is not valid JSON: {exc}"
        ) from None
    except RecursionError:
        raise ServeError(400, "invalid_request_error", "the body nests too deeply") from None
    if too_deep(body):
        raise ServeError(
            400, "invalid_request_error", f"the body nests more than {MAX_DEPTH} levels deep"
        )
    if not isinstance(body, dict):
        raise ServeError(400, "invalid_request_error", "the body is a JSON object")
    return body


def _known(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ServeError(400, "invalid_request_error", f"unknown field(s): {', '.join(unknown)}")


def _flag(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ServeError(400, "invalid_request_error", f"{name}: a boolean")
    return value


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServeError(400, "invalid_request_error", f"{name}: an integer") from None
    if not low <= value <= high:
        raise ServeError(400, "invalid_request_error", f"{name}: between {low} and {high}")
    return value


def _last_event_id(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    try:
        value = int(raw)
    except ValueError:
        raise ServeError(400, "invalid_request_error", "Last-Event-ID: an event id") from None
    return max(0, value)


# ---------------------------------------------------------------------- streaming


async def _sse(
    request: web.Request,
    events: AsyncIterator[tuple[int | None, str, Any]],
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **(headers or {}),
        }
    )
    await response.prepare(request)
    limits = request.app[_SERVICE].limits
    if request.transport is not None:  # a slow reader's backlog stops at this size
        request.transport.set_write_buffer_limits(high=limits.sse_buffer_bytes)
    try:
        async for event_id, kind, data in events:
            head = f"id: {event_id}\n" if event_id is not None else ""
            chunk = f"{head}event: {kind}\ndata: ".encode() + _encode(data) + b"\n\n"
            async with asyncio.timeout(limits.sse_stall):  # one that takes nothing is let go
                await response.write(chunk)
    except (TimeoutError, ConnectionResetError):
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


# ---------------------------------------------------------------------- handlers


async def _agents(request: web.Request) -> web.Response:
    _scope(request, "turns")
    service = request.app[_SERVICE]
    return _json({"data": [_describe(service, name) for name in service.agents]})


def _describe(service: Service, name: str) -> dict[str, Any]:
    agent = service.agent(name)
    config = service.agent_configs[name]
    return {
        "name": name,
        "model": agent.model,
        "tools": sorted(agent.tools),
        "capabilities": [
            {"name": c.name, "description": c.description} for c in agent.capabilities
        ],
        "max_tokens": agent.max_tokens,
        "system": bool(config.system),
    }


async def _agent(request: web.Request) -> web.Response:
    _scope(request, "turns")
    return _json(_describe(request.app[_SERVICE], request.match_info["agent"]))


async def _post_turn(request: web.Request) -> web.StreamResponse:
    principal = _scope(request, "turns")
    service = request.app[_SERVICE]
    if "Idempotency-Key" not in request.headers:  # (a retry may be for a turn that exists)
        where = request.match_info
        asker = f"{principal.tenant}/{where['agent']}/{where['session']}"
        service.shed(asker)  # before reading the body: shedding must cost next to nothing
    body = await _body(request)
    _known(body, {"message", "stream", "if_busy"})
    message = body.get("message")
    limit = service.limits.max_message_chars
    if isinstance(message, str):
        if not message.strip():
            raise ServeError(400, "invalid_request_error", "message: empty")
        size = len(message)
    elif isinstance(message, list) and message and all(isinstance(b, dict) for b in message):
        size = len(_encode(message))
    else:
        raise ServeError(
            400, "invalid_request_error", "message: a string, or a list of content blocks"
        )
    if size > limit:
        raise ServeError(413, "request_too_large", f"message: {size} characters, more than {limit}")
    if_busy = body.get("if_busy", "reject")
    if if_busy not in ("reject", "enqueue"):
        raise ServeError(400, "invalid_request_error", 'if_busy: "reject" or "enqueue"')
    stream = _flag(body, "stream")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        raise ServeError(400, "invalid_request_error", "Idempotency-Key: 1 to 200 characters")
    turn = await service.start_turn(
        principal,
        request.match_info["agent"],
        request.match_info["session"],
        message,
        idempotency_key=key,
        if_busy=if_busy,
        live=stream,
    )
    return await _answer(request, turn, stream)


async def _answer(request: web.Request, turn: LiveTurn, stream: bool) -> web.StreamResponse:
    if stream:  # (the turn's number before its first event: a reader can cancel it at once)
        await request.app[_SERVICE].durably_begun(turn)
        turn_header = {"X-Chorus-Turn": str(turn.turn)}
        return await _sse(request, turn.follow(_last_event_id(request)), turn_header)
    await turn.wait()  # (a client that leaves does not stop the turn: it is its own task)
    result = turn.result or {"turn": turn.turn}
    status = {"done": 200, "paused": 200}.get(turn.status, 500)
    if turn.status != "done" and turn.status != "paused":
        errors = (d for _, k, d in reversed(turn.events) if k == "error")
        error: dict[str, Any] = next(errors, {})
        kind = error.get("type", turn.status)
        status = {
            "cancelled": 409,
            "timeout": 504,
            "LimitExceeded": 429,
            "SessionError": 409,  # e.g. a turn waits for approval: resume it first
            "BadRequestError": 400,  # the API refused what the message holds
            "PromptTooLongError": 400,
        }.get(kind, 500)
        return _json(
            {
                "type": "error",
                "turn": turn.turn,
                "status": turn.status,
                "error": {"type": kind, "message": error.get("message", turn.status)},
            },
            status,
        )
    return _json({**result, "status": turn.status}, status)


async def _turn_events(request: web.Request) -> web.StreamResponse:
    principal = _scope(request, "turns")
    turn = await request.app[_SERVICE].turn(principal, *_where(request), _turn_number(request))
    return await _sse(request, turn.follow(_last_event_id(request)))


async def _get_turn(request: web.Request) -> web.Response:
    principal = _scope(request, "turns")
    turn = await request.app[_SERVICE].turn(principal, *_where(request), _turn_number(request))
    return _json(
        {
            "turn": turn.turn,
            "status": turn.status,
            "result": turn.result,
            "events": len(turn.events),
        }
    )


async def _cancel(request: web.Request) -> web.Response:
    principal = _scope(request, "turns")
    turn = await request.app[_SERVICE].cancel(principal, *_where(request), _turn_number(request))
    return _json({"turn": turn.turn, "status": turn.status})


def _where(request: web.Request) -> tuple[str, str]:
    return request.match_info["agent"], request.match_info["session"]


def _turn_number(request: web.Request) -> int:
    try:
        number = int(request.match_info["turn"])
    except ValueError:
        raise ServeError(400, "invalid_request_error", "a turn is a number") from None
    if not 1 <= number <= 2**62:
        raise ServeError(404, "not_found_error", "no such turn (turns count from 1)")
    return number


async def _session(request: web.Request) -> web.Response:
    principal = _scope(request, "turns")
    start = _int_query(request, "start", 0, 0, 2**62)
    limit = _int_query(request, "limit", 100, 1, 1000)
    return _json(await request.app[_SERVICE].history(principal, *_where(request), start, limit))


async def _sessions(request: web.Request) -> web.Response:
    principal = _scope(request, "turns")
    query = request.query.get("q", "")
    if len(query) > 200:
        raise ServeError(400, "invalid_request_error", "q: at most 200 characters")
    limit = _int_query(request, "limit", 50, 1, 500)
    agent = request.match_info["agent"]
    found = await request.app[_SERVICE].sessions(principal, agent, query, limit)
    return _json({"data": found})


async def _teams(request: web.Request) -> web.Response:
    _scope(request, "teams")
    declared = request.app[_SERVICE].config.teams
    return _json({"data": [{"name": t.name, "agents": list(t.agents)} for t in declared]})


async def _delete_session(request: web.Request) -> web.Response:
    principal = _scope(request, "turns")
    await request.app[_SERVICE].delete(principal, *_where(request))
    return _json({"deleted": True})


async def _pending(request: web.Request) -> web.Response:
    principal = _scope(request, "turns")
    return _json({"data": await request.app[_SERVICE].pending(principal, *_where(request))})


async def _resume(request: web.Request) -> web.StreamResponse:
    principal = _scope(request, "turns")
    body = await _body(request)
    _known(body, {"decisions", "stream"})
    decisions = body.get("decisions")
    if (
        not isinstance(decisions, dict)
        or not decisions
        or not all(isinstance(k, str) and isinstance(v, bool) for k, v in decisions.items())
    ):
        raise ServeError(
            400, "invalid_request_error", "decisions: {tool_use_id: true or false, ...}"
        )
    service = request.app[_SERVICE]
    agent, session = _where(request)
    pending = {c["id"] for c in await service.pending(principal, agent, session)}
    if not pending:
        raise ServeError(409, "conflict_error", "no turn of this session waits for approval")
    missing = sorted(pending - set(decisions))
    if missing:
        raise ServeError(
            400, "invalid_request_error", f"decisions: no answer for {', '.join(missing)}"
        )
    turn = await service.start_turn(
        principal,
        agent,
        session,
        None,
        idempotency_key=request.headers.get("Idempotency-Key"),
        resume=decisions,
    )
    return await _answer(request, turn, _flag(body, "stream"))


def _check_decide(options: dict[str, Any]) -> None:
    """decide()'s options as JSON can carry: each the type it must be, in one line."""
    kinds: dict[str, type] = {
        "strategy": str,
        "capability": str,
        "rounds": int,
        "samples": int,
        "quorum": int,
    }
    for name, kind in kinds.items():
        value = options.get(name)
        if name in options and (not isinstance(value, kind) or isinstance(value, bool)):
            what = "an integer" if kind is int else "a string"
            raise ServeError(400, "invalid_request_error", f"{name}: {what}")
    among = options.get("among")
    if "among" in options and (
        not isinstance(among, list) or not all(isinstance(n, str) for n in among)
    ):
        raise ServeError(400, "invalid_request_error", "among: a list of agent names")
    if isinstance(options.get("quorum"), int) and options["quorum"] < 1:
        raise ServeError(400, "invalid_request_error", "quorum: at least 1")


async def _team_run(request: web.Request) -> web.StreamResponse:
    _scope(request, "teams")
    service = request.app[_SERVICE]
    await service.admission()  # team runs make model calls too: past capacity, they wait
    name = request.match_info["team"]
    team = service.teams.get(name)
    if team is None:
        raise ServeError(404, "not_found_error", f"no team named {name!r}")
    body = await _body(request)
    action = request.match_info["action"]
    if action == "assign":
        _known(body, {"task", "capability", "stream"})
        task, capability = body.get("task"), body.get("capability")
        if not isinstance(task, str) or not task.strip():
            raise ServeError(400, "invalid_request_error", "task: a non-empty string")
        if capability is not None and not isinstance(capability, str):
            raise ServeError(400, "invalid_request_error", "capability: a string")
        held = service.reserve_team_run(request[_PRINCIPAL], name, len(task), team.max_awards)
        run = service.settled_team_run(held, team.stream_assign(capability, task))
    elif action == "decide":
        _known(
            body,
            {
                "question",
                "strategy",
                "among",
                "rounds",
                "samples",
                "quorum",
                "capability",
                "judge",
                "stream",
            },
        )
        question = body.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ServeError(400, "invalid_request_error", "question: a non-empty string")
        names = ("strategy", "among", "rounds", "samples", "quorum", "capability")
        options: dict[str, Any] = {k: body[k] for k in names if k in body}
        _check_decide(options)
        judge = body.get("judge")
        if options.get("strategy") == "judge":
            if not isinstance(judge, str) or judge not in service.agents:
                raise ServeError(
                    400, "invalid_request_error", "judge: the name of one of the server's agents"
                )
            options["judge"] = service.agent(judge)
        elif judge is not None:
            raise ServeError(400, "invalid_request_error", 'judge: only with "strategy": "judge"')
        members = len(options.get("among") or service.team_members(name))
        strategy = str(options.get("strategy", "weighted"))
        per_member = {  # a debate's later rounds, or the samples of each member
            "debate": 1 + options.get("rounds", 1),
            "self_consistency": options.get("samples", 5),
            "judge": 2,  # (each answer, then the judge's two verdicts)
        }.get(strategy, 1)
        held = service.reserve_team_run(
            request[_PRINCIPAL], name, len(question), members * int(per_member)
        )
        run = service.settled_team_run(held, team.stream_decide(question, **options))
    else:
        raise ServeError(404, "not_found_error", f"teams have assign and decide, not {action!r}")
    try:
        return await _team_answer(request, run, _flag(body, "stream"))
    finally:
        held.settle()  # (a run that never started, or a reader that left)


async def _team_answer(request: web.Request, run: Any, stream: bool) -> web.StreamResponse:
    if stream:

        async def events() -> AsyncIterator[tuple[int | None, str, Any]]:
            n = 0
            async for event in run:
                n += 1
                kind, data = team_event_json(event)
                yield n, kind, data

        return await _sse(request, events())
    last: Any = None
    async for event in run:
        last = event
    if last is None:
        raise ServeError(500, "api_error", "the team run ended without an outcome")
    kind, data = team_event_json(last)
    if kind == "task_failed":
        return _error(422, "task_failed", data.get("reason", "the task failed"))
    return _json({"event": kind, **data})


async def _messages(request: web.Request) -> web.StreamResponse:
    principal = _scope(request, "turns")
    body = await _body(request)
    return await create_message(request.app[_SERVICE], request, body, principal)


async def _models(request: web.Request) -> web.Response:
    _scope(request, "turns")
    return _json(await list_models(request.app[_SERVICE]))


async def _model(request: web.Request) -> web.Response:
    _scope(request, "turns")
    name = request.match_info["model"]
    models = await list_models(request.app[_SERVICE])
    found = next((m for m in models["data"] if m["id"] == name), None)
    if found is None:
        raise ServeError(404, "not_found_error", f"model: {name!r} is not an agent here")
    return _json(found)


async def _health(request: web.Request) -> web.Response:
    return _json({"ok": True})


async def _ready(request: web.Request) -> web.Response:
    service = request.app[_SERVICE]
    if not service.ready:
        return _error(503, "overloaded_error", "starting or stopping", retry_after=1.0)
    return _json({"ready": True, "running_turns": len(service._running)})


async def _metrics(request: web.Request) -> web.Response:
    _scope(request, "admin")
    metrics = request.app.get(_METRICS)
    text = metrics.render() if metrics is not None else b""
    return web.Response(body=text, content_type="text/plain", charset="utf-8")


async def _openapi(request: web.Request) -> web.Response:
    return _json(openapi(bool(request.app[_SERVICE].keyring)))


def make_app(service: Service, *, metrics: Any = None) -> web.Application:
    app = web.Application(client_max_size=service.limits.max_body_bytes, middlewares=[_guard])
    app[_SERVICE] = service
    if metrics is not None:
        app[_METRICS] = metrics
    base = "/v1/agents/{agent}/sessions/{session}"
    app.add_routes(
        [
            web.get("/healthz", _health),
            web.get("/readyz", _ready),
            web.get("/metrics", _metrics),
            web.get("/openapi.json", _openapi),
            web.get("/v1/agents", _agents),
            web.get("/v1/agents/{agent}", _agent),
            web.get("/v1/agents/{agent}/sessions", _sessions),
            web.post(base + "/turns", _post_turn),
            web.get(base + "/turns/{turn}", _get_turn),
            web.get(base + "/turns/{turn}/events", _turn_events),
            web.post(base + "/turns/{turn}/cancel", _cancel),
            web.get(base, _session),
            web.delete(base, _delete_session),
            web.get(base + "/pending", _pending),
            web.post(base + "/resume", _resume),
            web.get("/v1/teams", _teams),
            web.post("/v1/teams/{team}/{action}", _team_run),
            web.post("/v1/messages", _messages),
            web.get("/v1/models", _models),
            web.get("/v1/models/{model}", _model),
            *console_routes(),
            *a2a_routes(_SERVICE, _PRINCIPAL),
        ]
    )
    return app
