"""``claude.messages``: create, stream and count_tokens, driving the retry loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chorus.client.middleware import Attempt, CallEnd
from chorus.client.outcomes import fallback_worthy, outcome_label
from chorus.client.stream import MessageStream
from chorus.errors import (
    APIError,
    ConfigError,
    ShedError,
)
from chorus.policy.retry import Retry, RetryState
from chorus.protocol.types import Message

if TYPE_CHECKING:
    from chorus.client.claude import Claude, TokenCount

__all__ = ["Messages"]


class Messages:
    def __init__(self, client: Claude) -> None:
        self._client = client

    async def create(self, **params: Any) -> Message:
        """One non-streaming call, retried and rate-limited; returns the final message."""
        c = self._client
        params, options = c.split_options(dict(params))
        if params.get("stream"):
            raise ConfigError("create(stream=True) is not supported: use messages.stream(...)")
        if "max_tokens" not in params:
            raise ConfigError("max_tokens is required")
        models = [params["model"], *options.get("fallback_models", c.settings.fallback_models)]
        deadline = c.deadline_for(options)
        headers = c.headers_for(options)
        started = c.clock.monotonic()
        total_attempts = 0
        waited = 0.0
        last: BaseException | None = None
        for model in models:
            body = c.encode_body(params if model == params["model"] else {**params, "model": model})
            state = RetryState(deadline=deadline)
            c.budget.deposit()
            while True:
                try:
                    mstate, grant, w = await c.admit_patiently(
                        model, body, params["max_tokens"], deadline
                    )
                except ShedError as exc:
                    last = exc
                    break
                waited += w
                slots = c._slots_for_loop()
                if not slots.try_acquire():
                    await slots.acquire(deadline - c.clock.monotonic())
                attempt = Attempt(model, state.attempts, False, c.clock.monotonic())
                total_attempts += 1
                c.notify_start(attempt)
                try:
                    resp = await c.send("/v1/messages", headers, body, deadline)
                    c.learn(mstate, resp.headers)
                    message = await c.read_message(resp, deadline)
                except APIError as exc:
                    slots.release()
                    decision = c.attempt_failed(
                        exc, model=model, mstate=mstate, grant=grant, attempt=attempt, state=state
                    )
                    now = c.clock.monotonic()
                    if isinstance(decision, Retry):
                        c.notify_end(attempt)
                        await c.clock.sleep(decision.delay)
                        state.attempts += 1
                        continue
                    c.notify_end(attempt)
                    last = exc
                    if not fallback_worthy(exc):
                        c.notify_call(
                            CallEnd(model, "error", total_attempts, now - started, waited)
                        )
                        raise
                    break
                slots.release()
                c.attempt_succeeded(
                    model=model, mstate=mstate, grant=grant, attempt=attempt, usage=message.usage
                )
                now = c.clock.monotonic()
                c.notify_call(CallEnd(model, "ok", total_attempts, now - started, waited))
                return message
        assert last is not None
        c.notify_call(
            CallEnd(
                params["model"],
                outcome_label(last),
                total_attempts,
                c.clock.monotonic() - started,
                waited,
            )
        )
        raise last

    def stream(self, **params: Any) -> MessageStream:
        """A streamed call: ``async with claude.messages.stream(...) as stream``."""
        return MessageStream(self._client, params)

    async def count_tokens(self, **params: Any) -> TokenCount:
        """Input tokens the API would count for this prompt (an int with ``.input_tokens``)."""
        return await self._client.count(dict(params))
