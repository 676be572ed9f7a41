"""Folding stream events into the final Message: recorded streams, usage, errors, cut streams."""

from __future__ import annotations

import copy

import pytest

from chorus.errors import ProtocolError, StreamError
from chorus.protocol import (
    Accumulator,
    CitationsDelta,
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    ErrorEvent,
    ErrorInfo,
    InputJSONDelta,
    Message,
    MessageDelta,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    PingEvent,
    ServerToolUseBlock,
    SignatureDelta,
    StreamEvent,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ToolUseBlock,
    UnknownBlock,
    UnknownDelta,
    UnknownEvent,
    Usage,
    accumulate,
    to_dict,
)

from .streams import NAMES, events_of, fold, read

GCD_THINKING = (
    "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n"
    "1071 = 2 \u00d7 462 + 147\n462 = 3 \u00d7 147 + 21\n147 = 7 \u00d7 21 + 0\n"
    "The remainder is 0, so GCD(1071, 462) = 21."
)

FINAL: dict[str, Message] = {
    "text_spaced": Message(
        id="msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
        model="claude-opus-4-6",
        content=[TextBlock(text="Hello!")],
        usage=Usage(input_tokens=25, output_tokens=15),
        stop_reason="end_turn",
    ),
    "text_compact": Message(
        id="msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK",
        model="claude-3-opus-latest",
        content=[TextBlock(text="Hello there!")],
        usage=Usage(input_tokens=11, output_tokens=6),
        stop_reason="end_turn",
    ),
    "tool_use": Message(
        id="msg_014p7gG3wDgGV9EUtLvnow3U",
        model="claude-3-haiku-20240307",
        content=[
            TextBlock(text="Okay, let's check the weather for San Francisco, CA:"),
            ToolUseBlock(
                id="toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                name="get_weather",
                input={"location": "San Francisco, CA", "unit": "fahrenheit"},
            ),
        ],
        usage=Usage(input_tokens=472, output_tokens=89),
        stop_reason="tool_use",
    ),
    "thinking": Message(
        id="msg_01...",
        model="claude-opus-5-5",
        content=[
            ThinkingBlock(
                thinking=GCD_THINKING,
                signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...",
            ),
            TextBlock(text="The greatest common divisor of 1071 and 462 is **21**."),
        ],
        usage=Usage(input_tokens=58, output_tokens=187),
        stop_reason="end_turn",
    ),
    "unknown_types": Message(
        id="msg_01Unk",
        model="claude-sonnet-4-5",
        content=[
            TextBlock(text="Known text"),
            UnknownBlock(type="hologram", frames=[1, 2], caption="hi"),
        ],
        usage=Usage(input_tokens=9, output_tokens=4),
        stop_reason="end_turn",
    ),
    "crlf": Message(
        id="msg_01UodR8c3ezAK8rAfi8HAs8g",
        model="claude-haiku-4-5-20251001",
        content=[TextBlock(text="Hi there.")],
        usage=Usage(
            input_tokens=17,
            output_tokens=6,
            cache_creation={"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            service_tier="standard",
        ),
        stop_reason="end_turn",
    ),
}


@pytest.mark.parametrize("name", sorted(FINAL))
def test_final_message_of_each_recorded_stream(name: str) -> None:
    message, acc, error = fold(events_of([read(name)]))
    assert error is None
    assert message == FINAL[name]
    assert acc.done
    assert acc.incomplete == []
    assert accumulate(events_of([read(name)])) == FINAL[name]


@pytest.mark.parametrize("batch", [1, 3, 1000])
@pytest.mark.parametrize("name", NAMES)
def test_extend_folds_like_add_one_event_at_a_time(name: str, batch: int) -> None:
    events = events_of([read(name)])
    expected, by_one, error = fold(events)
    acc = Accumulator()
    raised: StreamError | None = None
    try:
        for i in range(0, len(events), batch):
            acc.extend(events[i : i + batch])
    except StreamError as exc:
        raised = exc
    assert (raised is None) == (error is None)
    assert acc.message == expected
    assert (acc.done, acc.incomplete) == (by_one.done, by_one.incomplete)


def test_extend_applies_what_precedes_an_error_event_and_nothing_after() -> None:
    events = events_of([read("error_midstream")])
    acc = Accumulator()
    with pytest.raises(StreamError, match="overloaded_error"):
        acc.extend([*events, *end("end_turn")])
    assert acc.message.content == [TextBlock(text="Partial answer")]
    assert acc.message.stop_reason is None
    assert not acc.done


def test_tool_input_is_the_exact_dict_and_tool_uses_lists_it() -> None:
    message = accumulate(events_of([read("tool_use")]))
    [tool] = message.tool_uses
    assert tool.input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert list(tool.input) == ["location", "unit"]
    assert message.text == "Okay, let's check the weather for San Francisco, CA:"


def test_thinking_text_and_signature() -> None:
    message = accumulate(events_of([read("thinking")]))
    thinking = message.content[0]
    assert isinstance(thinking, ThinkingBlock)
    assert thinking.thinking == GCD_THINKING
    assert thinking.signature.startswith("EqQBCgIYAhIM")
    assert message.text == "The greatest common divisor of 1071 and 462 is **21**."


def test_final_message_round_trips_as_wire_dict() -> None:
    wire = to_dict(accumulate(events_of([read("tool_use")])))
    assert wire["content"][1] == {
        "type": "tool_use",
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "name": "get_weather",
        "input": {"location": "San Francisco, CA", "unit": "fahrenheit"},
    }
    assert wire["stop_reason"] == "tool_use"


# --------------------------------------------------------------------------- hand-built streams


def start(**usage: int) -> MessageStartEvent:
    return MessageStartEvent(message=Message(id="msg_1", model="claude-test", usage=Usage(**usage)))


def text_block(index: int, *texts: str) -> list[StreamEvent]:
    return [
        ContentBlockStartEvent(index=index, content_block=TextBlock(text="")),
        *(ContentBlockDeltaEvent(index=index, delta=TextDelta(text=t)) for t in texts),
        ContentBlockStopEvent(index=index),
    ]


def tool_block(index: int, *fragments: str, stop: bool = True) -> list[StreamEvent]:
    events: list[StreamEvent] = [
        ContentBlockStartEvent(
            index=index, content_block=ToolUseBlock(id=f"toolu_{index}", name="get_weather")
        ),
        *(
            ContentBlockDeltaEvent(index=index, delta=InputJSONDelta(partial_json=f))
            for f in fragments
        ),
    ]
    if stop:
        events.append(ContentBlockStopEvent(index=index))
    return events


def end(stop_reason: str = "end_turn", **usage: int) -> list[StreamEvent]:
    return [
        MessageDeltaEvent(
            delta=MessageDelta(stop_reason=stop_reason), usage=MessageDeltaUsage(**usage)
        ),
        MessageStopEvent(),
    ]


@pytest.mark.parametrize(
    ("start_usage", "delta_usage", "expected"),
    [
        pytest.param(
            {"input_tokens": 10, "output_tokens": 1},
            {"output_tokens": 42},
            Usage(input_tokens=10, output_tokens=42),
            id="output-only",
        ),
        pytest.param(
            {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1},
            {"output_tokens": 42, "input_tokens": 11},
            Usage(input_tokens=11, output_tokens=42, cache_read_input_tokens=5),
            id="input-repeated",
        ),
        pytest.param(
            {"input_tokens": 10, "output_tokens": 3},
            {
                "output_tokens": 7,
                "input_tokens": 12,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 2000,
            },
            Usage(
                input_tokens=12,
                output_tokens=7,
                cache_creation_input_tokens=300,
                cache_read_input_tokens=2000,
            ),
            id="all-fields",
        ),
        pytest.param(
            {"input_tokens": 10, "cache_creation_input_tokens": 4, "output_tokens": 1},
            {"output_tokens": 2, "cache_creation_input_tokens": 0},
            Usage(input_tokens=10, output_tokens=2, cache_creation_input_tokens=0),
            id="explicit-zero-overrides",
        ),
    ],
)
def test_message_delta_usage_overrides(
    start_usage: dict[str, int], delta_usage: dict[str, int], expected: Usage
) -> None:
    message = accumulate([start(**start_usage), *text_block(0, "hi"), *end(**delta_usage)])
    assert message.usage == expected


def test_usage_in_message_delta_is_cumulative_so_the_last_one_wins() -> None:
    events = [
        start(input_tokens=5, output_tokens=1),
        *text_block(0, "a"),
        MessageDeltaEvent(delta=MessageDelta(), usage=MessageDeltaUsage(output_tokens=10)),
        MessageDeltaEvent(
            delta=MessageDelta(stop_reason="stop_sequence", stop_sequence="###"),
            usage=MessageDeltaUsage(output_tokens=12),
        ),
        MessageStopEvent(),
    ]
    message = accumulate(events)
    assert message.usage.output_tokens == 12
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "###")


@pytest.mark.parametrize(
    "stop_reason", ["end_turn", "max_tokens", "tool_use", "pause_turn", "refusal"]
)
def test_stop_reason_comes_from_message_delta(stop_reason: str) -> None:
    acc = Accumulator()
    acc.add(start())
    assert acc.message.stop_reason is None
    for event in [*text_block(0, "x"), *end(stop_reason)]:
        acc.add(event)
    assert acc.message.stop_reason == stop_reason


def test_error_event_raises_stream_error_and_keeps_what_came_before() -> None:
    events = events_of([read("error_midstream")])
    acc = Accumulator()
    acc.request_id = "req_01ABC"
    for event in events[:-1]:
        acc.add(event)
    with pytest.raises(StreamError) as info:
        acc.add(events[-1])
    error = info.value
    assert error.type == "overloaded_error"
    assert error.message == "Overloaded"
    assert error.request_id == "req_01ABC"
    assert str(error) == "stream error overloaded_error: Overloaded"
    assert not acc.done
    assert acc.incomplete == [0]
    assert acc.message.content == [TextBlock(text="Partial answer")]
    assert acc.message.stop_reason is None


def test_accumulate_raises_on_an_error_event() -> None:
    events = [start(), ErrorEvent(error=ErrorInfo(type="api_error", message="Internal"))]
    with pytest.raises(StreamError, match="api_error"):
        accumulate(events)


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (ContentBlockStartEvent(index=0, content_block=TextBlock(text="")), "before message_start"),
        (ContentBlockDeltaEvent(index=0, delta=TextDelta(text="x")), "block 0"),
        (ContentBlockDeltaEvent(index=0, delta=InputJSONDelta(partial_json="{")), "block 0"),
        (ContentBlockStopEvent(index=0), "block 0"),
        (MessageDeltaEvent(delta=MessageDelta(stop_reason="end_turn")), "before message_start"),
        (MessageStopEvent(), "before message_start"),
    ],
)
def test_events_before_message_start_are_protocol_errors(event: StreamEvent, match: str) -> None:
    acc = Accumulator()
    with pytest.raises(ProtocolError, match=match):
        acc.add(event)
    assert not acc.started


def test_snapshot_before_message_start_is_a_protocol_error() -> None:
    acc = Accumulator()
    acc.add(PingEvent())
    acc.add(UnknownEvent(type="future_thing"))
    assert not acc.started
    with pytest.raises(ProtocolError, match="before message_start"):
        _ = acc.message


def test_a_second_message_start_is_a_protocol_error() -> None:
    acc = Accumulator()
    acc.add(start())
    with pytest.raises(ProtocolError, match="second message_start"):
        acc.add(start())


@pytest.mark.parametrize(
    ("events", "match"),
    [
        pytest.param(
            [ContentBlockStartEvent(index=1, content_block=TextBlock(text=""))],
            "index 1, expected 0",
            id="start-skips-an-index",
        ),
        pytest.param(
            [
                *text_block(0, "a"),
                ContentBlockStartEvent(index=0, content_block=TextBlock(text="")),
            ],
            "index 0, expected 1",
            id="start-repeats-an-index",
        ),
        pytest.param(
            [*text_block(0, "a"), ContentBlockDeltaEvent(index=1, delta=TextDelta(text="b"))],
            "block 1",
            id="text-delta-to-unstarted-block",
        ),
        pytest.param(
            [*text_block(0, "a"), ContentBlockDeltaEvent(index=-1, delta=TextDelta(text="b"))],
            "block -1",
            id="negative-index",
        ),
        pytest.param(
            [ContentBlockDeltaEvent(index=2, delta=SignatureDelta(signature="s"))],
            "block 2",
            id="signature-to-unstarted-block",
        ),
        pytest.param([ContentBlockStopEvent(index=0)], "block 0", id="stop-before-start"),
    ],
)
def test_wrong_block_index_is_a_protocol_error(events: list[StreamEvent], match: str) -> None:
    acc = Accumulator()
    acc.add(start())
    with pytest.raises(ProtocolError, match=match):
        for event in events:
            acc.add(event)


@pytest.mark.parametrize("cut", range(18, 28))
def test_stream_cut_inside_a_tool_use_lists_it_as_incomplete(cut: int) -> None:
    # Events 17..26 are the tool_use block's start and its nine input_json_delta events.
    events = events_of([read("tool_use")])
    assert isinstance(events[17], ContentBlockStartEvent)
    assert isinstance(events[27], ContentBlockStopEvent)
    message, acc, error = fold(events[:cut])
    assert error is None
    assert acc.incomplete == [1]
    assert not acc.done
    assert message.stop_reason is None
    text, tool = message.content
    assert text == TextBlock(text="Okay, let's check the weather for San Francisco, CA:")
    assert isinstance(tool, ToolUseBlock)
    assert (tool.id, tool.name) == ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    if cut == 27:
        # Every fragment arrived, only the stop is missing: the input is all there.
        assert tool.input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    else:
        # The fragments so far are not a JSON object yet.
        assert tool.input == {}


def test_cut_tool_use_snapshot_shows_input_received_so_far() -> None:
    acc = Accumulator()
    for event in [start(), *tool_block(0, '{"city": ', '"Paris"}', stop=False)]:
        acc.add(event)
    assert acc.incomplete == [0]
    assert acc.message.tool_uses[0].input == {"city": "Paris"}
    acc.add(ContentBlockStopEvent(index=0))
    assert acc.incomplete == []


@pytest.mark.parametrize(
    "fragments",
    [
        pytest.param(('{"location": "San', " Fran"), id="cut-json"),
        pytest.param(("[1, 2]",), id="not-an-object"),
        pytest.param(('{"a": 1}', "}"), id="trailing-garbage"),
        pytest.param(("nope",), id="not-json"),
    ],
)
def test_invalid_tool_json_with_a_stop_is_incomplete(fragments: tuple[str, ...]) -> None:
    events = [start(), *text_block(0, "Let me look."), *tool_block(1, *fragments)]
    message, acc, _ = fold([*events, *end("max_tokens", output_tokens=20)])
    assert acc.done
    assert acc.incomplete == [1]
    assert message.tool_uses[0].input == {}
    assert message.stop_reason == "max_tokens"


@pytest.mark.parametrize("fragments", [(), ("",), ("", "  ")])
def test_tool_without_input_fragments_gets_an_empty_dict(fragments: tuple[str, ...]) -> None:
    message, acc, _ = fold([start(), *tool_block(0, *fragments), *end("tool_use")])
    assert acc.incomplete == []
    assert message.tool_uses[0].input == {}


def test_server_tool_use_input_is_parsed_too() -> None:
    events = [
        start(),
        ContentBlockStartEvent(
            index=0, content_block=ServerToolUseBlock(id="srvtoolu_1", name="web_search")
        ),
        ContentBlockDeltaEvent(index=0, delta=InputJSONDelta(partial_json='{"query": ')),
        ContentBlockDeltaEvent(index=0, delta=InputJSONDelta(partial_json='"weather"}')),
        ContentBlockStopEvent(index=0),
        *end(),
    ]
    message = accumulate(events)
    assert message.content == [
        ServerToolUseBlock(id="srvtoolu_1", name="web_search", input={"query": "weather"})
    ]


def test_text_while_streaming() -> None:
    acc = Accumulator()
    seen = []
    for event in events_of([read("tool_use")]):
        acc.add(event)
        seen.append(acc.text)
    assert seen[:3] == ["", "", ""]
    assert seen[3:6] == ["Okay", "Okay,", "Okay, let"]
    # The tool call's JSON is not text.
    final = "Okay, let's check the weather for San Francisco, CA:"
    assert seen[16:] == [final] * len(seen[16:])
    assert acc.message.text == final


def test_text_joins_text_blocks_and_skips_thinking() -> None:
    acc = Accumulator()
    for event in events_of([read("thinking")])[:9]:
        acc.add(event)
    assert acc.text == ""  # thinking done, the text block started but empty
    acc.add(ContentBlockDeltaEvent(index=1, delta=TextDelta(text="The answer")))
    assert acc.text == "The answer"
    events = [start(), *text_block(0, "one "), *text_block(1, "two")]
    assert accumulate(events).text == "one two"


def test_snapshots_do_not_disturb_the_fold() -> None:
    events = events_of([read("tool_use")])
    acc = Accumulator()
    snapshots = []
    for event in events:
        acc.add(event)
        snapshots.append(acc.message)
    assert acc.message == FINAL["tool_use"]
    assert snapshots[-1] == FINAL["tool_use"]
    assert snapshots[5].content == [TextBlock(text="Okay, let")]
    assert snapshots[5].stop_reason is None
    assert snapshots[5].usage.output_tokens == 2


def test_folding_does_not_change_the_events() -> None:
    # Drivers hand the same events to the caller; the fold must not write into them.
    for name in ("tool_use", "thinking", "crlf"):
        events = events_of([read(name)])
        before = copy.deepcopy([to_dict(e) for e in events])
        first = accumulate(events)
        assert [to_dict(e) for e in events] == before
        assert accumulate(events) == first
        message_start = events[0]
        assert isinstance(message_start, MessageStartEvent)
        assert message_start.message.stop_reason is None


def test_text_in_content_block_start_is_kept() -> None:
    events = [
        start(),
        ContentBlockStartEvent(index=0, content_block=TextBlock(text="Hel")),
        ContentBlockDeltaEvent(index=0, delta=TextDelta(text="lo")),
        ContentBlockStopEvent(index=0),
        ContentBlockStartEvent(index=1, content_block=ThinkingBlock(thinking="Hmm")),
        ContentBlockStopEvent(index=1),
        *end(),
    ]
    assert accumulate(events).content == [
        TextBlock(text="Hello"),
        ThinkingBlock(thinking="Hmm"),
    ]


def test_citations_delta_appends_to_the_text_block() -> None:
    first = {"type": "char_location", "cited_text": "a", "document_index": 0}
    second = {"type": "char_location", "cited_text": "b", "document_index": 1}
    events = [
        start(),
        ContentBlockStartEvent(index=0, content_block=TextBlock(text="")),
        ContentBlockDeltaEvent(index=0, delta=CitationsDelta(citation=first)),
        ContentBlockDeltaEvent(index=0, delta=TextDelta(text="cited")),
        ContentBlockDeltaEvent(index=0, delta=CitationsDelta(citation=second)),
        ContentBlockStopEvent(index=0),
        *end(),
    ]
    assert accumulate(events).content == [TextBlock(text="cited", citations=[first, second])]


def test_unknown_events_and_deltas_are_ignored() -> None:
    plain = [start(), *text_block(0, "a", "b"), *end()]
    noisy = [
        start(),
        UnknownEvent(type="future_thing", data={"x": 1}),
        ContentBlockStartEvent(index=0, content_block=TextBlock(text="")),
        PingEvent(),
        ContentBlockDeltaEvent(index=0, delta=TextDelta(text="a")),
        ContentBlockDeltaEvent(index=0, delta=UnknownDelta(type="laser_delta")),
        ContentBlockDeltaEvent(index=0, delta=TextDelta(text="b")),
        ContentBlockStopEvent(index=0),
        *end(),
    ]
    assert accumulate(noisy) == accumulate(plain)


def test_signature_delta_only_signs_thinking_blocks() -> None:
    events = [
        start(),
        ContentBlockStartEvent(index=0, content_block=TextBlock(text="")),
        ContentBlockDeltaEvent(index=0, delta=SignatureDelta(signature="sig")),
        ContentBlockDeltaEvent(index=0, delta=TextDelta(text="plain")),
        ContentBlockStopEvent(index=0),
        *end(),
    ]
    assert accumulate(events).content == [TextBlock(text="plain")]


def test_done_only_after_message_stop() -> None:
    acc = Accumulator()
    events = [start(), *text_block(0, "x"), *end()]
    for event in events[:-1]:
        acc.add(event)
        assert not acc.done
    acc.add(events[-1])
    assert acc.done
    assert acc.message.text == "x"


def test_a_reply_is_whole_once_message_delta_closed_it_and_every_block_stopped() -> None:
    """What a stream cut before message_stop may still count as a whole reply: the stop
    reason and final usage came (message_delta) and every block closed soundly."""
    acc = Accumulator()
    acc.add(start())
    blocks = text_block(0, "one ", "two")
    for event in blocks[:-1]:  # the block's stop not yet come
        acc.add(event)
    assert not acc.whole
    acc.add(blocks[-1])
    assert not acc.whole  # blocks closed, but no stop reason yet
    message_delta, message_stop = end("end_turn")
    acc.add(message_delta)
    assert acc.whole and not acc.done
    acc.add(message_stop)
    assert acc.whole and acc.done


def test_a_message_delta_over_a_block_left_open_is_not_whole() -> None:
    acc = Accumulator()
    acc.add(start())
    acc.add(text_block(0, "one")[0])  # started, never stopped
    acc.add(end("end_turn")[0])
    assert acc.ended and acc.incomplete == [0] and not acc.whole
