"""SSE decoding: frames and typed events from recorded streams, under any chunking.

The fixtures are the verbatim streams of reference §4.4-§4.6 plus hand-written
ones for an error event, unknown types and CRLF line ends (tests/fixtures/streams).
"""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.errors import ProtocolError
from chorus.protocol import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    ErrorInfo,
    EventDecoder,
    InputJSONDelta,
    MessageDeltaEvent,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    SignatureDelta,
    SSEDecoder,
    SSEFrame,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ThinkingDelta,
    ToolUseBlock,
    UnknownBlock,
    UnknownDelta,
    UnknownEvent,
    encode,
    parse_event,
)

from .streams import NAMES, events_of, fold, frames_of, read

START = "message_start"
BSTART = "content_block_start"
DELTA = "content_block_delta"
BSTOP = "content_block_stop"
MDELTA = "message_delta"
STOP = "message_stop"

# The event names each recorded stream carries, in order (comments carry none).
EXPECTED_NAMES: dict[str, list[str]] = {
    "text_spaced": [START, BSTART, "ping", DELTA, DELTA, BSTOP, MDELTA, STOP],
    "text_compact": [START, BSTART, "ping", DELTA, DELTA, DELTA, BSTOP, MDELTA, STOP],
    "tool_use": [
        *[START, BSTART, "ping", *[DELTA] * 13, BSTOP],
        *[BSTART, *[DELTA] * 9, BSTOP, MDELTA, STOP],
    ],
    "thinking": [START, BSTART, *[DELTA] * 5, BSTOP, BSTART, DELTA, BSTOP, MDELTA, STOP],
    "error_midstream": [START, BSTART, "ping", DELTA, DELTA, "error"],
    "unknown_types": [
        *[START, "future_thing", BSTART, DELTA, DELTA, DELTA, BSTOP],
        *[BSTART, DELTA, BSTOP, MDELTA, STOP],
    ],
    "crlf": [START, BSTART, "ping", DELTA, DELTA, BSTOP, MDELTA, STOP],
}


def test_every_fixture_has_expectations() -> None:
    assert sorted(EXPECTED_NAMES) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_sse_with_a_blank_line_after_every_event(name: str) -> None:
    raw = read(name)
    ending = b"\r\n" if name == "crlf" else b"\n"
    assert raw.endswith(ending * 2)
    assert raw.count(b"event: ") == len(EXPECTED_NAMES[name])
    if name != "crlf":
        assert b"\r" not in raw
    else:
        assert b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.parametrize("name", NAMES)
def test_frames_of_each_fixture(name: str) -> None:
    frames = frames_of([read(name)])
    assert [f.event for f in frames] == EXPECTED_NAMES[name]
    for frame in frames:
        assert b"\r" not in frame.data
        assert frame.data.startswith(b"{") and frame.data.endswith(b"}")


@pytest.mark.parametrize("name", NAMES)
def test_typed_events_of_each_fixture(name: str) -> None:
    events = events_of([read(name)])
    # The API promises data.type == the event name; each event says its wire type.
    assert [e.type for e in events] == EXPECTED_NAMES[name]


@pytest.mark.parametrize("name", NAMES)
def test_fast_paths_agree_with_frame_by_frame_parsing(name: str) -> None:
    raw = read(name)
    slow = [parse_event(frame) for frame in frames_of([raw])]
    assert events_of([raw]) == slow
    # A comment in every feed makes the whole-chunk batch decode bail out, so each
    # frame takes the per-frame fast path instead.
    per_event = raw.replace(b"\r\n", b"\n").split(b"\n\n")
    assert events_of(b": c\n\n" + part + b"\n\n" for part in per_event if part) == slow


def test_text_spaced_events_in_detail() -> None:
    events = events_of([read("text_spaced")])
    start = events[0]
    assert isinstance(start, MessageStartEvent)
    assert start.message.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert start.message.model == "claude-opus-4-6"
    assert start.message.content == []
    assert start.message.stop_reason is None
    assert (start.message.usage.input_tokens, start.message.usage.output_tokens) == (25, 1)
    assert events[1] == ContentBlockStartEvent(index=0, content_block=TextBlock(text=""))
    assert events[2] == PingEvent()
    assert events[3] == ContentBlockDeltaEvent(index=0, delta=TextDelta(text="Hello"))
    assert events[4] == ContentBlockDeltaEvent(index=0, delta=TextDelta(text="!"))
    assert events[5] == ContentBlockStopEvent(index=0)
    delta = events[6]
    assert isinstance(delta, MessageDeltaEvent)
    assert delta.delta.stop_reason == "end_turn"
    assert delta.delta.stop_sequence is None
    assert delta.usage.output_tokens == 15
    assert delta.usage.input_tokens is None
    assert events[7] == MessageStopEvent()


def test_spaced_and_compact_json_decode_alike() -> None:
    raw = read("text_spaced")
    compact = b"".join(
        b"event: %s\ndata: %s\n\n" % (f.event.encode(), encode(msgspec.json.decode(f.data)))
        for f in frames_of([raw])
        if f.event is not None
    )
    assert b'{"type":"message_start","message":{"id":' in compact
    assert compact != raw
    assert events_of([compact]) == events_of([raw])


def test_tool_use_events_in_detail() -> None:
    events = events_of([read("tool_use")])
    assert events[17] == ContentBlockStartEvent(
        index=1,
        content_block=ToolUseBlock(id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather"),
    )
    fragments = [e.delta for e in events[18:27] if isinstance(e, ContentBlockDeltaEvent)]
    assert all(isinstance(f, InputJSONDelta) for f in fragments)
    assert fragments[0] == InputJSONDelta(partial_json="")
    assert "".join(f.partial_json for f in fragments) == (
        '{"location": "San Francisco, CA", "unit": "fahrenheit"}'
    )


def test_thinking_events_in_detail() -> None:
    events = events_of([read("thinking")])
    assert events[1] == ContentBlockStartEvent(
        index=0, content_block=ThinkingBlock(thinking="", signature="")
    )
    assert events[3] == ContentBlockDeltaEvent(
        index=0, delta=ThinkingDelta(thinking="\n462 = 3 \u00d7 147 + 21")
    )
    assert events[6] == ContentBlockDeltaEvent(
        index=0,
        delta=SignatureDelta(signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds..."),
    )
    start = events[0]
    assert isinstance(start, MessageStartEvent)
    assert start.message.usage.input_tokens == 58


def test_error_event_in_detail() -> None:
    events = events_of([read("error_midstream")])
    assert events[-1] == ErrorEvent(error=ErrorInfo(type="overloaded_error", message="Overloaded"))


def test_unknown_types_in_detail() -> None:
    events = events_of([read("unknown_types")])
    assert events[1] == UnknownEvent(
        type="future_thing", data={"type": "future_thing", "detail": {"level": 3}}
    )
    sparkle = events[4]
    assert isinstance(sparkle, ContentBlockDeltaEvent)
    assert isinstance(sparkle.delta, UnknownDelta)
    assert sparkle.delta.type == "sparkle_delta"
    assert sparkle.delta == {"type": "sparkle_delta", "sparkle": "*"}
    hologram = events[7]
    assert isinstance(hologram, ContentBlockStartEvent)
    assert hologram.index == 1
    assert isinstance(hologram.content_block, UnknownBlock)
    assert hologram.content_block.type == "hologram"
    assert hologram.content_block == {"type": "hologram", "frames": [1, 2], "caption": "hi"}
    assert isinstance(events[8], ContentBlockDeltaEvent)
    assert isinstance(events[8].delta, UnknownDelta)


def test_crlf_fixture_decodes_like_its_lf_form() -> None:
    raw = read("crlf")
    assert events_of([raw]) == events_of([raw.replace(b"\r\n", b"\n")])


# --------------------------------------------------------------------------- frame rules


@pytest.mark.parametrize(
    ("raw", "frames"),
    [
        pytest.param(b": keepalive\n\n", [], id="comment-only"),
        pytest.param(b":\n\n", [], id="bare-colon"),
        pytest.param(
            b': keepalive\nevent: x\n: more\ndata: {"a":1}\n\n',
            [SSEFrame("x", b'{"a":1}')],
            id="comments-inside-a-frame",
        ),
        pytest.param(
            b"event: x\ndata: first\ndata: second\ndata: third\n\n",
            [SSEFrame("x", b"first\nsecond\nthird")],
            id="multi-line-data",
        ),
        pytest.param(b"event: x\ndata:\ndata: b\n\n", [SSEFrame("x", b"\nb")], id="empty-data"),
        pytest.param(b"data: only\n\n", [SSEFrame(None, b"only")], id="data-only"),
        pytest.param(b"event: x\n\n", [], id="event-without-data"),
        pytest.param(b"event:x\ndata:y\n\n", [SSEFrame("x", b"y")], id="no-space-after-colon"),
        pytest.param(b"event: x\ndata:  y\n\n", [SSEFrame("x", b" y")], id="one-space-stripped"),
        pytest.param(
            b"id: 7\nretry: 100\nevent: x\ndata: y\n\n", [SSEFrame("x", b"y")], id="id-retry"
        ),
        pytest.param(
            b"event: a\ndata: 1\n\n\n\nevent: b\ndata: 2\n\n",
            [SSEFrame("a", b"1"), SSEFrame("b", b"2")],
            id="extra-blank-lines",
        ),
        pytest.param(
            b"event: a\rdata: 1\r\revent: b\r\ndata: 2\r\n\r\n",
            [SSEFrame("a", b"1"), SSEFrame("b", b"2")],
            id="cr-and-crlf",
        ),
        pytest.param(b"event: a\ndata: 1\n", [], id="no-blank-line-yet"),
    ],
)
def test_frame_rules(raw: bytes, frames: list[SSEFrame]) -> None:
    assert SSEDecoder().feed(raw) == frames


def test_comments_are_ignored_between_events() -> None:
    raw = read("text_compact")
    with_comments = raw.replace(b"\n\nevent: ", b"\n\n: keepalive\n\nevent: ")
    assert with_comments.count(b": keepalive") == 8
    assert events_of([with_comments]) == events_of([raw])


def test_multi_line_json_data_decodes_as_one_event() -> None:
    raw = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,\n'
    raw += b'data: "delta":{"type":"text_delta","text":"hi"}}\n\n'
    assert EventDecoder().feed(raw) == [ContentBlockDeltaEvent(index=0, delta=TextDelta(text="hi"))]


@pytest.mark.parametrize(
    ("data", "event"),
    [
        (b'{"type":"message_stop"}', MessageStopEvent()),
        (b'{"type": "ping"}', PingEvent()),
        (
            b'{"type":"content_block_stop","index":2}',
            ContentBlockStopEvent(index=2),
        ),
        (
            b'{"type":"future_thing","x":1}',
            UnknownEvent("future_thing", {"type": "future_thing", "x": 1}),
        ),
        (b'{"no_type":true}', UnknownEvent("", {"no_type": True})),
        (b"[1, 2]", UnknownEvent("", [1, 2])),
    ],
)
def test_data_only_frames_are_typed_by_their_data(data: bytes, event: object) -> None:
    # The SDKs drop these; chorus reads the type from the JSON instead.
    assert parse_event(SSEFrame(None, data)) == event
    assert EventDecoder().feed(b"data: " + data + b"\n\n") == [event]


def test_flush_returns_a_trailing_frame_without_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'event: ping\ndata: {"type": "ping"}\n\nevent: message_stop\n') == [
        SSEFrame("ping", b'{"type": "ping"}')
    ]
    assert decoder.feed(b'data: {"type":"message_stop"}') == []
    assert decoder.buffered > 0
    assert decoder.flush() == [SSEFrame("message_stop", b'{"type":"message_stop"}')]
    assert decoder.buffered == 0
    assert decoder.flush() == []


@pytest.mark.parametrize("tail", [b"", b"\n", b"\r", b"\r\n"])
def test_event_decoder_flush(tail: bytes) -> None:
    decoder = EventDecoder()
    assert decoder.feed(b'event: message_stop\ndata: {"type":"message_stop"}' + tail) == []
    assert decoder.flush() == [MessageStopEvent()]
    assert decoder.flush() == []


@pytest.mark.parametrize("rest", [b"", b"\n", b"\n\n\n", b": keepalive", b"event: x\n"])
def test_flush_of_nothing_usable_is_empty(rest: bytes) -> None:
    decoder = SSEDecoder()
    decoder.feed(rest)
    assert decoder.flush() == []


def test_an_empty_chunk_between_cr_and_lf_changes_nothing() -> None:
    decoder = SSEDecoder()
    frames = decoder.feed(b"event: future_thing\r")
    frames += decoder.feed(b"")
    frames += decoder.feed(b'\ndata: {"type":"other"}\r\n\r\n')
    assert frames == [SSEFrame("future_thing", b'{"type":"other"}')]


def test_buffered_counts_the_unfinished_tail() -> None:
    decoder = SSEDecoder()
    assert decoder.buffered == 0
    decoder.feed(b"event: x\ndata: 1\n\nevent: y")
    assert decoder.buffered == len(b"event: y")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "raw",
    [
        b"event: message_start\ndata: {not json\n\n",
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,\n\n',
        b"event: message_stop\ndata: {]\n\n",
        b"event: future_thing\ndata: {nope}\n\n",
        b"data: {nope}\n\n",
        b"event: error\ndata: \n\n",
    ],
)
def test_malformed_json_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed JSON"):
        EventDecoder().feed(raw)
    frame = SSEDecoder().feed(raw)[0]
    with pytest.raises(ProtocolError, match="malformed JSON"):
        parse_event(frame)


@pytest.mark.parametrize(
    "raw",
    [
        b'event: content_block_start\ndata: {"type":"content_block_start","content_block":{}}',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"tool_use"}}',
        b'event: message_start\ndata: {"type":"message_start","message":{"type":"message"}}',
        b'event: message_start\ndata: {"type":"message_start"}',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{}}',
        b'event: message_delta\ndata: {"type":"message_delta","delta":"end_turn"}',
        b"event: message_delta\ndata: [1]",
        b'event: error\ndata: {"type":"error"}',
        b'event: content_block_stop\ndata: {"type":"content_block_stop"}',
    ],
)
def test_known_events_of_the_wrong_shape_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        EventDecoder().feed(raw + b"\n\n")


def test_unknown_event_names_become_unknown_events() -> None:
    raw = b'event: future_thing\ndata: {"type":"future_thing","n":[1]}\n\n'
    assert EventDecoder().feed(raw) == [
        UnknownEvent(type="future_thing", data={"type": "future_thing", "n": [1]})
    ]


def test_unknown_delta_types_become_unknown_deltas() -> None:
    raw = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":3,'
    raw += b'"delta":{"type":"laser_delta","beam":true}}\n\n'
    [event] = EventDecoder().feed(raw)
    assert isinstance(event, ContentBlockDeltaEvent)
    assert event.index == 3
    assert isinstance(event.delta, UnknownDelta)
    assert event.delta == {"type": "laser_delta", "beam": True}


def test_unknown_block_in_message_start_is_kept() -> None:
    raw = b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"x",'
    raw += b'"content":[{"type":"text","text":"a"},{"type":"orb","r":1}]}}\n\n'
    [event] = EventDecoder().feed(raw)
    assert isinstance(event, MessageStartEvent)
    assert event.message.content == [TextBlock(text="a"), UnknownBlock(type="orb", r=1)]


# --------------------------------------------------------------------------- properties


def _chunks(raw: bytes, picks: list[int]) -> list[bytes]:
    """Cut ``raw`` at the places ``picks`` choose (repeats give empty chunks).

    An even pick cuts anywhere; an odd one right after a CR or a LF, the awkward
    places (between CR and LF, or just before a blank line).
    """
    after_breaks = [i + 1 for i, byte in enumerate(raw) if byte in b"\r\n"]
    cuts = sorted(
        pick // 2 % (len(raw) + 1) if pick % 2 == 0 else after_breaks[pick // 2 % len(after_breaks)]
        for pick in picks
    )
    edges = [0, *cuts, len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(edges)]


PICKS = st.lists(st.integers(0, 1 << 16), max_size=60)


def _outcome(events: list) -> tuple:
    message, acc, error = fold(events)
    failure = None if error is None else (error.type, error.message)
    return message, acc.incomplete, acc.done, failure


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=200, deadline=None)
@given(picks=PICKS)
def test_any_chunking_gives_the_same_events_and_message(name: str, picks: list[int]) -> None:
    raw = read(name)
    whole = events_of([raw])
    chunks = _chunks(raw, picks)
    assert b"".join(chunks) == raw
    chunked = events_of(chunks)
    assert chunked == whole
    assert frames_of(chunks) == frames_of([raw])
    assert _outcome(chunked) == _outcome(whole)


@pytest.mark.parametrize("name", NAMES)
def test_one_byte_chunks_give_the_same_events_and_message(name: str) -> None:
    raw = read(name)
    whole = events_of([raw])
    single = events_of(raw[i : i + 1] for i in range(len(raw)))
    assert single == whole
    assert _outcome(single) == _outcome(whole)


@pytest.mark.parametrize("name", NAMES)
def test_every_two_chunk_split_gives_the_same_events(name: str) -> None:
    raw = read(name)
    whole = events_of([raw])
    for i in range(len(raw) + 1):
        assert events_of([raw[:i], raw[i:]]) == whole, i


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(NAMES), ending=st.sampled_from([b"\n", b"\r\n", b"\r"]), picks=PICKS)
def test_line_endings_do_not_matter(name: str, ending: bytes, picks: list[int]) -> None:
    lf = read(name).replace(b"\r\n", b"\n")
    expected = events_of([lf])
    converted = lf.replace(b"\n", ending)
    assert events_of([converted]) == expected
    assert events_of(_chunks(converted, picks)) == expected
