"""The A2A face of ``chorus serve``: agent cards, and JSON-RPC mapped onto sessions and turns.

Paths (cards are public; the endpoints take the API's keys, scope ``turns`` for agents and
``teams`` for teams):

* ``GET /.well-known/agent-card.json``: the card of the first agent in the config;
* ``GET /a2a/{agent}/.well-known/agent-card.json`` and ``POST /a2a/{agent}``: each agent;
* ``GET /a2a/teams/{team}/.well-known/agent-card.json`` and ``POST /a2a/teams/{team}``:
  each team (a task goes to a capable, free member by contract net).

An agent's ``contextId`` is a session (one is made from the ``messageId`` when the message
names none, so a retry lands in the same one) and a task is one of its turns, its id
``{contextId}:{turn}``; another tenant's tasks are not found. A message is one turn, run
once however often it is sent: its ``messageId`` is the turn's idempotency key. A stream's
events carry SSE ids; ``Last-Event-ID`` on ``SendStreamingMessage`` (a retried send) or
``SubscribeToTask`` resumes after the one given. A turn that waits for a person's approval
is ``input-required``; a message in that task with ``{"approved": true}`` answers it, and
the turn that follows is a new task of the context.

The wire rules are :mod:`chorus.protocol.a2a` and :mod:`chorus.protocol.a2a_card`; the
other direction (a team member served elsewhere) is :mod:`chorus.team.remote`, which
:mod:`chorus.serve.remote` builds from the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import weakref
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from chorus.errors import ChorusError
from chorus.protocol import a2a
from chorus.protocol.a2a import RpcError
from chorus.protocol.a2a_card import CARD_PATH, Skill, agent_card, etag, matches_etag
from chorus.protocol.a2a_v03 import for_dialect
from chorus.serve.auth import Principal
from chorus.serve.journal import TurnRow, finishing, wait_durable
from chorus.serve.service import ServeError, Service, check_session_id
from chorus.serve.turns import EVENT_SPAN, LiveTurn

__all__ = ["a2a_routes", "context_for", "is_public"]

_encode = msgspec.json.Encoder().encode
_VERSION = "0.1.0"
_CACHE = "public, max-age=300"
_SCANNED = 10_000  # the most turns a filtered ListTasks reads


_CARD_PATHS = re.compile(r"^/a2a/(?:teams/)?[^/]+" + re.escape(CARD_PATH) + "$")


def is_public(path: str) -> bool:
    """Cards are public: anyone may learn how to talk to an agent. Only the card paths
    themselves (never another route that happens to end the same way)."""
    return path == CARD_PATH or _CARD_PATHS.match(path) is not None


def a2a_routes(
    service_key: web.AppKey[Service], principal_key: web.RequestKey[Principal]
) -> list[web.RouteDef]:
    """The routes, reading the service and the caller's principal under the app's keys."""

    async def default_card(request: web.Request) -> web.Response:
        service = request.app[service_key]
        return _card(request, service, _agent_card(request, service, next(iter(service.agents))))

    async def card(request: web.Request) -> web.Response:
        service = request.app[service_key]
        name = request.match_info["agent"]
        service.agent(name)  # (404 for no such agent)
        return _card(request, service, _agent_card(request, service, name))

    async def team_card(request: web.Request) -> web.Response:
        service = request.app[service_key]
        return _card(request, service, _team_card(request, service, request.match_info["team"]))

    async def rpc(request: web.Request) -> web.StreamResponse:
        principal = _scoped(request[principal_key], "turns")
        service = request.app[service_key]
        name = request.match_info["agent"]
        service.agent(name)
        return await _rpc(request, _AgentFace(service, principal, name))

    async def team_rpc(request: web.Request) -> web.StreamResponse:
        principal = _scoped(request[principal_key], "teams")
        service = request.app[service_key]
        name = request.match_info["team"]
        if name not in service.teams:
            raise ServeError(404, "not_found_error", f"no team named {name!r}")
        return await _rpc(request, _TeamFace(service, principal, name))

    return [
        web.get(CARD_PATH, default_card),
        web.get("/a2a/teams/{team}" + CARD_PATH, team_card),
        web.post("/a2a/teams/{team}", team_rpc),
        web.get("/a2a/{agent}" + CARD_PATH, card),
        web.post("/a2a/{agent}", rpc),
    ]


def _scoped(principal: Principal, scope: str) -> Principal:
    if scope not in principal.scopes:
        raise ServeError(403, "permission_error", f"this key lacks the {scope!r} scope")
    return principal


# ---------------------------------------------------------------------- cards


def _base_url(request: web.Request, service: Service) -> str:
    public = service.config.a2a.public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


def _agent_card(request: web.Request, service: Service, name: str) -> dict[str, Any]:
    agent, config = service.agent(name), service.agent_configs[name]
    skills = [Skill(c.name, c.name, c.description) for c in agent.capabilities]
    if not skills:  # no capabilities declared: what its tools do
        skills = [Skill(t.name, t.name, t.description) for t in agent.tools.values()]
    if not skills:
        skills = [Skill("chat", "chat", config.description or f"talks as the agent {name}")]
    return agent_card(
        name=name,
        description=config.description or f"chorus agent {name}",
        url=f"{_base_url(request, service)}/a2a/{name}",
        version=_VERSION,
        skills=skills,
        secured=bool(service.keyring),
    )


def _team_card(request: web.Request, service: Service, name: str) -> dict[str, Any]:
    team = service.teams.get(name)
    if team is None:
        raise ServeError(404, "not_found_error", f"no team named {name!r}")
    skills: dict[str, Skill] = {}
    for member in team.agents.values():
        for c in member.capabilities:
            skills.setdefault(c.name, Skill(c.name, c.name, c.description))
    return agent_card(
        name=name,
        description=f"chorus team {name}: {', '.join(team.agents)}; each task goes to a "
        "capable, free member",
        url=f"{_base_url(request, service)}/a2a/teams/{name}",
        version=_VERSION,
        skills=list(skills.values()),
        secured=bool(service.keyring),
    )


def _card(request: web.Request, service: Service, card: dict[str, Any]) -> web.Response:
    tag = etag(card)
    headers = {"ETag": tag, "Cache-Control": _CACHE, "Vary": "Host"}
    if matches_etag(request.headers.get("If-None-Match"), tag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=_encode(card), content_type="application/json", headers=headers)


# ---------------------------------------------------------------------- JSON-RPC


async def _rpc(request: web.Request, face: _Face) -> web.StreamResponse:
    """One JSON-RPC request, answered with a JSON-RPC response (or an SSE stream of them);
    every refusal is a JSON-RPC error with its A2A code (HTTP 200, as the a2a-sdk does)."""
    rid: str | int | None = None
    dialect = "1.0"
    try:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RpcError(a2a.INVALID_REQUEST, "the request body is too large") from None
        call = a2a.parse_call(raw)
        rid, dialect = call.id, call.dialect
        a2a.check_version(request.headers.get("A2A-Version"), call)
        return await face.answer(request, call)
    except RpcError as exc:
        return _rpc_error(exc.id if exc.id is not None else rid, exc, dialect)
    except ServeError as exc:
        return _rpc_error(rid, _mapped(exc), dialect, exc.retry_after)
    except ChorusError as exc:
        error = RpcError(a2a.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        return _rpc_error(rid, error, dialect)


def _mapped(exc: ServeError) -> RpcError:
    """A refusal from the service, as the JSON-RPC error it is to an A2A client."""
    if exc.status in (409, 429, 503):
        data = {"type": exc.kind}
        if exc.retry_after:
            data["retryAfter"] = str(exc.retry_after)
        return RpcError(a2a.BUSY, f"{exc.kind}: {exc.message}", data=data)
    if exc.status in (400, 413):
        return RpcError(a2a.INVALID_PARAMS, exc.message)
    if exc.status == 404:
        return RpcError(a2a.TASK_NOT_FOUND, exc.message)
    return RpcError(a2a.INTERNAL_ERROR, exc.message)


def _rpc_error(
    rid: str | int | None, error: RpcError, dialect: str, retry_after: float | None = None
) -> web.Response:
    headers = {"Retry-After": str(max(1, round(retry_after)))} if retry_after else None
    return web.Response(
        body=_encode(a2a.error_response(rid, error, dialect)),
        content_type="application/json",
        headers=headers,
    )


def _rpc_result(call: a2a.Call, kind: str, obj: dict[str, Any]) -> web.Response:
    result = for_dialect(kind, obj, call.dialect)
    body = _encode(a2a.result_response(call.id, result))
    return web.Response(body=body, content_type="application/json")


async def _sse(
    request: web.Request,
    service: Service,
    call: a2a.Call,
    items: AsyncIterator[tuple[int | None, dict[str, Any]]],
) -> web.StreamResponse:
    """Stream responses as SSE, each a JSON-RPC response; ``id:`` where resuming may start.
    A reader that takes nothing within ``sse_stall`` seconds is let go (the turn runs on)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    limits = service.limits
    if request.transport is not None:
        request.transport.set_write_buffer_limits(high=limits.sse_buffer_bytes)
    try:
        async for event_id, item in items:
            head = f"id: {event_id}\n" if event_id is not None else ""
            body = a2a.result_response(call.id, for_dialect("stream", item, call.dialect))
            chunk = head.encode() + b"data: " + _encode(body) + b"\n\n"
            async with asyncio.timeout(limits.sse_stall):
                await response.write(chunk)
    except (TimeoutError, ConnectionResetError):
        if request.transport is not None:
            request.transport.abort()
        return response
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


def _after(request: web.Request) -> int | None:
    raw = request.headers.get("Last-Event-ID")
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,19}", raw.strip()):
        raise RpcError(a2a.INVALID_PARAMS, "Last-Event-ID: an event id this stream gave")
    return int(raw)


def context_for(message_id: str) -> str:
    """The context a message that names none starts: the same for every retry of it."""
    return "ctx-" + hashlib.sha256(message_id.encode()).hexdigest()[:32]


class _Face:
    """What one endpoint (an agent's, a team's) does with each operation."""

    def __init__(self, service: Service, principal: Principal, name: str) -> None:
        self.service, self.principal, self.name = service, principal, name

    async def answer(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        handler = getattr(self, f"_{call.operation}", None)
        if handler is None:
            raise RpcError(
                a2a.UNSUPPORTED_OPERATION, f"{call.method} is not served here", id=call.id
            )
        result: web.StreamResponse = await handler(request, call)
        return result


# ---------------------------------------------------------------------- agents


class _AgentFace(_Face):
    """An agent's endpoint: contexts are sessions, tasks are turns."""

    def _ref(self, tid: str) -> tuple[str, int]:
        ref = a2a.split_task_id(tid)
        if ref is None:
            raise RpcError(a2a.TASK_NOT_FOUND, f"no task {tid!r}")
        return ref

    async def _turn(self, tid: str) -> tuple[str, LiveTurn]:
        context, number = self._ref(tid)
        try:
            return context, await self.service.turn(self.principal, self.name, context, number)
        except ServeError as exc:
            if exc.status in (400, 404):
                raise RpcError(a2a.TASK_NOT_FOUND, f"no task {tid!r}") from None
            raise

    async def _open_calls(self, context: str) -> set[str]:
        pending = await self.service.pending(self.principal, self.name, context)
        return {str(c["id"]) for c in pending}

    async def _task(
        self,
        context: str,
        turn: LiveTurn,
        history_length: int | None = None,
        *,
        open_calls: set[str] | None = None,
    ) -> dict[str, Any]:
        """The turn as a task, its history read from the session (what it committed)."""
        answered = False
        if turn.status == "paused":
            if open_calls is None:
                open_calls = await self._open_calls(context)
            asked = {str(c.get("id")) for c in (turn.result or {}).get("pending") or []}
            answered = not (asked & open_calls)
        history: list[dict[str, Any]] = []
        if history_length != 0:
            tid = a2a.task_id(context, turn.turn)
            first = _message_id(turn)
            if turn.running:
                said = [{"role": "user", "content": turn.message}] if turn.message else []
            else:
                said = await self.service.turn_messages(
                    self.principal, self.name, context, turn.turn
                )
            history = a2a.transcript_history(tid, context, said, first)
        return a2a.turn_task(
            context,
            turn.turn,
            turn.status,
            turn.result,
            turn.events,
            answered=answered,
            history=history,
            history_length=history_length,
            agent=self.name,
        )

    async def _start(self, call: a2a.Call) -> tuple[str, LiveTurn, a2a.Send]:
        """Start the message's turn, or find the one an earlier copy of it started."""
        send = a2a.read_send(call.params, call.dialect)
        message = send.message
        context = message.context_id
        if message.task_id is not None:
            ref = self._ref(message.task_id)
            if context is not None and context != ref[0]:
                raise RpcError(
                    a2a.INVALID_PARAMS,
                    f"message.taskId {message.task_id} is of context {ref[0]}, not {context}",
                )
            context = ref[0]
        context = context or context_for(message.message_id)
        key = f"a2a:{message.message_id}"
        service = self.service
        try:
            again = await service.turn_by_key(self.principal, self.name, context, key)
        except ServeError as exc:
            if exc.status == 400:
                raise RpcError(a2a.INVALID_PARAMS, f"message.contextId: {exc.message}") from None
            raise
        if again is not None:
            return context, again, send
        live = call.operation == "stream"
        if message.task_id is not None:
            _, asked = await self._turn(message.task_id)
            open_calls = await self._open_calls(context)
            pending = [
                str(c["id"])
                for c in (asked.result or {}).get("pending") or []
                if str(c.get("id")) in open_calls
            ]
            if asked.status != "paused" or not pending:
                state = a2a.turn_task(
                    context, asked.turn, asked.status, asked.result, [], answered=True
                )
                shown = state["status"]["state"].removeprefix("TASK_STATE_").lower()
                raise RpcError(
                    a2a.INVALID_PARAMS,
                    f"task {message.task_id} is {shown.replace('_', '-')}: leave out taskId "
                    "to start a new task in its context",
                )
            decisions = a2a.decisions_of(message, pending)
            turn = await service.start_turn(
                self.principal, self.name, context, None, idempotency_key=key, resume=decisions
            )
            return context, turn, send
        content = a2a.content_of(message)
        size = len(content) if isinstance(content, str) else len(_encode(content))
        limit = service.limits.max_message_chars
        if size > limit:
            raise RpcError(a2a.INVALID_PARAMS, f"message: {size} characters, more than {limit}")
        turn = await service.start_turn(
            self.principal,
            self.name,
            context,
            content,
            idempotency_key=key,
            if_busy="enqueue",
            live=live,
            told=send.return_immediately,
        )
        return context, turn, send

    async def _send(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        context, turn, send = await self._start(call)
        if not send.return_immediately:
            await turn.wait()  # (a client that leaves does not stop the turn)
        await self.service.durably_begun(turn)
        task = await self._task(context, turn, send.history_length)
        return _rpc_result(call, "send", task)

    async def _stream(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        after = _after(request)
        context, turn, _ = await self._start(call)
        await self.service.durably_begun(turn)
        return await _sse(request, self.service, call, self._follow(context, turn, after))

    async def _follow(
        self, context: str, turn: LiveTurn, after: int | None, snapshot: bool = True
    ) -> AsyncIterator[tuple[int | None, dict[str, Any]]]:
        """The turn's stream: a task first (unless resuming), then its events after
        ``after``, ending with the turn."""
        fold = a2a.TurnStream(context, turn.turn)
        start = turn.turn * EVENT_SPAN
        if after is None and snapshot:
            first = a2a.turn_task(context, turn.turn, "running", None, [], agent=self.name)
            user = a2a.transcript_history(
                first["id"],
                context,
                [{"role": "user", "content": turn.message}] if turn.message else [],
                _message_id(turn),
            )
            if user:
                first["history"] = user
            yield start, {"task": first}
        seen = after if after is not None else start
        async for event_id, kind, data in turn.follow(0):
            for sse_id, item in fold.feed(event_id, kind, data):
                if event_id > seen:
                    yield sse_id, item

    async def _get(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        tid, history_length = a2a.read_task_ref(call.params)
        context, turn = await self._turn(tid)
        return _rpc_result(call, "task", await self._task(context, turn, history_length))

    async def _cancel(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        tid, _ = a2a.read_task_ref(call.params)
        context, turn = await self._turn(tid)
        if turn.running:
            turn = await self.service.cancel(self.principal, self.name, context, turn.turn)
        else:
            task = await self._task(context, turn, 0)
            state = str(task["status"]["state"])
            if state == "TASK_STATE_INPUT_REQUIRED":
                raise RpcError(
                    a2a.TASK_NOT_CANCELABLE,
                    f'task {tid} waits for approval: reply in it with {{"approved": false}}',
                )
            shown = state.removeprefix("TASK_STATE_").lower().replace("_", "-")
            raise RpcError(a2a.TASK_NOT_CANCELABLE, f"task {tid} is already {shown}")
        return _rpc_result(call, "task", await self._task(context, turn))

    async def _subscribe(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        tid, _ = a2a.read_task_ref(call.params)
        after = _after(request)
        context, turn = await self._turn(tid)
        if after is None and not turn.running:
            task = await self._task(context, turn, 0)
            state = str(task["status"]["state"]).removeprefix("TASK_STATE_").lower()
            if state.replace("_", "-") in a2a.TERMINAL:
                raise RpcError(
                    a2a.UNSUPPORTED_OPERATION,
                    f"task {tid} is {state}: GetTask reads it, or resume with Last-Event-ID",
                )
            snapshot_at = turn.events[-1][0] if turn.events else turn.turn * EVENT_SPAN

            async def interrupted() -> AsyncIterator[tuple[int | None, dict[str, Any]]]:
                yield snapshot_at, {"task": task}

            return await _sse(request, self.service, call, interrupted())
        if after is None:  # running: where it is now, then what comes (from before the
            at = turn.events[-1][0] if turn.events else turn.turn * EVENT_SPAN  # snapshot)
            task = await self._task(context, turn)

            async def live() -> AsyncIterator[tuple[int | None, dict[str, Any]]]:
                yield at, {"task": task}
                async for item in self._follow(context, turn, at):
                    yield item

            return await _sse(request, self.service, call, live())
        return await _sse(request, self.service, call, self._follow(context, turn, after))

    async def _list(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        """The context's tasks, newest first; a status filter reads every turn (up to
        ``_SCANNED``) to count them, without one only the page's."""
        query = a2a.read_list(call.params)
        try:
            last = await self.service.last_turn(self.principal, self.name, query.context_id)
        except ServeError as exc:
            raise RpcError(a2a.INVALID_PARAMS, f"contextId: {exc.message}") from None
        top = min(last, query.before - 1) if query.before is not None else last
        open_calls: set[str] | None = None
        tasks: list[dict[str, Any]] = []
        total, next_token = (0 if query.state else last), ""
        lowest = max(0, last - _SCANNED) if query.state else 0
        for number in range(top if not query.state else last, lowest, -1):
            if not query.state and len(tasks) == query.page_size:
                next_token = str(number + 1)
                break
            turn = await self.service.turn(self.principal, self.name, query.context_id, number)
            if turn.status == "paused" and open_calls is None:
                open_calls = await self._open_calls(query.context_id)
            task = await self._task(
                query.context_id, turn, query.history_length or 0, open_calls=open_calls
            )
            if query.state:
                state = str(task["status"]["state"]).removeprefix("TASK_STATE_")
                if state.lower().replace("_", "-") != query.state:
                    continue
                total += 1
                if number > top:
                    continue
                if len(tasks) == query.page_size:
                    next_token = next_token or str(number + 1)
                    continue
            if not query.include_artifacts:
                task.pop("artifacts", None)
            tasks.append(task)
        body = {
            "tasks": tasks,
            "nextPageToken": next_token,
            "pageSize": query.page_size,
            "totalSize": total,
        }
        return web.Response(
            body=_encode(a2a.result_response(call.id, body)), content_type="application/json"
        )


def _message_id(turn: LiveTurn) -> str | None:
    key = turn.idempotency_key or ""
    return key.removeprefix("a2a:") if key.startswith("a2a:") else None


# ---------------------------------------------------------------------- teams


@dataclass(slots=True)
class _TeamRun:
    """A task given to a team: its events in memory while it runs and for a while after,
    and its entry in the turn journal (so it is found, finished, after a restart)."""

    context: str
    turn: LiveTurn
    tenant: str
    row: TurnRow
    entered: Any = None  # the start entry's write (awaited before the task is answered)


def _never_begun(service: Service, run: _TeamRun, held: Any) -> None:
    """A team task cancelled before its first step never ran its own ``finally``: its
    hold is given back and it ends, so nobody waits for it."""
    held.settle()
    turn = run.turn
    if turn.running:
        turn.add("error", {"type": "cancelled", "message": "the task was cancelled"})
        _finish(service, run, "cancelled", None)  # (not awaited: nobody waits for it)
        turn.end("cancelled", None)


def _finish(service: Service, run: _TeamRun, status: str, result: Any) -> Awaitable[None]:
    """Queue the task's closing journal entry; its write (durable in the next commit)."""
    row = run.row
    row.status, row.result, row.finished = status, result, service.now()
    row.events = [list(e) for e in run.turn.events]
    what = f"team task {run.context}:{run.turn.turn}"
    return finishing(service.journal, row, what, soon=True)


def _team_key(tenant: str, team: str, context: str) -> str:
    """The journal's session for a team's tasks in one A2A context (never an agent's)."""
    return f"{tenant}/team:{team}/{context}"


class _TeamRuns:
    """The team tasks this server holds in memory, by tenant and id: the most recent
    ``most``; older ones (and those of an earlier process) are read from the journal."""

    def __init__(self, most: int = 1024) -> None:
        self.most = most
        self.by_id: dict[tuple[str, str, str], _TeamRun] = {}  # (tenant, team, task id)
        # (tenant, team, context, messageId): a messageId is a task once in its context,
        # as the journal finds it after a restart
        self.by_message: dict[tuple[str, str, str, str], str] = {}
        # the last task number given in each context (the journal's, at first use)
        self.numbers: dict[str, int] = {}
        self.starting = asyncio.Lock()

    async def number(self, service: Service, key: str) -> int:
        """The next task number in context ``key``, past any the journal already has."""
        last = self.numbers.get(key)
        if last is None:
            last = await service.journal.last_turn(key)
            last = max(last, self.numbers.get(key, 0))  # (another start got there first)
        self.numbers[key] = last + 1
        while len(self.numbers) > self.most:
            self.numbers.pop(next(iter(self.numbers)))
        return last + 1

    def add(self, tenant: str, team: str, message_id: str, run: _TeamRun) -> None:
        tid = a2a.task_id(run.context, run.turn.turn)
        self.by_id[(tenant, team, tid)] = run
        self.by_message[(tenant, team, run.context, message_id)] = tid
        # The oldest finished ones go (the journal has them); a running one stays held.
        if len(self.by_id) > self.most:
            for key in [k for k, kept in self.by_id.items() if not kept.turn.running]:
                if len(self.by_id) <= self.most:
                    break
                del self.by_id[key]
        while len(self.by_message) > self.most:
            self.by_message.pop(next(iter(self.by_message)))

    def prune(self, ended_before: float) -> None:
        """Retention (``Service.prune``): the tasks that ended before ``ended_before``
        (``time.monotonic()``) go from memory, as their journal entries go."""
        old = {
            key
            for key, run in self.by_id.items()
            if run.turn.ended_at is not None and run.turn.ended_at < ended_before
        }
        for key in old:
            del self.by_id[key]
        self.by_message = {k: tid for k, tid in self.by_message.items() if (*k[:2], tid) not in old}


_TEAM_RUNS: weakref.WeakKeyDictionary[Service, _TeamRuns] = weakref.WeakKeyDictionary()


class _TeamFace(_Face):
    """A team's endpoint: each message is a task the team assigns by contract net (to
    the member whose capability its words match, or to ``metadata.capability``)."""

    def _runs(self) -> _TeamRuns:
        runs = _TEAM_RUNS.get(self.service)
        if runs is None:
            runs = _TEAM_RUNS[self.service] = _TeamRuns(self.service.limits.recent_turns)
            self.service.pruners.append(runs.prune)
        return runs

    async def _run(self, tid: str) -> _TeamRun:
        tenant = self.principal.tenant
        runs = self._runs()
        found = runs.by_id.get((tenant, self.name, tid))
        if found is None:
            split = a2a.split_task_id(tid)
            if split is not None:
                found = await self._journaled(*split)
        if found is None:
            raise RpcError(a2a.TASK_NOT_FOUND, f"no task {tid!r}")
        return found

    async def _journaled(
        self, context: str, number: int = 0, *, message_id: str | None = None
    ) -> _TeamRun | None:
        """A task this server no longer holds in memory, from the journal (by number, or
        by the messageId that started it), held again for the next ask."""
        tenant = self.principal.tenant
        key = _team_key(tenant, self.name, context)
        journal = self.service.journal
        row = await (journal.by_key(key, message_id) if message_id else journal.get(key, number))
        if row is None or row.status == "running":  # (running: this process holds it)
            return None
        run = _TeamRun(context, self.service.loaded_turn(row), tenant, row)
        self._runs().add(tenant, self.name, row.idempotency_key or "", run)
        return run

    def _task(self, run: _TeamRun, history_length: int | None = None) -> dict[str, Any]:
        return a2a.turn_task(
            run.context,
            run.turn.turn,
            run.turn.status,
            run.turn.result,
            run.turn.events,
            history_length=history_length,
            agent=self.name,
        )

    async def _start(self, call: a2a.Call) -> tuple[_TeamRun, a2a.Send]:
        send = a2a.read_send(call.params, call.dialect)
        message = send.message
        if message.task_id is not None:
            raise RpcError(a2a.INVALID_PARAMS, "a team's tasks take no replies: leave out taskId")
        runs, tenant = self._runs(), self.principal.tenant
        async with runs.starting:  # (one start at a time: a resent messageId finds the first)
            return await self._start_one(runs, tenant, message, send)

    async def _start_one(
        self, runs: _TeamRuns, tenant: str, message: Any, send: a2a.Send
    ) -> tuple[_TeamRun, a2a.Send]:
        context = message.context_id or context_for(message.message_id)
        try:
            check_session_id(context)
        except ServeError as exc:
            raise RpcError(a2a.INVALID_PARAMS, f"message.contextId: {exc.message}") from None
        known = runs.by_message.get((tenant, self.name, context, message.message_id))
        if known is not None and (tenant, self.name, known) in runs.by_id:
            return runs.by_id[(tenant, self.name, known)], send
        journaled = await self._journaled(context, message_id=message.message_id)
        if journaled is not None:  # (sent before this process began: the same task)
            return journaled, send
        content = a2a.content_of(message)
        if not isinstance(content, str):
            raise RpcError(
                a2a.CONTENT_TYPE_NOT_SUPPORTED, "a team's task is text (and JSON data parts)"
            )
        capability = message.metadata.get("capability")
        if capability is not None and not isinstance(capability, str):
            raise RpcError(a2a.INVALID_PARAMS, "message.metadata.capability: a string")
        self.service.shed()  # (refused at once, never kept waiting: starts are one at a time)
        team = self.service.teams[self.name]
        held = self.service.reserve_team_run(
            self.principal, self.name, len(content), team.max_awards
        )
        try:
            key = _team_key(tenant, self.name, context)
            number = await runs.number(self.service, key)
            turn = LiveTurn(key, number, idempotency_key=message.message_id)
            turn.message = content
            row = TurnRow(key, number, "running", message.message_id, 0, self.service.now())
            entered = turn.entered = self.service.journal.start(row, soon=True)
            run = _TeamRun(context, turn, tenant, row, entered)
            runs.add(tenant, self.name, message.message_id, run)
            turn.task = asyncio.create_task(self._drive(run, capability, content, held))
            turn.task.add_done_callback(lambda _: _never_begun(self.service, run, held))
            self.service.hold(turn.task)
        except BaseException:
            held.settle()
            raise
        return run, send

    async def _drive(self, run: _TeamRun, capability: str | None, task: str, held: Any) -> None:
        """The team's run, its events as the turn's: awards as status updates, the
        result as the answer."""
        from chorus.serve.turns import team_event_json

        team = self.service.teams[self.name]
        turn = run.turn
        status, result = "failed", None
        try:
            events = self.service.settled_team_run(held, team.stream_assign(capability, task))
            async for event in events:
                kind, data = team_event_json(event)
                if kind == "task_completed":
                    output = data.get("result", {}).get("output")
                    result = {"output": output, "stop_reason": "end_turn"}
                    status = "done"
                    turn.add("done", result)
                elif kind == "task_failed":
                    turn.add("error", {"type": "task_failed", "message": data.get("reason")})
                else:
                    turn.add("team", {"event": kind, **data})
        except asyncio.CancelledError:
            status = "cancelled"
            turn.add("error", {"type": "cancelled", "message": "the task was cancelled"})
        except Exception as exc:  # a team run's failure is the task's
            turn.add("error", {"type": type(exc).__name__, "message": str(exc)})
        finally:
            held.settle()
            what = f"team task {run.context}:{turn.turn}"
            try:  # answered once its entries are durable (a restart then shows it)
                closing = _finish(self.service, run, status, result)
                for write in (run.entered, closing):
                    if write is not None:
                        await wait_durable(write, what)
            finally:
                turn.end(status, result)

    async def _send(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        run, send = await self._start(call)
        if not send.return_immediately:
            await run.turn.wait()
        await self.service.durably_begun(run.turn)
        return _rpc_result(call, "send", self._task(run, send.history_length))

    async def _stream(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        after = _after(request)
        run, _ = await self._start(call)
        await self.service.durably_begun(run.turn)
        return await _sse(request, self.service, call, self._follow(run, after))

    async def _follow(
        self, run: _TeamRun, after: int | None
    ) -> AsyncIterator[tuple[int | None, dict[str, Any]]]:
        fold = a2a.TurnStream(run.context, run.turn.turn)
        start = run.turn.turn * EVENT_SPAN
        if after is None:
            first = a2a.turn_task(run.context, run.turn.turn, "running", None, [], agent=self.name)
            yield start, {"task": first}
        seen = after if after is not None else start
        async for event_id, kind, data in run.turn.follow(0):
            for sse_id, item in fold.feed(event_id, kind, data):
                if event_id > seen:
                    yield sse_id, item

    async def _get(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        tid, history_length = a2a.read_task_ref(call.params)
        return _rpc_result(call, "task", self._task(await self._run(tid), history_length))

    async def _cancel(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        tid, _ = a2a.read_task_ref(call.params)
        run = await self._run(tid)
        if not run.turn.running or run.turn.task is None:
            raise RpcError(a2a.TASK_NOT_CANCELABLE, f"task {tid} has already ended")
        run.turn.task.cancel()
        await run.turn.wait()
        return _rpc_result(call, "task", self._task(run))

    async def _subscribe(self, request: web.Request, call: a2a.Call) -> web.StreamResponse:
        tid, _ = a2a.read_task_ref(call.params)
        after = _after(request)
        run = await self._run(tid)
        if after is None and not run.turn.running:
            raise RpcError(
                a2a.UNSUPPORTED_OPERATION,
                f"task {tid} has ended: GetTask reads it, or resume with Last-Event-ID",
            )
        return await _sse(request, self.service, call, self._follow(run, after))
