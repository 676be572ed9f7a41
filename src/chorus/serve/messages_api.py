"""A chorus agent as a Claude model: ``POST /v1/messages`` and ``GET /v1/models``.

Any Anthropic client (the official SDKs, LangChain) talks to an agent as if it were a
model: ``model`` names the agent, the request and the reply are the Messages API's, JSON
or SSE in the API's exact event grammar (:mod:`chorus.protocol.wire`, the encoder the
simulator uses too). The agent's tools run on the server; the reply is the agent's final
answer, with the usage of every model call the turn made and a stop reason the SDKs
understand.

Without ``x-chorus-session`` a call is stateless: the request's messages are the history,
and the last one the prompt. With ``x-chorus-session: ID`` it is a turn of that session:
the server keeps the history (the request's earlier messages are not used), with the same
guarantees as ``POST .../turns`` (one turn at a time, durable commit, limits).

``model`` may name a team too: the last user message is then a task the team assigns by
contract net, and the reply is the awarded member's answer. A team run reports its tokens
as one total (input and output together), given as ``output_tokens``.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from aiohttp import web

from chorus.agent.events import Done, TextChunk
from chorus.protocol.wire import (
    MESSAGE_STOP,
    PING,
    RBlock,
    Rendered,
    block_stop,
    error_event,
    message_delta,
    message_start,
    sse_events,
    text_block_start,
    text_delta,
    to_json,
)
from chorus.serve.service import ServeError, Service

__all__ = ["create_message", "list_models"]

_CREATED = "2026-01-01T00:00:00Z"
_BAD = "invalid_request_error"


def _model(name: str, kind: str = "agent") -> dict[str, Any]:
    shown = f"chorus {kind} {name}"
    return {"type": "model", "id": name, "display_name": shown, "created_at": _CREATED}


async def list_models(service: Service) -> dict[str, Any]:
    """The agents, then the teams whose names no agent takes."""
    teams = [t for t in service.teams if t not in service.agents]
    names = [*service.agents, *teams]
    return {
        "data": [_model(n) for n in service.agents] + [_model(t, "team") for t in teams],
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }


def _prompt(body: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ServeError(400, "invalid_request_error", "messages: at least one message")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise ServeError(400, _BAD, f"messages.{i}.role: user or assistant")
        if not isinstance(m.get("content"), str | list):
            raise ServeError(400, _BAD, f"messages.{i}.content: text or content blocks")
    last = messages[-1]
    if last["role"] != "user":
        raise ServeError(400, "invalid_request_error", "the last message must be the user's")
    return messages[:-1], last["content"]


async def _team_task(
    service: Service, principal: Any, name: str, prompt: Any
) -> tuple[Any, dict[str, Any]]:
    """A team as a model: the last user message is a task, assigned by contract net; the
    reply is the awarded member's answer."""
    from chorus.serve.turns import team_event_json

    if not isinstance(prompt, str):
        texts = [b.get("text", "") for b in prompt if isinstance(b, dict)]
        prompt = "\n".join(t for t in texts if isinstance(t, str))
    if not prompt.strip():
        raise ServeError(400, _BAD, "a team's task is the last user message's text: empty")
    await service.admission()
    team = service.teams[name]
    hold = service.reserve_team_run(principal, name, len(prompt), team.max_awards)
    last: Any = None
    try:
        async for event in service.settled_team_run(hold, team.stream_assign(None, prompt)):
            last = event
    finally:
        hold.settle()
    kind, data = team_event_json(last) if last is not None else ("task_failed", {})
    if kind != "task_completed":
        reason = data.get("reason", "the team could not do the task")
        raise ServeError(422, "invalid_request_error", f"the team failed the task: {reason}")
    result = data["result"]
    return result["output"], {"input_tokens": 0, "output_tokens": int(result.get("tokens", 0))}


async def create_message(
    service: Service, request: web.Request, body: dict[str, Any], principal: Any
) -> web.StreamResponse:
    name = body.get("model")
    is_team = isinstance(name, str) and name in service.teams and name not in service.agents
    if not isinstance(name, str) or (name not in service.agents and not is_team):
        raise ServeError(404, "not_found_error", f"model: {name!r} is not an agent or team here")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ServeError(400, "invalid_request_error", "max_tokens: a positive integer")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ServeError(400, "invalid_request_error", "stream: a boolean")
    history, prompt = _prompt(body)
    session = request.headers.get("x-chorus-session")
    if stream and not is_team:
        agent = service.agent(name)
        if not (agent.tools or agent.toolsets):  # every model reply is the answer: live
            return await _stream_live(service, request, principal, name, session, history, prompt)
    if is_team:
        if session is not None:
            raise ServeError(400, _BAD, "x-chorus-session: a team keeps no session; leave it out")
        text, usage = await _team_task(service, principal, name, prompt)
        stop = "end_turn"
    elif session is not None:
        turn = await service.start_turn(
            principal,
            name,
            session,
            prompt,
            idempotency_key=request.headers.get("Idempotency-Key"),
            live=False,
        )
        await turn.wait()
        result = turn.result or {}
        if turn.status != "done":
            errors = (d for _, k, d in reversed(turn.events) if k == "error")
            error: dict[str, Any] = next(errors, {})
            raise ServeError(500, "api_error", str(error.get("message", turn.status)))
        text = result.get("output")
        usage = result.get("usage") or {}
        stop = result.get("stop_reason", "end_turn")
    else:
        await service.admission()
        agent = service.agent(name)
        run = await service.run_stateless(principal, agent, prompt, history)
        text, stop = run.output, run.stop_reason
        u = run.usage
        usage = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}
    if not isinstance(text, str):
        text = msgspec.json.encode(text).decode()
    rendered = Rendered(
        [RBlock("text", text)],
        stop if stop in ("end_turn", "max_tokens", "stop_sequence", "refusal") else "end_turn",
        None,
        int(usage.get("output_tokens", 0)),
    )
    answer_usage = {
        "input_tokens": int(usage.get("input_tokens", 0)),
        "output_tokens": int(usage.get("output_tokens", 0)),
        "cache_creation_input_tokens": int(usage.get("cache_creation_input_tokens", 0)),
        "cache_read_input_tokens": int(usage.get("cache_read_input_tokens", 0)),
    }
    message_id = "msg_" + uuid.uuid4().hex[:24]
    headers = {"request-id": "req_" + uuid.uuid4().hex[:24]}
    if not stream:
        return web.Response(
            body=to_json(rendered, message_id=message_id, model=name, usage=answer_usage),
            content_type="application/json",
            headers=headers,
        )
    response = web.StreamResponse(
        headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    for chunk, _ in sse_events(rendered, message_id=message_id, model=name, usage=answer_usage):
        await response.write(chunk)
    await response.write_eof()
    return response


def _usage(usage: Any) -> dict[str, int]:
    get = usage.get if isinstance(usage, dict) else lambda k, d=0: getattr(usage, k, d)
    names = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    return {**{n: int(get(n, 0)) for n in names}, "output_tokens": int(get("output_tokens", 0))}


def _error_kind(kind: str) -> str:
    low = kind.lower()
    if "overload" in low:
        return "overloaded_error"
    if "rate" in low or "limit" in low:
        return "rate_limit_error"
    return "api_error"


async def _stream_live(
    service: Service,
    request: web.Request,
    principal: Any,
    name: str,
    session: str | None,
    history: list[dict[str, Any]],
    prompt: Any,
) -> web.StreamResponse:
    """The reply streamed as the model writes it, for an agent without tools (each of its
    model replies is its answer). A failure after the stream began is an ``error`` event,
    as the API sends one; before, it is the HTTP error."""
    items: Any
    run: Any = None
    if session is not None:
        turn = await service.start_turn(
            principal,
            name,
            session,
            prompt,
            idempotency_key=request.headers.get("Idempotency-Key"),
            live=True,
        )

        async def from_turn() -> Any:
            async for _, kind, data in turn.follow(0):
                if kind == "text":
                    yield "text", data["text"]
                elif kind == "done":
                    yield "done", (data.get("stop_reason"), _usage(data.get("usage") or {}))
                elif kind == "error":
                    yield "error", (str(data.get("type", "error")), str(data.get("message", "")))

        items = from_turn()
    else:
        await service.admission()
        run = service.stream_stateless(principal, service.agent(name), prompt, history)
        first = await anext(run)  # (refused, or failed before a word: an HTTP error)

        async def from_run() -> Any:
            event = first
            while True:
                if isinstance(event, TextChunk):
                    yield "text", event.text
                elif isinstance(event, Done):
                    r = event.result
                    yield "done", (r.stop_reason, _usage(r.usage))
                try:
                    event = await anext(run)
                except StopAsyncIteration:
                    return
                except ServeError as exc:
                    yield "error", (exc.kind, exc.message)
                    return

        items = from_run()
    message_id = "msg_" + uuid.uuid4().hex[:24]
    response = web.StreamResponse(
        headers={
            "request-id": "req_" + uuid.uuid4().hex[:24],
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
        }
    )
    try:
        await response.prepare(request)
        zero = {k: 0 for k in _usage({})}
        await response.write(message_start(message_id, name, zero) + text_block_start(0) + PING)
        async for kind, value in items:
            if kind == "text":
                await response.write(text_delta(0, value))
            elif kind == "done":
                stop, usage = value
                kept = ("end_turn", "max_tokens", "stop_sequence", "refusal")
                stop = stop if stop in kept else "end_turn"
                end = block_stop(0) + message_delta(stop, None, usage) + MESSAGE_STOP
                await response.write(end)
                break
            else:
                await response.write(error_event(_error_kind(value[0]), value[1] or value[0]))
                break
        await response.write_eof()
    finally:
        if run is not None:  # a reader that left ends the run (a session's turn runs on)
            await run.aclose()
    return response
