"""Messages the simulator has seen before are not checked and counted afresh, and that
changes nothing: the same refusals in the same words, the same token counts, the same
cache reads. Every transcript is parsed by a simulator that remembers and by one that
does not, and both must agree."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.sim.config import SimConfig
from chorus.sim.request import NEW_VERSION, SimError, known_messages, parse_messages
from chorus.sim.tokens import segments

LOOKUP = SimConfig().model
TOOL = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CC = {"type": "ephemeral"}


def use(tid: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": "get_weather", "input": {"city": "Lyon"}}


def result(tid: str, **more: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tid, "content": "21 C", **more}


PIECES = [
    {"role": "user", "content": "weather in Lyon?"},
    {"role": "user", "content": ""},
    {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": CC}]},
    {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "x"}}]},
    {"role": "user", "content": [{"type": "text", "text": "see", "citations": [{"x": 1}]}]},
    {"role": "user", "content": [result("a")]},
    {"role": "user", "content": [result("b", cache_control=CC), {"type": "text", "text": "?"}]},
    {"role": "assistant", "content": "It is 21 C."},
    {"role": "assistant", "content": []},
    {"role": "assistant", "content": [use("a")]},
    {"role": "assistant", "content": [{"type": "text", "text": "Let me see."}, use("b")]},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"}]},
    {
        "role": "assistant",
        "content": [{"type": "document", "source": {"type": "text", "data": "d"}}],
    },
    {"role": "assistant", "content": [result("a")]},
    {"role": "system", "content": "x"},
]


def outcome(body: dict[str, Any], version: str, known: Any) -> Any:
    raw = json.dumps(body).encode()
    read, earlier = known.read(raw) if known is not None else (json.loads(raw), None)
    assert read == body
    try:
        req = parse_messages(read, version=version, lookup=LOOKUP, earlier=earlier)
    except SimError as exc:
        return ("refused", exc.status, exc.message)
    segs = segments(tools=req.tools, system=req.system, messages=req.messages, earlier=req.earlier)
    return ("accepted", [(s.tokens, s.canonical, s.cache_control) for s in segs])


def body(messages: list[Any]) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 16, "tools": [TOOL], "messages": messages}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(range(len(PIECES))), min_size=1, max_size=8),
    st.sampled_from(["2023-06-01", NEW_VERSION]),
)
def test_a_simulator_that_remembers_answers_as_one_that_does_not(
    picks: list[int], version: str
) -> None:
    messages = [PIECES[i] for i in picks]
    known = known_messages()
    # Every prefix first, as a conversation would send them, so the memory holds them.
    for end in range(1, len(messages) + 1):
        sent = body(messages[:end])
        assert outcome(sent, version, known) == outcome(sent, version, None)
    sent = body(messages)
    assert outcome(sent, version, known) == outcome(sent, version, None)


def test_each_message_is_learned_once_however_long_the_conversation() -> None:
    learned = 0
    known = known_messages()
    inner = known._learn

    def counting(message: dict[str, Any]) -> Any:
        nonlocal learned
        learned += 1
        return inner(message)

    known._learn = counting
    messages: list[dict[str, Any]] = []
    for n in range(60):
        messages += [{"role": "user", "content": f"question {n}"}]
        outcome(body(messages), "2023-06-01", known)
        messages += [{"role": "assistant", "content": f"answer {n}"}]
    assert learned == 2 * 59  # each once, when first sent as an earlier message (the last never)


def test_a_repeated_tool_id_from_long_ago_is_still_refused() -> None:
    known = known_messages()
    history = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [use("a")]},
        {"role": "user", "content": [result("a")]},
        {"role": "assistant", "content": "21 C."},
        {"role": "user", "content": "again?"},
    ]
    assert outcome(body(history), "2023-06-01", known)[0] == "accepted"
    again = [
        *history,
        {"role": "assistant", "content": [use("a")]},
        {"role": "user", "content": [result("a")]},
    ]
    refused = outcome(body(again), "2023-06-01", known)
    assert refused[0] == "refused" and "`tool_use` ids must be unique" in refused[2]


@pytest.mark.parametrize(
    "raw",
    [b"", b"[1, 2]", b'{"messages": "hi"}', b'{"messages": [1, {"role": tru}]}', b'{"a": }', b"{"],
)
def test_a_body_it_cannot_read_as_messages_reads_as_decoding_it_whole_does(raw: bytes) -> None:
    try:
        expected: Any = ("ok", msgspec.json.decode(raw))
    except msgspec.DecodeError as exc:
        expected = ("error", str(exc))
    try:
        got: Any = ("ok", known_messages().read(raw)[0])
    except msgspec.DecodeError as exc:
        got = ("error", str(exc))
    assert got == expected


def test_memory_is_bounded() -> None:
    known = known_messages(most=10)
    messages: list[dict[str, Any]] = []
    for n in range(40):
        messages += [
            {"role": "user", "content": f"q{n}"},
            {"role": "assistant", "content": f"a{n}"},
        ]
        outcome(body([*messages, {"role": "user", "content": "?"}]), "2023-06-01", known)
        assert len(known) <= 10
