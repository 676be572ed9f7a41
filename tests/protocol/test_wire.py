"""The Messages API's bytes: one event at a time gives what a whole reply gives."""

from __future__ import annotations

from chorus.protocol import wire
from chorus.protocol.accumulate import Accumulator
from chorus.protocol.sse import EventDecoder


def test_a_reply_streamed_event_by_event_is_byte_for_byte_the_whole_replys_stream() -> None:
    usage = {
        "input_tokens": 5,
        "output_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2,
    }
    reply = wire.Rendered([wire.RBlock("text", "Hello there, world")], "end_turn", None, 3)
    whole = b"".join(c for c, _ in wire.sse_events(reply, message_id="m", model="x", usage=usage))
    final = {  # message_delta's usage: output tokens last, as the API orders them
        "input_tokens": 5,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2,
        "output_tokens": 3,
    }
    pieces = ["Hello", " there,", " world"]
    parts = (
        wire.message_start("m", "x", usage)
        + wire.text_block_start(0)
        + wire.PING
        + b"".join(wire.text_delta(0, p) for p in pieces)
        + wire.block_stop(0)
        + wire.message_delta("end_turn", None, final)
        + wire.MESSAGE_STOP
    )
    assert parts == whole


def test_an_error_event_decodes_as_the_apis_error() -> None:
    events = EventDecoder().feed(wire.error_event("overloaded_error", "busy"))
    assert [e.type for e in events] == ["error"]
    assert events[0].error.type == "overloaded_error" and events[0].error.message == "busy"


def test_the_events_accumulate_into_the_message() -> None:
    usage = {
        "input_tokens": 7,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    stream = (
        wire.message_start("msg_1", "agent", usage)
        + wire.text_block_start(0)
        + wire.text_delta(0, "a ")
        + wire.text_delta(0, "b")
        + wire.block_stop(0)
        + wire.message_delta("end_turn", None, {**usage, "output_tokens": 2})
        + wire.MESSAGE_STOP
    )
    acc = Accumulator()
    for event in EventDecoder().feed(stream):
        acc.add(event)
    message = acc.message
    assert message.content[0].text == "a b" and message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 2 and message.usage.input_tokens == 7
