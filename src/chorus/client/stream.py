"""Streamed calls: events out as they arrive, retried transparently until output escapes.

"Escaped" is the pivot (DESIGN.md): ``message_start``, ``content_block_start``
and ``ping`` are held back until the first delta, so a failure before any
content reached the caller is retried (or handed to a fallback model) without
the caller ever noticing. After that, a failure raises
:class:`~chorus.errors.IncompleteResponseError` carrying the partial message,
or, when ``continue_interrupted`` is on and the reply was plain text cut in the
middle of a text block, the text so far is sent back as an assistant prefill
and the rest is stitched onto the same block. A partial ``tool_use`` is never
continued.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from chorus.client.middleware import Attempt, CallEnd
from chorus.client.outcomes import fallback_worthy, outcome_label
from chorus.errors import (
    APIError,
    ConfigError,
    ConnectionCutError,
    DeadlineExceededError,
    IncompleteResponseError,
    ShedError,
)
from chorus.policy.retry import Retry, RetryState
from chorus.protocol.accumulate import Accumulator
from chorus.protocol.sse import EventDecoder
from chorus.protocol.types import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    Message,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    StreamEvent,
    TextBlock,
    TextDelta,
)

if TYPE_CHECKING:
    from chorus.client.claude import Claude
    from chorus.client.transport import Response

__all__ = ["MessageStream"]

_ESCAPING = (ContentBlockDeltaEvent, MessageDeltaEvent, MessageStopEvent)


class MessageStream:
    """``async with claude.messages.stream(...) as stream``: iterate events or text."""

    def __init__(self, client: Claude, params: dict[str, Any]) -> None:
        self._client = client
        self._params, self._options = client.split_options(dict(params))
        if "max_tokens" not in self._params:
            raise ConfigError("max_tokens is required")
        self._params["stream"] = True
        self._visible = Accumulator()
        self._final: Message | None = None
        self._gen: AsyncGenerator[list[StreamEvent], None] | None = None
        self._started = False
        self.request_id: str | None = None
        self.attempts = 0

    async def __aenter__(self) -> MessageStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _source(self) -> AsyncGenerator[list[StreamEvent], None]:
        """The one underlying loop; it yields the events of each network chunk together."""
        if self._gen is None:
            self._gen = self._events()
        return self._gen

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._started:
            raise RuntimeError("a stream can be iterated once")
        self._started = True
        return self._flat()

    async def _flat(self) -> AsyncIterator[StreamEvent]:
        async for batch in self._source():
            for event in batch:
                yield event

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the text deltas, as they arrive."""
        if self._started:
            raise RuntimeError("a stream can be iterated once")
        self._started = True
        return self._text()

    async def _text(self) -> AsyncIterator[str]:
        async for batch in self._source():
            for event in batch:
                if type(event) is ContentBlockDeltaEvent and type(event.delta) is TextDelta:
                    yield event.delta.text

    async def until_done(self) -> None:
        """Consume whatever is left of the stream (without yielding event by event)."""
        self._started = True
        if self._final is None:
            async for _ in self._source():
                pass

    async def get_final_message(self) -> Message:
        # until_done() inlined: one coroutine less in the chain every wake-up resumes.
        self._started = True
        if self._final is None:
            async for _ in self._source():
                pass
        assert self._final is not None
        return self._final

    async def get_final_text(self) -> str:
        return (await self.get_final_message()).text

    @property
    def incomplete(self) -> list[int]:
        """Blocks of the reply that must not be trusted (cut, or tool input that never parsed)."""
        return self._visible.incomplete if self._visible.started else []

    @property
    def current_message_snapshot(self) -> Message | None:
        return self._visible.message if self._visible.started else None

    async def close(self) -> None:
        gen = self._gen
        if gen is not None and self._final is None:  # a finished loop has nothing to close
            await gen.aclose()

    # ------------------------------------------------------------------ the loop

    async def _events(self) -> AsyncGenerator[list[StreamEvent], None]:
        c = self._client
        params, options = self._params, self._options
        models = [params["model"], *options.get("fallback_models", c.settings.fallback_models)]
        deadline = c.deadline_for(options)
        headers = c.headers_for(options)
        keep_going = options.get("continue_interrupted", c.settings.continue_interrupted)
        started = c.clock.monotonic()
        waited = 0.0
        escaped = False
        stitch: _Stitch | None = None
        last: BaseException | None = None
        for model in models:
            if escaped:
                break
            request = params if model == params["model"] else {**params, "model": model}
            body = c.encode_body(request)
            state = RetryState(deadline=deadline)
            c.budget.deposit()
            while True:
                try:
                    mstate, grant, w = await c.admit_patiently(
                        model, body, params["max_tokens"], deadline
                    )
                except ShedError as exc:
                    if escaped:
                        raise IncompleteResponseError(
                            str(exc), partial=self._visible.message, request_id=self.request_id
                        ) from exc
                    last = exc
                    break
                waited += w
                slots = c._slots_for_loop()
                if not slots.try_acquire():
                    await slots.acquire(deadline - c.clock.monotonic())
                attempt = Attempt(model, state.attempts, True, c.clock.monotonic())
                self.attempts += 1
                c.notify_start(attempt)
                acc = Accumulator()
                held: list[StreamEvent] = []
                resp: Response | None = None
                try:
                    resp = await c.send("/v1/messages", headers, body, deadline)
                    c.learn(mstate, resp.headers)
                    self.request_id = acc.request_id = resp.headers.get("request-id")
                    decoder = EventDecoder()
                    if stitch is None:
                        # What the caller sees is this attempt's own fold: no second copy.
                        self._visible = acc
                    visible = self._visible
                    extend = acc.extend
                    async for chunk in resp.chunks():
                        events = decoder.feed(chunk)
                        failure: APIError | None = None
                        try:
                            extend(events)
                        except APIError as exc:  # an error event: what came before it stands
                            failure, events = exc, events[: _error_at(events)]
                        if stitch is not None:
                            events = stitch.remap_all(events)
                            for event in events:
                                visible.add(event)
                        if not escaped:
                            for e in events:
                                if isinstance(e, _ESCAPING):
                                    break
                            else:
                                held.extend(events)
                                if failure is not None:
                                    raise failure
                                continue
                            escaped = True
                            attempt.ttft = c.clock.monotonic() - attempt.started
                            events = held + events
                            held = []
                        if events:
                            yield events
                        if failure is not None:
                            raise failure
                        if c.clock.monotonic() > deadline:
                            raise DeadlineExceededError("the call's deadline passed mid-stream")
                    if not acc.done:
                        raise ConnectionCutError("stream ended before message_stop")
                except APIError as exc:
                    slots.release()
                    if resp is not None:
                        resp.close()
                    attempt.request_id = self.request_id
                    continuation = (
                        _Stitch.after(self._visible, acc) if escaped and keep_going else None
                    )
                    # A text reply cut mid-block may be continued: decide as if nothing escaped.
                    decision = c.attempt_failed(
                        exc,
                        model=model,
                        mstate=mstate,
                        grant=grant,
                        attempt=attempt,
                        state=state,
                        escaped=escaped and continuation is None,
                    )
                    now = c.clock.monotonic()
                    if escaped:
                        if continuation is None or not isinstance(decision, Retry):
                            c.notify_end(attempt)
                            c.notify_call(
                                CallEnd(model, "incomplete", self.attempts, now - started, waited)
                            )
                            raise IncompleteResponseError(
                                f"the stream failed after output reached the caller: {exc}",
                                partial=self._visible.message,
                                request_id=self.request_id,
                            ) from exc
                        attempt.retry_reason = "continue interrupted text"
                        c.notify_end(attempt)
                        stitch = continuation
                        body = c.encode_body(stitch.request(request))
                        state.attempts += 1
                        continue
                    if isinstance(decision, Retry):
                        c.notify_end(attempt)
                        await c.clock.sleep(decision.delay)
                        state.attempts += 1
                        continue
                    c.notify_end(attempt)
                    last = exc
                    if not fallback_worthy(exc):
                        c.notify_call(CallEnd(model, "error", self.attempts, now - started, waited))
                        raise
                    break
                except BaseException:
                    slots.release()
                    if resp is not None:
                        resp.close()
                    raise
                slots.release()
                final = acc.message
                c.attempt_succeeded(
                    model=model, mstate=mstate, grant=grant, attempt=attempt, usage=final.usage
                )
                now = c.clock.monotonic()
                c.notify_call(CallEnd(model, "ok", self.attempts, now - started, waited))
                self._final = self._visible.message if stitch is not None else final
                return
        assert last is not None
        c.notify_call(
            CallEnd(
                params["model"],
                outcome_label(last),
                self.attempts,
                c.clock.monotonic() - started,
                waited,
            )
        )
        raise last


def _error_at(events: list[StreamEvent]) -> int:
    """Where the first ``error`` event sits (the one :meth:`Accumulator.extend` raised on)."""
    return next(i for i, e in enumerate(events) if type(e) is ErrorEvent)


class _Stitch:
    """Continue a text reply cut mid-block: prefill what was sent, remap what follows."""

    def __init__(self, index: int, text: str) -> None:
        self.index = index  # the open text block the continuation extends
        self.text = text
        # The whitespace the prefill leaves out (the API refuses it) has reached the caller
        # already; the continuation usually writes it again, and it must not show twice.
        self.seam = text[len(text.rstrip()) :]

    @classmethod
    def after(cls, visible: Accumulator, attempt: Accumulator) -> _Stitch | None:
        if not visible.started:
            return None
        message = visible.message
        if not message.content or attempt.done:
            return None
        last = message.content[-1]
        open_blocks = visible.incomplete
        # Only plain text, cut inside its last (still open) text block.
        if not isinstance(last, TextBlock) or open_blocks != [len(message.content) - 1]:
            return None
        if any(not isinstance(b, TextBlock) for b in message.content):
            return None
        text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
        if not text.strip():
            return None
        return cls(len(message.content) - 1, text)

    def request(self, params: dict[str, Any]) -> dict[str, Any]:
        messages = list(params["messages"])
        prefill = self.text.rstrip()  # the API refuses a prefill ending in whitespace
        if messages and messages[-1].get("role") == "assistant":
            prior = messages[-1]["content"]
            prior_text = prior if isinstance(prior, str) else ""
            messages[-1] = {"role": "assistant", "content": (prior_text + prefill).rstrip()}
        else:
            messages.append({"role": "assistant", "content": prefill})
        return {**params, "messages": messages}

    def _past_seam(self, delta: TextDelta) -> TextDelta | None:
        """``delta`` without the whitespace the caller already has; None if nothing is left."""
        text, seam = delta.text, self.seam
        same = 0
        while same < min(len(text), len(seam)) and text[same] == seam[same]:
            same += 1
        self.seam = seam[same:] if same == len(text) else ""
        if same == len(text):
            return None
        return TextDelta(text=text[same:]) if same else delta

    def remap_all(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out = []
        for event in events:
            mapped = self.remap(event)
            if mapped is not None:
                out.append(mapped)
        return out

    def remap(self, event: StreamEvent) -> StreamEvent | None:
        """Fold the continuation's events into the interrupted block."""
        if isinstance(event, MessageStartEvent | PingEvent):
            return None
        if isinstance(event, ContentBlockStartEvent):
            if event.index == 0:
                return None
            return ContentBlockStartEvent(
                index=event.index + self.index, content_block=event.content_block
            )
        if isinstance(event, ContentBlockDeltaEvent):
            delta = event.delta
            if self.seam and event.index == 0 and isinstance(delta, TextDelta):
                trimmed = self._past_seam(delta)
                if trimmed is None:
                    return None
                delta = trimmed
            return ContentBlockDeltaEvent(index=event.index + self.index, delta=delta)
        if isinstance(event, ContentBlockStopEvent):
            return ContentBlockStopEvent(index=event.index + self.index)
        return event
