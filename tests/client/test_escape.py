"""Output escapes only when the caller reads it (faults 6 and 7 of reference/reliability.md §3).

A stream cut after every possible event index, or broken by an ``event: error``
there, for each way of consuming it:

* ``final``: the caller only awaits ``get_final_message()``: it has read nothing,
  so every failure is retried from scratch and the call succeeds with the whole text;
* ``events``: the caller iterates the events: a failure before the first content
  event is retried unseen, one after it is an ``IncompleteResponseError`` whose
  partial message is exactly what the caller saw;
* ``text``: the caller iterates ``text_stream``: the same, counted in text deltas.

A cut after ``message_delta`` loses nothing (only ``message_stop`` is missing, and it
carries nothing): the reply is whole at its first attempt, however it is read.
"""

from __future__ import annotations

from typing import Any

import pytest

from chorus import IncompleteResponseError
from chorus.protocol.types import ContentBlockDeltaEvent, TextDelta

from .conftest import MODEL, user

PROMPT = "escape alpha beta gamma delta"
# message_start, content_block_start, ping, one delta per word (5), content_block_stop,
# message_delta, message_stop: the simulator's events for PROMPT, checked below.
EVENTS = 11
FIRST_TEXT = 3  # index of the first text delta
ENDED = EVENTS - 1  # events up to message_delta: all but message_stop


async def _consume(stream: Any, how: str, seen: list[Any]) -> str:
    """Read the stream as ``how`` says, keeping in ``seen`` what the caller got."""
    if how == "events":
        async for event in stream:
            seen.append(event)
    elif how == "text":
        async for text in stream.text_stream:
            seen.append(text)
    return str((await stream.get_final_message()).text)


def _seen_text(how: str, seen: list[Any]) -> str:
    if how == "text":
        return "".join(seen)
    return "".join(
        e.delta.text
        for e in seen
        if isinstance(e, ContentBlockDeltaEvent) and isinstance(e.delta, TextDelta)
    )


async def test_the_reply_has_the_events_these_tests_count(make_rig) -> None:
    async with make_rig() as r:
        async with r.claude.messages.stream(model=MODEL, max_tokens=64, messages=user(PROMPT)) as s:
            events = [e async for e in s]
        assert len(events) == EVENTS
        assert [e.type for e in events[: FIRST_TEXT + 1]] == [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
        ]


@pytest.mark.parametrize("how", ["final", "events", "text"])
@pytest.mark.parametrize("fault", ["cut", "sse_error"])
@pytest.mark.parametrize("after", range(EVENTS))
async def test_a_failure_after_any_event(make_rig, how: str, fault: str, after: int) -> None:
    async with make_rig() as r:
        stream = r.claude.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=user(PROMPT),
            extra_headers={"x-chorus-fault": f"{fault}(after={after});ok"},
        )
        read_before = how != "final" and after > FIRST_TEXT
        whole = fault == "cut" and after == ENDED
        seen: list[Any] = []
        try:
            async with stream as s:
                text = await _consume(s, how, seen)
        except IncompleteResponseError as exc:
            assert read_before and not whole, f"retried unseen was possible, yet {exc!r}"
            assert exc.partial is not None
            assert exc.partial.text == _seen_text(how, seen)
            assert len(r.attempts()) == 1  # never retried blindly once the caller read
            return
        assert text == PROMPT
        if whole:  # nothing was lost: the reply ends as if message_stop had come
            assert stream.attempts == 1 and len(r.attempts()) == 1
            assert (await stream.get_final_message()).stop_reason == "end_turn"
            if how == "events":
                assert [e.type for e in seen][-2:] == ["message_delta", "message_stop"]
        else:
            assert not read_before, "the caller had read part of the reply, yet it was retried"
            assert stream.attempts == 2
        if how == "events":
            assert [e.type for e in seen].count("message_start") == 1
            assert _seen_text(how, seen) == PROMPT
        if how == "text":
            assert "".join(seen) == PROMPT


async def test_after_an_incomplete_reply_nothing_is_sent_again(make_rig) -> None:
    async with make_rig() as r:
        stream = r.claude.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=user(PROMPT),
            extra_headers={"x-chorus-fault": "cut(after=6);ok"},
        )
        with pytest.raises(IncompleteResponseError):
            async for _ in stream.text_stream:
                pass
        with pytest.raises(IncompleteResponseError):
            await stream.get_final_message()  # the same answer, not a fresh request
        assert len(r.attempts()) == 1


async def test_leaving_the_text_early_then_asking_for_the_final_message(make_rig) -> None:
    """The rest of the same reply is read: never a second request behind the caller's back."""
    async with make_rig() as r:
        async with r.claude.messages.stream(model=MODEL, max_tokens=64, messages=user(PROMPT)) as s:
            async for _ in s.text_stream:
                break
            final = await s.get_final_message()
        assert final.text == PROMPT
        assert len(r.attempts()) == 1
        assert r.claude.engine.slots().in_flight == 0


async def test_a_closed_stream_is_incomplete_afterwards(make_rig) -> None:
    async with make_rig() as r:
        stream = r.claude.messages.stream(model=MODEL, max_tokens=64, messages=user(PROMPT))
        texts = stream.text_stream
        await texts.__anext__()
        await stream.close()
        with pytest.raises(IncompleteResponseError, match="closed before"):
            await stream.get_final_message()
        assert len(r.attempts()) == 1
        assert r.claude.engine.slots().in_flight == 0
