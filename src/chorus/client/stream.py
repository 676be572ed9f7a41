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

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from chorus.client.claude import _Busy
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
    from chorus.client.claude import Claude, _Slots
    from chorus.client.transport import Response

__all__ = ["MessageStream"]

_ESCAPING = (ContentBlockDeltaEvent, MessageDeltaEvent, MessageStopEvent)


class MessageStream:
    """``async with claude.messages.stream(...) as stream``: iterate events or text.

    The call runs as a small state machine rather than one long generator:
    :meth:`_next_batch` reads the current attempt's body a network chunk at a
    time; :meth:`_start` opens the next attempt (admission, a connection slot,
    the request); :meth:`_failed` feeds a failure to the policies and either
    raises or sets up the next attempt. ``get_final_message`` drives it
    directly, so a call that nobody iterates costs no generator at all.
    """

    __slots__ = (
        "_acc",
        "_attempt",
        "_body",
        "_chunks",
        "_client",
        "_deadline",
        "_decoder",
        "_escaped",
        "_failure",
        "_final",
        "_grant",
        "_headers",
        "_held",
        "_iterated",
        "_keep_going",
        "_last",
        "_model",
        "_model_at",
        "_models",
        "_mstate",
        "_options",
        "_params",
        "_request",
        "_resp",
        "_retry",
        "_slots",
        "_started",
        "_stitch",
        "_visible",
        "_waited",
        "attempts",
        "request_id",
    )

    # Set when the call starts (_begin) and with each attempt (_start).
    _acc: Accumulator
    _attempt: Attempt
    _decoder: EventDecoder
    _held: list[StreamEvent]
    _stitch: _Stitch | None
    _last: APIError | None

    def __init__(self, client: Claude, params: dict[str, Any]) -> None:
        self._client = client
        self._params, self._options = client.split_options(dict(params))
        if "max_tokens" not in self._params:
            raise ConfigError("max_tokens is required")
        self._params["stream"] = True
        self._models: list[str] | None = None  # set when the call starts
        self._visible: Accumulator | None = None  # what the caller has been shown
        self._final: Message | None = None
        self._iterated = False
        self._slots: _Slots | None = None  # held while an attempt is in flight
        self._resp: Response | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._failure: APIError | None = None  # an error event, raised after what preceded it
        self.request_id: str | None = None
        self.attempts = 0

    async def __aenter__(self) -> MessageStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._end_attempt()  # close(), without a second coroutine

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        self._claim()
        return self._flat()

    def _claim(self) -> None:
        if self._iterated:
            raise RuntimeError("a stream can be iterated once")
        self._iterated = True

    async def _flat(self) -> AsyncIterator[StreamEvent]:
        try:
            while (batch := await self._next_batch()) is not None:
                for event in batch:
                    yield event
        finally:
            self._end_attempt()  # left early (break, error): free the connection now

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the text deltas, as they arrive."""
        self._claim()
        return self._text()

    async def _text(self) -> AsyncIterator[str]:
        try:
            while (batch := await self._next_batch()) is not None:
                for event in batch:
                    if type(event) is ContentBlockDeltaEvent and type(event.delta) is TextDelta:
                        yield event.delta.text
        finally:
            self._end_attempt()

    async def until_done(self) -> None:
        """Consume whatever is left of the stream (without yielding event by event)."""
        self._iterated = True
        await self._next_batch(drain=True)

    async def get_final_message(self) -> Message:
        self._iterated = True
        if self._final is None:
            await self._next_batch(drain=True)
        final: Message = self._final  # type: ignore[assignment]  # set once drained
        return final

    async def get_final_text(self) -> str:
        return (await self.get_final_message()).text

    @property
    def incomplete(self) -> list[int]:
        """Blocks of the reply that must not be trusted (cut, or tool input that never parsed)."""
        visible = self._visible
        return visible.incomplete if visible is not None and visible.started else []

    @property
    def current_message_snapshot(self) -> Message | None:
        visible = self._visible
        return visible.message if visible is not None and visible.started else None

    async def close(self) -> None:
        self._end_attempt()

    # ------------------------------------------------------------------ the call

    def _begin(self) -> None:
        """Fix what holds for the whole call: the models to try, the deadline, headers."""
        c, params, options = self._client, self._params, self._options
        fallbacks = options.get("fallback_models", c.settings.fallback_models)
        self._models = [params["model"], *fallbacks]
        self._deadline = c.deadline_for(options)
        self._headers = c.headers_for(options)
        self._keep_going = options.get("continue_interrupted", c.settings.continue_interrupted)
        self._started = c.clock.monotonic()
        self._waited = 0.0
        self._escaped = False
        self._stitch = None
        self._last = None
        self._model_at = -1
        self._next_model()

    def _next_model(self) -> None:
        """Move on to the next fallback model, or end the call with the last failure."""
        c = self._client
        assert self._models is not None
        self._model_at += 1
        if self._escaped or self._model_at >= len(self._models):
            last = self._last
            assert last is not None
            c.notify_call(
                CallEnd(
                    self._params["model"],
                    outcome_label(last),
                    self.attempts,
                    c.clock.monotonic() - self._started,
                    self._waited,
                )
            )
            raise last
        model = self._model = self._models[self._model_at]
        params = self._params
        self._request = params if model == params["model"] else {**params, "model": model}
        self._body = c.encode_body(self._request)
        self._retry = RetryState(deadline=self._deadline)
        c.budget.deposit()

    async def _next_batch(self, drain: bool = False) -> list[StreamEvent] | None:
        """The next events the caller may see, in order; None once the reply is whole.

        Events before the first content delta are held back, so a failure up to
        then is retried (or handed to a fallback model) unseen. ``drain``: nobody
        is looking at the events, run the call to its end in this one await.
        """
        if self._final is not None:
            return None
        if self._models is None:
            self._begin()
        c = self._client
        while True:
            try:
                if self._failure is not None:
                    failure, self._failure = self._failure, None
                    raise failure
                chunks = self._chunks
                if chunks is None:
                    await self._start()
                    continue
                acc = self._acc
                if not acc.done and c.clock.monotonic() > self._deadline:
                    raise DeadlineExceededError("the call's deadline passed mid-stream")
                try:
                    chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    if not acc.done:
                        raise ConnectionCutError("stream ended before message_stop") from None
                    self._succeeded()
                    return None
                events = self._decoder.feed(chunk)
                try:
                    acc.extend(events)
                except APIError as exc:  # an error event: what came before it stands
                    self._failure, events = exc, events[: _error_at(events)]
                stitch = self._stitch
                if stitch is not None:
                    events = stitch.remap_all(events)
                    visible = self._visible
                    assert visible is not None
                    for event in events:
                        visible.add(event)
                if not self._escaped:
                    for e in events:
                        if isinstance(e, _ESCAPING):
                            break
                    else:
                        self._held += events
                        continue
                    self._escaped = True
                    self._attempt.ttft = c.clock.monotonic() - self._attempt.started
                    if self._held:
                        events = self._held + events
                        self._held = []
                if events and not drain:
                    return events
            except APIError as exc:
                if self._slots is None:  # no attempt in flight: nothing to retry
                    raise
                await self._failed(exc)
            except BaseException:
                self._end_attempt()
                raise

    async def _start(self) -> None:
        """Open the next attempt: admitted, holding a connection slot, response headers in."""
        c = self._client
        model, body, deadline = self._model, self._body, self._deadline
        max_tokens = self._params["max_tokens"]
        try:
            try:
                mstate, grant, wait = c.admit(model, body, max_tokens, deadline)
            except _Busy as busy:
                mstate, grant, wait = await c.admit_patiently(
                    model, body, max_tokens, deadline, first=busy
                )
            else:
                if wait:
                    await c.clock.sleep(wait)
        except ShedError as exc:
            if self._escaped:
                raise IncompleteResponseError(
                    str(exc), partial=self._visible_message(), request_id=self.request_id
                ) from exc
            self._last = exc
            self._next_model()
            return
        self._waited += wait
        slots = c._slots_for_loop()
        if not slots.try_acquire():
            await slots.acquire(deadline - c.clock.monotonic())
        self._slots = slots
        attempt = self._attempt = Attempt(model, self._retry.attempts, True, c.clock.monotonic())
        self._mstate, self._grant = mstate, grant
        self.attempts += 1
        c.notify_start(attempt)
        acc = self._acc = Accumulator()
        self._held = []
        resp = self._resp = await c.send("/v1/messages", self._headers, body, deadline)
        c.learn(mstate, resp.headers)
        self.request_id = acc.request_id = resp.headers.get("request-id")
        self._decoder = EventDecoder()
        if self._stitch is None:
            self._visible = acc  # what the caller sees is this attempt's own fold
        self._chunks = resp.chunks()

    def _end_attempt(self) -> None:
        """Give back the attempt's connection slot and response, once: after a failure, or
        when the caller stops early (close, break, cancellation). Safe to call again."""
        slots, resp = self._slots, self._resp
        self._slots = self._resp = self._chunks = None
        if slots is not None:
            slots.release()
        if resp is not None:
            resp.close()

    def _succeeded(self) -> None:
        c = self._client
        slots = self._slots
        assert slots is not None
        self._slots = self._resp = self._chunks = None  # the body was read to its end
        slots.release()
        final = self._acc.message
        c.attempt_succeeded(
            model=self._model,
            mstate=self._mstate,
            grant=self._grant,
            attempt=self._attempt,
            usage=final.usage,
        )
        c.notify_call(
            CallEnd(
                self._model,
                "ok",
                self.attempts,
                c.clock.monotonic() - self._started,
                self._waited,
            )
        )
        self._final = self._visible_message() if self._stitch is not None else final

    def _visible_message(self) -> Message | None:
        visible = self._visible
        return visible.message if visible is not None and visible.started else None

    async def _failed(self, exc: APIError) -> None:
        """Feed a failed attempt to every policy; raise, or set up the next attempt."""
        c = self._client
        self._end_attempt()
        self._failure = None
        attempt = self._attempt
        attempt.request_id = self.request_id
        escaped = self._escaped
        continuation = (
            _Stitch.after(self._visible, self._acc)
            if escaped and self._keep_going and self._visible is not None
            else None
        )
        # A text reply cut mid-block may be continued: decide as if nothing escaped.
        decision = c.attempt_failed(
            exc,
            model=self._model,
            mstate=self._mstate,
            grant=self._grant,
            attempt=attempt,
            state=self._retry,
            escaped=escaped and continuation is None,
        )
        elapsed = c.clock.monotonic() - self._started
        if escaped:
            if continuation is None or not isinstance(decision, Retry):
                c.notify_end(attempt)
                c.notify_call(
                    CallEnd(self._model, "incomplete", self.attempts, elapsed, self._waited)
                )
                raise IncompleteResponseError(
                    f"the stream failed after output reached the caller: {exc}",
                    partial=self._visible_message(),
                    request_id=self.request_id,
                ) from exc
            attempt.retry_reason = "continue interrupted text"
            c.notify_end(attempt)
            self._stitch = continuation
            self._body = c.encode_body(continuation.request(self._request))
            self._retry.attempts += 1
            return
        c.notify_end(attempt)
        if isinstance(decision, Retry):
            await c.clock.sleep(decision.delay)
            self._retry.attempts += 1
            return
        self._last = exc
        if not fallback_worthy(exc):
            c.notify_call(CallEnd(self._model, "error", self.attempts, elapsed, self._waited))
            raise exc
        self._next_model()


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
