"""``claude.messages``: the drivers for ``create`` and ``count_tokens``, and ``stream``'s door.

A driver holds one :class:`~chorus.policy.call.Call` and carries out its steps:
admit, send, read the whole JSON body, report the result, and then sleep, switch
model or raise as the call says. It has no rules of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from chorus.client.engine import Engine, Slots
from chorus.client.settings import TokenCount
from chorus.client.stream import MessageStream
from chorus.errors import APIError, ConfigError, ConnectionCutError, ShedError
from chorus.policy.call import Again, End, Next
from chorus.protocol.types import Message, Usage

__all__ = ["Messages"]

_T = TypeVar("_T")
_count_decoder = msgspec.json.Decoder(dict[str, Any])
_NO_USAGE = Usage()


class Messages:
    """``create``, ``stream`` and ``count_tokens``, with the official SDK's parameters."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def create(self, **params: Any) -> Message:
        """One non-streaming call, retried and rate-limited; returns the final message."""
        params, options = self._engine.split_options(dict(params))
        if params.get("stream"):
            raise ConfigError("create(stream=True) is not supported: use messages.stream(...)")
        if "max_tokens" not in params:
            raise ConfigError("max_tokens is required")
        return await self._exchange("/v1/messages", params, options, _read_message)

    def stream(self, **params: Any) -> MessageStream:
        """A streamed call: ``async with claude.messages.stream(...) as stream``."""
        return MessageStream(self._engine, params)

    async def count_tokens(self, **params: Any) -> TokenCount:
        """Input tokens the API would count for this prompt (an int with ``.input_tokens``)."""
        params, options = self._engine.split_options(dict(params))
        return await self._exchange(
            "/v1/messages/count_tokens", params, options, _read_count, engine=self._engine.plain
        )

    async def _exchange(
        self,
        path: str,
        params: dict[str, Any],
        options: dict[str, Any],
        read: Callable[[Engine, Any, float], Awaitable[tuple[_T, Usage]]],
        *,
        engine: Engine | None = None,
    ) -> _T:
        """One call whose body is read whole; ``engine``: the plain one for count_tokens."""
        e = engine or self._engine
        body = e.encode_body(params)  # a request refused here never reaches the budget
        call = e.call(params, options, fallbacks=engine is None)
        headers = e.headers_for(options)
        deadline = call.deadline
        max_tokens = params.get("max_tokens", 0)
        started = e.clock.monotonic()
        waited = 0.0
        while True:
            ticket = e.ticket(call.model, body, max_tokens, deadline)
            got = e.admit_now(ticket)
            try:
                if type(got) is Slots:
                    slots = got
                else:
                    slots, w = await e.admit(ticket, got)  # type: ignore[arg-type]
                    waited += w
            except ShedError as exc:
                step = call.refused(exc)
            else:
                attempt = e.started(call, ticket, stream=False)
                try:
                    resp = await e.send(path, headers, body, deadline)
                    e.headers_in(ticket, resp.headers)
                    result, usage = await read(e, resp, deadline)
                except APIError as exc:
                    slots.release()
                    step = e.failed(call, ticket, attempt, exc)
                except BaseException:  # cancelled (or a bug below): give everything back
                    slots.release()
                    e.abandoned(ticket, attempt)
                    raise
                else:
                    slots.release()
                    e.succeeded(ticket, attempt, usage)
                    e.ended(call.model, "ok", call, started, waited)
                    return result
            match step:
                case Again(delay=delay, reason=reason):
                    await e.backoff(call.model, delay, hinted=reason != "backoff")
                case Next(model=model):
                    body = e.encode_body({**params, "model": model})
                case End(error=error, outcome=outcome, model=model):
                    e.ended(model, outcome, call, started, waited)
                    raise error
                case _:  # Continue: never for a whole-body call (nothing escapes)
                    raise AssertionError(f"unexpected step {step!r}")


async def _read_message(e: Engine, resp: Any, deadline: float) -> tuple[Message, Usage]:
    message = await e.read_message(resp, deadline)
    return message, message.usage


async def _read_count(e: Engine, resp: Any, deadline: float) -> tuple[TokenCount, Usage]:
    raw = await e.read_body(resp, deadline)
    try:
        return TokenCount(int(_count_decoder.decode(raw)["input_tokens"])), _NO_USAGE
    except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConnectionCutError(f"unreadable count_tokens body: {exc}") from exc
