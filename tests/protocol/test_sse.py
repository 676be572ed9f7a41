"""SSE decoding and stream folding on the reference's verbatim streams, and by property."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.errors import ProtocolError, StreamError
from chorus.protocol import Accumulator, EventDecoder, SSEDecoder, accumulate
from chorus.protocol.types import (
    ContentBlockDeltaEvent,
    PingEvent,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    UnknownDelta,
    UnknownEvent,
)

FIXTURES = Path(__file__).parent / "fixtures"
STREAMS = {p.stem: p.read_bytes() for p in sorted(FIXTURES.glob("*.sse"))}

ERROR_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_e","type":"message",'
    b'"role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":'
    b'{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
    b'{"type":"text_delta","text":"Hi"}}\n\n'
    b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
    b'"message": "Overloaded"}}\n\n'
)


def decode_all(data: bytes, chunks: list[int] | None = None) -> list[object]:
    decoder = EventDecoder()
    events: list[object] = []
    if chunks is None:
        events += decoder.feed(data)
    else:
        pos = 0
        for size in chunks:
            events += decoder.feed(data[pos : pos + size])
            pos += size
        events += decoder.feed(data[pos:])
    return events + decoder.flush()


def test_text_stream() -> None:
    for name in ("text", "text_spaced"):
        message = accumulate(decode_all(STREAMS[name]))
        assert message.stop_reason == "end_turn"
        assert message.text in ("Hello there!", "Hello!")
        assert isinstance(message.content[0], TextBlock)
    assert accumulate(decode_all(STREAMS["text"])).usage.output_tokens == 6


def test_tool_use_stream() -> None:
    message = accumulate(decode_all(STREAMS["tool_use"]))
    assert message.stop_reason == "tool_use"
    assert message.text == "Okay, let's check the weather for San Francisco, CA:"
    tool = message.content[1]
    assert isinstance(tool, ToolUseBlock)
    assert tool.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert tool.input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert message.usage.input_tokens == 472 and message.usage.output_tokens == 89


def test_thinking_stream() -> None:
    message = accumulate(decode_all(STREAMS["thinking"]))
    thinking = message.content[0]
    assert isinstance(thinking, ThinkingBlock)
    assert thinking.thinking.endswith("GCD(1071, 462) = 21.")
    assert thinking.signature.startswith("EqQBCgIYAhIM")
    assert message.text == "The greatest common divisor of 1071 and 462 is **21**."
    assert message.usage.output_tokens == 187


def test_ping_and_comments_are_ignored() -> None:
    decoder = SSEDecoder()
    frames = decoder.feed(b': keep-alive\n\nevent: ping\ndata: {"type": "ping"}\n\n')
    assert [(f.event, f.data) for f in frames] == [("ping", b'{"type": "ping"}')]
    assert isinstance(EventDecoder().feed(b'event: ping\ndata: {"type": "ping"}\n\n')[0], PingEvent)


def test_multi_line_data_joined() -> None:
    frames = SSEDecoder().feed(b'event: x\ndata: {"a":\ndata: 1}\n\n')
    assert frames[0].data == b'{"a":\n1}'
    assert msgspec.json.decode(frames[0].data) == {"a": 1}


def test_data_only_frame_uses_the_type() -> None:
    events = EventDecoder().feed(b'data: {"type":"message_stop"}\n\n')
    assert events[0].type == "message_stop"


def test_flush_returns_a_final_frame_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'event: message_stop\ndata: {"type":"message_stop"}') == []
    assert decoder.buffered > 0
    assert [f.event for f in decoder.flush()] == ["message_stop"]


def test_unknown_event_and_delta_are_tolerated() -> None:
    data = (
        b'event: future_thing\ndata: {"type":"future_thing","x":1}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"hologram_delta","beam":2}}\n\n'
    )
    events = EventDecoder().feed(data)
    assert isinstance(events[0], UnknownEvent) and events[0].data == {
        "type": "future_thing",
        "x": 1,
    }
    assert isinstance(events[1], ContentBlockDeltaEvent) and isinstance(
        events[1].delta, UnknownDelta
    )


def test_unknown_fields_are_ignored() -> None:
    data = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"shiny":true,'
        b'"delta":{"type":"text_delta","text":"x","extra":[1]}}\n\n'
    )
    (event,) = EventDecoder().feed(data)
    assert event.delta.text == "x"


def test_malformed_json_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="malformed JSON"):
        EventDecoder().feed(b"event: content_block_delta\ndata: {not json\n\n")


def test_error_event_raises_stream_error_with_text_so_far() -> None:
    acc = Accumulator()
    with pytest.raises(StreamError) as info:
        for event in decode_all(ERROR_STREAM):
            acc.add(event)
    assert info.value.type == "overloaded_error"
    assert acc.text == "Hi"


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_crlf_and_cr_line_endings(name: str) -> None:
    expected = decode_all(STREAMS[name])
    assert decode_all(STREAMS[name].replace(b"\n", b"\r\n")) == expected
    assert decode_all(STREAMS[name].replace(b"\n", b"\r")) == expected


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from([*sorted(STREAMS), "error"]),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=40),
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
def test_any_split_gives_the_same_events_and_message(
    name: str, cuts: list[int], newline: bytes
) -> None:
    data = (ERROR_STREAM if name == "error" else STREAMS[name]).replace(b"\n", newline)
    points = sorted({c % (len(data) + 1) for c in cuts})
    sizes = [b - a for a, b in zip([0, *points], points, strict=False)]
    whole = decode_all(data)
    assert decode_all(data, sizes) == whole
    byte_by_byte = decode_all(data, [1] * len(data)) if name == "text" else whole
    assert byte_by_byte == whole
    if name != "error":
        assert accumulate(decode_all(data, sizes)) == accumulate(whole)
