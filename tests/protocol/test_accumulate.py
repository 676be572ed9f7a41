"""The stream fold: order rules, partial tool input, usage from message_delta."""

from __future__ import annotations

import pytest

from chorus.errors import ProtocolError
from chorus.protocol import Accumulator, EventDecoder
from chorus.protocol.types import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    InputJSONDelta,
    Message,
    MessageDelta,
    MessageDeltaEvent,
    MessageDeltaUsage,
    MessageStartEvent,
    MessageStopEvent,
    TextBlock,
    TextDelta,
    ToolUseBlock,
    Usage,
)


def start() -> MessageStartEvent:
    return MessageStartEvent(
        message=Message(id="msg_1", model="m", usage=Usage(input_tokens=10, output_tokens=1))
    )


def tool_events(parts: list[str], *, stop: bool = True) -> list[object]:
    events: list[object] = [
        start(),
        ContentBlockStartEvent(index=0, content_block=ToolUseBlock(id="t1", name="f")),
    ]
    events += [ContentBlockDeltaEvent(index=0, delta=InputJSONDelta(partial_json=p)) for p in parts]
    if stop:
        events.append(ContentBlockStopEvent(index=0))
    return events


def fold(events: list[object]) -> Accumulator:
    acc = Accumulator()
    for e in events:
        acc.add(e)  # type: ignore[arg-type]
    return acc


def test_tool_input_assembled_once_at_stop() -> None:
    acc = fold(tool_events(["", '{"city":', ' "Paris"', "}"]))
    assert acc.message.content[0].input == {"city": "Paris"}
    assert acc.incomplete == []


def test_cut_inside_tool_input_is_incomplete_with_partial_snapshot() -> None:
    acc = fold(tool_events(['{"city": "Pa'], stop=False))
    assert acc.incomplete == [0]
    assert acc.message.content[0].input == {}


def test_unparseable_tool_json_is_incomplete() -> None:
    acc = fold(tool_events(['{"city": }']))
    assert acc.incomplete == [0]


def test_usage_from_message_delta() -> None:
    acc = fold(
        [
            start(),
            MessageDeltaEvent(
                delta=MessageDelta(stop_reason="end_turn"),
                usage=MessageDeltaUsage(
                    output_tokens=42, input_tokens=11, cache_read_input_tokens=5
                ),
            ),
            MessageStopEvent(),
        ]
    )
    usage = acc.message.usage
    assert (usage.output_tokens, usage.input_tokens, usage.cache_read_input_tokens) == (42, 11, 5)
    assert usage.cache_creation_input_tokens == 0  # absent fields keep their value
    assert acc.done


def test_text_while_streaming() -> None:
    acc = fold([start(), ContentBlockStartEvent(index=0, content_block=TextBlock(text=""))])
    acc.add(ContentBlockDeltaEvent(index=0, delta=TextDelta(text="Hel")))
    assert acc.text == "Hel"
    acc.add(ContentBlockDeltaEvent(index=0, delta=TextDelta(text="lo")))
    assert acc.text == "Hello"
    assert acc.message.text == "Hello"


@pytest.mark.parametrize(
    ("events", "error"),
    [
        (
            [ContentBlockStartEvent(index=0, content_block=TextBlock(text=""))],
            "before message_start",
        ),
        (
            [start(), ContentBlockStartEvent(index=1, content_block=TextBlock(text=""))],
            "index 1, expected 0",
        ),
        ([start(), ContentBlockDeltaEvent(index=0, delta=TextDelta(text="x"))], "has not started"),
        ([start(), start()], "second message_start"),
    ],
)
def test_order_violations_are_protocol_errors(events: list[object], error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        fold(events)


def test_snapshot_does_not_share_state() -> None:
    acc = fold([start(), ContentBlockStartEvent(index=0, content_block=TextBlock(text=""))])
    acc.add(ContentBlockDeltaEvent(index=0, delta=TextDelta(text="a")))
    first = acc.message
    acc.add(ContentBlockDeltaEvent(index=0, delta=TextDelta(text="b")))
    assert first.text == "a" and acc.message.text == "ab"


def test_decoder_and_fold_agree_on_a_simulated_stream() -> None:
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message",'
        b'"role":"assistant","content":[],"model":"x","usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    acc = fold(EventDecoder().feed(body))
    assert acc.done and acc.message.content == []
