"""Streamed calls: events out as they arrive; nothing is lost until the caller reads it.

"Escaped" is the pivot (DESIGN.md), and it is a fact about the caller, reported
by this driver to the call's state machine (:meth:`~chorus.policy.call.Call.escape`):

* A caller that only awaits ``get_final_message()`` / ``until_done()`` (or
  leaves the block) has read nothing, so a failure at any point of the stream is
  retried from scratch, or handed to a fallback model, unseen.
* A caller iterating the events has read them once a batch is handed to it;
  ``message_start``, ``content_block_start`` and ``ping`` are held back until the
  first content event, so a failure before that is still retried unseen.
* A caller iterating ``text_stream`` has read something once it got a text delta.

A stream cut after ``message_delta`` (or stalled there until the call's deadline) has
lost nothing: ``message_stop`` carries nothing more, so the reply is whole and ends as if
the stop had come. An ``error`` event there still fails the attempt: the server said the
reply went wrong, and that is taken at its word.

After escape a failure raises :class:`~chorus.errors.IncompleteResponseError`
carrying the partial message, or, with ``continue_interrupted`` on and a plain
text reply cut in the middle of a text block, the text so far is sent back as a
prefill and the rest is stitched onto the same block
(:mod:`chorus.protocol.continuation`). A partial ``tool_use`` is never continued.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from chorus.client.engine import Slots
from chorus.client.observers import Attempt
from chorus.errors import (
    APIError,
    ConfigError,
    ConnectionCutError,
    DeadlineExceededError,
    IncompleteResponseError,
    ShedError,
)
from chorus.policy.call import Again, Call, Continue, End, Next, Step
from chorus.protocol.accumulate import Accumulator
from chorus.protocol.continuation import Continuation
from chorus.protocol.sse import EventDecoder
from chorus.protocol.types import (
    ContentBlockDeltaEvent,
    ErrorEvent,
    Message,
    MessageDeltaEvent,
    MessageStopEvent,
    StreamEvent,
    TextDelta,
)

if TYPE_CHECKING:
    from chorus.client.engine import Engine
    from chorus.client.transport import Response
    from chorus.policy.admission import Ticket

__all__ = ["MessageStream"]

_CONTENT = (ContentBlockDeltaEvent, MessageDeltaEvent, MessageStopEvent)


class MessageStream:
    """``async with claude.messages.stream(...) as stream``: iterate events or text.

    The call runs as a small driver over its :class:`~chorus.policy.call.Call`
    rather than one long generator: :meth:`_next_batch` reads the current
    attempt's body a network chunk at a time; :meth:`_start` opens the next
    attempt (admission, a connection slot, the request); :meth:`_failed` reports a
    failure and carries out the call's next step. ``get_final_message`` drives it
    directly, so a call that nobody iterates costs no generator at all.
    """

    __slots__ = (
        "_acc",
        "_attempt",
        "_body",
        "_call",
        "_chunks",
        "_content",
        "_decoder",
        "_draining",
        "_engine",
        "_failure",
        "_final",
        "_headers",
        "_held",
        "_iterated",
        "_keep_going",
        "_options",
        "_over",
        "_params",
        "_request",
        "_resp",
        "_slots",
        "_started",
        "_stitch",
        "_stopped",
        "_ticket",
        "_visible",
        "_waited",
        "_watched",
        "request_id",
    )

    # Set when the call starts (_begin) and with each attempt (_start).
    _acc: Accumulator
    _attempt: Attempt
    _content: bool  # this attempt has sent its first content event
    _watched: bool  # the transport stops this attempt's body at the deadline
    _decoder: EventDecoder
    _held: list[StreamEvent]
    _ticket: Ticket

    def __init__(self, engine: Engine, params: dict[str, Any]) -> None:
        self._engine = engine
        self._params, self._options = engine.split_options(dict(params))
        if "max_tokens" not in self._params:
            raise ConfigError("max_tokens is required")
        self._params["stream"] = True
        self._call: Call | None = None  # set when the call starts
        self._visible: Accumulator | None = None  # what the caller has been shown
        self._stitch: Continuation | None = None
        self._final: Message | None = None
        self._iterated = False
        self._slots: Slots | None = None  # held while an attempt is in flight
        self._resp: Response | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._failure: APIError | None = None  # an error event, raised after what preceded it
        self._over: APIError | None = None  # how the call ended, if it failed
        self._stopped = False  # the caller closed the stream before its reply was whole
        self._draining = False  # get_final_message / until_done is reading the attempt
        self.request_id: str | None = None

    @property
    def attempts(self) -> int:
        """Attempts sent so far, over every model."""
        return self._call.attempts if self._call is not None else 0

    async def __aenter__(self) -> MessageStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop()  # close(), without a second coroutine

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
                call = self._call
                if call is not None and not call.escaped:
                    call.escape()  # the caller reads these events now
                for event in batch:
                    yield event
        finally:
            self._left()

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
                        call = self._call
                        if call is not None and not call.escaped:
                            call.escape()  # the caller reads text from here on
                        yield event.delta.text
        finally:
            self._left()

    async def until_done(self) -> None:
        """Consume whatever is left of the stream (without yielding event by event)."""
        self._iterated = True
        await self._drain()

    async def _drain(self) -> None:
        self._draining = True
        try:
            await self._next_batch(drain=True)
        finally:
            self._draining = False

    async def get_final_message(self) -> Message:
        self._iterated = True
        if self._final is None:
            await self._drain()
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
        self._stop()

    def _left(self) -> None:
        """An iterator ended: at its end (nothing to do), on an error (already handled), or
        because the caller stopped reading it. asyncio finalizes an abandoned iterator
        later, from a task of its own: if the caller has meanwhile asked for the final
        message, that drain owns the attempt and is not cut from under it."""
        if not self._draining:
            self._stop()

    def _stop(self) -> None:
        """The caller is done with the stream: free the attempt in flight, if any. A reply
        left unfinished stays unfinished: asking for it later is an incomplete response,
        never a new request sent behind the caller's back."""
        if self._slots is not None and self._final is None:
            self._engine.abandoned(self._ticket, self._attempt)
            self._stopped = True
        self._end_attempt()

    # ------------------------------------------------------------------ the call

    def _begin(self) -> None:
        """Fix what holds for the whole call: its models and deadline, the headers."""
        e, params, options = self._engine, self._params, self._options
        self._use(params["model"])  # a request refused here never reaches the budget
        self._call = e.call(params, options)
        self._headers = e.headers_for(options)
        self._keep_going = options.get("continue_interrupted", e.settings.continue_interrupted)
        self._started = e.clock.monotonic()
        self._waited = 0.0

    def _use(self, model: str) -> None:
        params = self._params
        self._request = params if model == params["model"] else {**params, "model": model}
        self._body = self._engine.encode_body(self._request)

    async def _next_batch(self, drain: bool = False) -> list[StreamEvent] | None:
        """The next events the caller may see, in order; None once the reply is whole.

        Events before the attempt's first content event are held back, so a failure
        up to then is retried unseen. ``drain``: nobody is looking at the events, run
        the call to its end in this one await.
        """
        if self._final is not None:
            return None
        if self._over is not None:
            raise self._over  # the call ended with this: asking again gets the same answer
        if self._stopped:
            raise IncompleteResponseError(
                "the stream was closed before its reply was complete",
                partial=self._visible_message(),
                request_id=self.request_id,
            )
        if self._call is None:
            self._begin()
        e = self._engine
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
                if not acc.whole and e.clock.monotonic() > self._call.deadline:  # type: ignore[union-attr]
                    raise DeadlineExceededError("the call's deadline passed mid-stream")
                try:
                    if self._watched:
                        chunk = await chunks.__anext__()
                    else:
                        chunk = await self._read_by_deadline(chunks)
                except (StopAsyncIteration, ConnectionCutError, DeadlineExceededError) as exc:
                    if acc.done:
                        self._succeeded()
                        return None
                    if not acc.whole:
                        if isinstance(exc, APIError):
                            raise
                        raise ConnectionCutError("stream ended before message_stop") from None
                    return self._ended(drain)
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
                if not self._content:
                    for ev in events:
                        if isinstance(ev, _CONTENT):
                            break
                    else:
                        if not drain:
                            self._held += events
                        continue
                    self._content = True
                    self._attempt.ttft = e.clock.monotonic() - self._attempt.started
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
                if self._slots is not None:  # cancelled mid-attempt: it will never report
                    self._engine.abandoned(self._ticket, self._attempt)
                self._end_attempt()
                raise

    def _ended(self, drain: bool) -> list[StreamEvent] | None:
        """The stream stopped (cut, ended, or its deadline came) after ``message_delta``:
        only ``message_stop``, which carries nothing, is missing, so the reply is whole.
        The call succeeds now; a caller reading events gets the stop the server owed."""
        if self._resp is not None:
            self._resp.close()  # (not read to its end: the connection is not reused)
        events: list[StreamEvent] = [_STOP]
        self._acc.add(_STOP)
        if self._stitch is not None:
            events = self._stitch.remap_all(events)
            assert self._visible is not None
            for event in events:
                self._visible.add(event)
        self._succeeded()
        return None if drain else events

    async def _read_by_deadline(self, chunks: AsyncIterator[bytes]) -> bytes:
        """The next chunk, or :class:`DeadlineExceededError` once the deadline passes."""
        left = self._call.deadline - self._engine.clock.monotonic()  # type: ignore[union-attr]
        try:
            async with asyncio.timeout(max(left, 0.0)):
                return await chunks.__anext__()
        except TimeoutError:
            raise DeadlineExceededError("the call's deadline passed mid-stream") from None

    async def _start(self) -> None:
        """Open the next attempt: admitted, holding a connection slot, response headers in."""
        e, call = self._engine, self._call
        assert call is not None
        ticket = self._ticket = e.ticket(
            call.model, self._body, self._params["max_tokens"], call.deadline
        )
        got = e.admit_now(ticket)
        if type(got) is Slots:
            slots = got
        else:
            try:
                slots, waited = await e.admit(ticket, got)  # type: ignore[arg-type]
            except ShedError as exc:
                await self._follow(call.refused(exc), None)
                return
            self._waited += waited
        self._slots = slots
        self._attempt = e.started(call, ticket, stream=True)
        acc = self._acc = Accumulator()
        self._held = []
        self._content = False
        # Far from the deadline the transport's watchdog stops the body at it (to its
        # tick); near it, or with a transport that has none, each read has a timer.
        left = call.deadline - e.clock.monotonic()
        self._watched = e.watches_deadlines and left > e.arm_deadline_below
        resp = self._resp = await e.send("/v1/messages", self._headers, self._body, call.deadline)
        e.headers_in(ticket, resp.headers)
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
        e, call = self._engine, self._call
        assert call is not None
        slots = self._slots
        assert slots is not None
        self._slots = self._resp = self._chunks = None  # the body was read to its end
        slots.release()
        final = self._acc.message
        e.succeeded(self._ticket, self._attempt, final.usage)
        e.ended(call.model, "ok", call, self._started, self._waited)
        self._final = self._visible_message() if self._stitch is not None else final

    def _visible_message(self) -> Message | None:
        visible = self._visible
        return visible.message if visible is not None and visible.started else None

    async def _failed(self, exc: APIError) -> None:
        """Report a failed attempt and carry out what the call decides."""
        call = self._call
        assert call is not None
        self._end_attempt()
        self._failure = None
        self._attempt.request_id = self.request_id
        continuation = (
            Continuation.after(self._visible, self._acc)
            if call.escaped and self._keep_going and self._visible is not None
            else None
        )
        step = self._engine.failed(
            call, self._ticket, self._attempt, exc, continuable=continuation is not None
        )
        await self._follow(step, continuation)

    async def _follow(self, step: Step, continuation: Continuation | None) -> None:
        e = self._engine
        if type(step) is Again:
            assert self._call is not None
            await e.backoff(self._call.model, step.delay, hinted=step.reason != "backoff")
        elif type(step) is Continue:
            assert continuation is not None and self._call is not None
            if step.delay > 0:  # (an overloaded server's error event asks for a pause too)
                await e.backoff(self._call.model, step.delay, hinted=step.reason != "backoff")
            self._stitch = continuation
            self._body = e.encode_body(continuation.request(self._request))
        elif type(step) is Next:
            self._use(step.model)
        else:
            assert type(step) is End and self._call is not None
            e.ended(step.model, step.outcome, self._call, self._started, self._waited)
            if step.outcome == "incomplete":
                error: APIError = IncompleteResponseError(
                    f"the stream failed after output reached the caller: {step.error}",
                    partial=self._visible_message(),
                    request_id=self.request_id,
                )
                error.__cause__ = step.error
            else:
                error = step.error
            self._over = error
            raise error


_STOP = MessageStopEvent()


def _error_at(events: list[StreamEvent]) -> int:
    """Where the first ``error`` event sits (the one :meth:`Accumulator.extend` raised on)."""
    return next(i for i, e in enumerate(events) if type(e) is ErrorEvent)
