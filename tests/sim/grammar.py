"""The SSE event grammar of reference §4.2, checked over a raw stream body."""

from __future__ import annotations

import msgspec

from chorus.protocol import SSEDecoder


def check_grammar(body: bytes) -> list[tuple[str, dict]]:
    """Assert the stream obeys the grammar; returns (event name, data) pairs."""
    assert body.endswith(b"\n\n"), "every event ends with a blank line"
    decoder = SSEDecoder()
    frames = decoder.feed(body)
    assert decoder.buffered == 0
    events = []
    for frame in frames:
        assert frame.event is not None, "always emit event: lines"
        data = msgspec.json.decode(frame.data)
        assert data["type"] == frame.event, "data.type equals the event name"
        events.append((frame.event, data))
    names = [name for name, _ in events]
    assert names[0] == "message_start"
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert {"input_tokens", "output_tokens"} <= set(start["usage"])
    if "error" in names:
        assert names[-1] == "error", "nothing follows an error event"
        return events
    assert names[-1] == "message_stop"
    assert names[-2] == "message_delta"
    delta = events[-2][1]
    assert "output_tokens" in delta["usage"]
    assert delta["delta"]["stop_reason"] is not None
    open_index = None
    expected = 0
    seen_ping = False
    for name, data in events[1:-2]:
        if name == "ping":
            seen_ping = True
            continue
        if name == "content_block_start":
            assert open_index is None, "blocks never interleave"
            assert data["index"] == expected, "indices are contiguous from 0"
            open_index = expected
            block = data["content_block"]
            if block["type"] == "text":
                assert block["text"] == ""
            if block["type"] == "tool_use":
                assert block["input"] == {}
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
            expected += 1
        else:
            raise AssertionError(f"unexpected event {name} inside the message")
    assert open_index is None
    if expected:
        assert seen_ping, "a ping follows the first block start"
    return events
