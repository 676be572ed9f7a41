"""Transcript rules: which message lists the API accepts, and its wording when it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.errors import ChorusError
from chorus.protocol import TranscriptError, problems, validate
from chorus.protocol.transcript import outline, sendable


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(tid: str, name: str = "get_weather") -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": name, "input": {"location": "Paris"}}


def tool_result(tid: str, content: Any = "18 C") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tid, "content": content}


VALID = {
    "one-user-string": [user("Hello")],
    "one-user-block": [user([text("Hello")])],
    "turns": [user("Hi"), assistant("Hello!"), user("Weather?")],
    "prefill": [user("Hi"), assistant("The answer is")],
    "final-assistant-empty-string": [user("Hi"), assistant("")],
    "final-assistant-empty-list": [user("Hi"), assistant([])],
    "tool-round-trip": [
        user("Weather in Paris?"),
        assistant([text("Checking."), tool_use("toolu_1")]),
        user([tool_result("toolu_1")]),
        assistant("18 C and sunny."),
    ],
    "two-parallel-tools": [
        user("Weather in Paris and Rome?"),
        assistant([tool_use("toolu_1"), tool_use("toolu_2")]),
        user([tool_result("toolu_2"), tool_result("toolu_1"), text("Thanks")]),
    ],
    "tool-result-error-with-blocks": [
        user("Go"),
        assistant([tool_use("toolu_1")]),
        user([{**tool_result("toolu_1", [text("boom")]), "is_error": True}]),
    ],
    "consecutive-users-merged": [user("Hi"), user([text("again")]), assistant("Yes?")],
    "tool-use-and-result-across-merged-messages": [
        user("Go"),
        assistant([text("Sure.")]),
        assistant([tool_use("toolu_1")]),
        user([text("Here you go:")]),
        user([tool_result("toolu_1")]),
    ],
    "results-split-over-merged-user-messages": [
        user("Go"),
        assistant([tool_use("toolu_1"), tool_use("toolu_2")]),
        user([tool_result("toolu_1")]),
        user([tool_result("toolu_2")]),
    ],
    "thinking-and-server-tools": [
        user("Search"),
        assistant(
            [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                text("Found it."),
            ]
        ),
    ],
    "user-media": [
        user(
            [
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "document", "source": {"type": "text", "data": "doc"}},
                text("What is this?"),
            ]
        )
    ],
}


@pytest.mark.parametrize("messages", VALID.values(), ids=VALID.keys())
def test_valid_transcripts(messages: list[dict[str, Any]]) -> None:
    assert problems(messages) == []
    validate(messages)  # does not raise


NON_EMPTY = (
    "all messages must have non-empty content except for the optional final assistant message"
)
MISSING_RESULT = "`tool_use` ids were found without `tool_result` blocks immediately after"
UNEXPECTED_RESULT = "unexpected `tool_use_id` found in `tool_result` blocks"

# (transcript, the first problem's expected prefix)
INVALID = {
    "not-a-list": ({"role": "user", "content": "Hi"}, "messages: Input should be a valid list"),
    "no-messages": ([], "messages: at least one message is required"),
    "message-not-a-dict": (["Hi"], "messages.0: Input should be a valid dictionary"),
    "bad-role": (
        [user("Hi"), {"role": "system", "content": "Be brief"}],
        "messages.1.role: Input should be 'user' or 'assistant'",
    ),
    "missing-role": ([{"content": "Hi"}], "messages.0.role: Input should be 'user' or 'assistant'"),
    "first-message-assistant": (
        [assistant("Hello"), user("Hi")],
        'messages: first message must use the "user" role',
    ),
    "empty-string-content": ([user("")], f"messages.0: {NON_EMPTY}"),
    "empty-list-content": ([user([])], f"messages.0: {NON_EMPTY}"),
    "content-not-string-or-list": (
        [user({"type": "text", "text": "Hi"})],
        "messages.0.content: Input should be a valid string or list",
    ),
    "missing-content": ([{"role": "user"}], "messages.0.content: Input should be a valid string"),
    "empty-assistant-in-the-middle": (
        [user("Hi"), assistant(""), user("Hello?")],
        f"messages.1: {NON_EMPTY}",
    ),
    "empty-assistant-list-in-the-middle": (
        [user("Hi"), assistant([]), user("Hello?")],
        f"messages.1: {NON_EMPTY}",
    ),
    "empty-final-user": ([user("Hi"), assistant("Yes"), user("")], f"messages.2: {NON_EMPTY}"),
    "empty-text-block": (
        [user([text("Hi"), text("")])],
        "messages: text content blocks must be non-empty",
    ),
    "text-block-without-text": (
        [user([{"type": "text"}])],
        "messages.0.content.0.text: Field required",
    ),
    "block-not-a-dict": (
        [user(["Hi"])],
        "messages.0.content.0: Input should be a valid dictionary",
    ),
    "unknown-block-type": (
        [user([text("Hi"), {"type": "hologram", "frames": []}])],
        "messages.0.content.1.type: Input tag 'hologram' found using 'type' does not match any "
        "of the expected tags",
    ),
    "tool-use-in-user-message": (
        [user([tool_use("toolu_1")])],
        "messages.0.content.0: `tool_use` blocks are not allowed in `user` messages",
    ),
    "tool-result-in-assistant-message": (
        [user("Hi"), assistant([tool_result("toolu_1")])],
        "messages.1.content.0: `tool_result` blocks are not allowed in `assistant` messages",
    ),
    "thinking-in-user-message": (
        [user([{"type": "thinking", "thinking": "x", "signature": "s"}])],
        "messages.0.content.0: `thinking` blocks are not allowed in `user` messages",
    ),
    "tool-use-without-id": (
        [user("Go"), assistant([{"type": "tool_use", "name": "f", "input": {}}])],
        "messages.1.content.0: `tool_use` blocks need a string `id` and `name`",
    ),
    "tool-use-input-not-a-dict": (
        [user("Go"), assistant([{"type": "tool_use", "id": "t", "name": "f", "input": "x"}])],
        "messages.1.content.0.input: Input should be a valid dictionary",
    ),
    "tool-result-without-id": (
        [user([{"type": "tool_result", "content": "x"}])],
        "messages.0.content.0.tool_use_id: Field required",
    ),
    "tool-use-without-result": (
        [user("Go"), assistant([text("Checking."), tool_use("toolu_1")]), user("Well?")],
        f"messages.1: {MISSING_RESULT}: toolu_1. Each `tool_use` block must have a "
        "corresponding `tool_result` block in the next message.",
    ),
    "tool-use-as-the-last-message": (
        [user("Go"), assistant([tool_use("toolu_1")])],
        f"messages.1: {MISSING_RESULT}: toolu_1.",
    ),
    "one-of-two-results-missing": (
        [
            user("Go"),
            assistant([tool_use("toolu_1"), tool_use("toolu_2")]),
            user([tool_result("toolu_1")]),
        ],
        f"messages.1: {MISSING_RESULT}: toolu_2.",
    ),
    "tool-result-without-tool-use": (
        [user([tool_result("toolu_9")])],
        f"messages.0.content.0: {UNEXPECTED_RESULT}: toolu_9. Each `tool_result` block must "
        "have a corresponding `tool_use` block in the previous message.",
    ),
    "tool-result-answering-text": (
        [user("Hi"), assistant("Hello"), user([text("ok"), tool_result("toolu_9")])],
        f"messages.2.content.1: {UNEXPECTED_RESULT}: toolu_9.",
    ),
    "result-for-a-tool-use-two-turns-back": (
        [
            user("Go"),
            assistant([tool_use("toolu_1")]),
            user([tool_result("toolu_1")]),
            assistant("Done."),
            user([tool_result("toolu_1")]),
        ],
        f"messages.4.content.0: {UNEXPECTED_RESULT}: toolu_1.",
    ),
    "duplicate-tool-use-ids-in-one-message": (
        [
            user("Go"),
            assistant([tool_use("toolu_1"), tool_use("toolu_1")]),
            user([tool_result("toolu_1")]),
        ],
        "messages.1.content.1: `tool_use` ids must be unique",
    ),
    "duplicate-tool-use-ids-across-turns": (
        [
            user("Go"),
            assistant([tool_use("toolu_1")]),
            user([tool_result("toolu_1")]),
            assistant([tool_use("toolu_1")]),
            user([tool_result("toolu_1")]),
        ],
        "messages.3.content.0: `tool_use` ids must be unique",
    ),
    "merged-assistant-turn-still-needs-its-results": (
        [user("Go"), assistant([tool_use("toolu_1")]), assistant([text("Hm.")]), user("Well?")],
        f"messages.2: {MISSING_RESULT}: toolu_1.",
    ),
}


@pytest.mark.parametrize(("messages", "prefix"), INVALID.values(), ids=INVALID.keys())
def test_invalid_transcripts(messages: Any, prefix: str) -> None:
    found = problems(messages)
    assert found, "expected a problem"
    assert found[0].startswith(prefix), found[0]
    with pytest.raises(TranscriptError) as info:
        validate(messages)
    assert str(info.value).startswith(prefix)
    assert problems(messages, first_only=True) == found[:1]


def test_transcript_error_is_a_chorus_error_and_a_value_error() -> None:
    with pytest.raises(TranscriptError) as info:
        validate([assistant("Hello")])
    assert isinstance(info.value, ChorusError)
    assert isinstance(info.value, ValueError)


def test_every_problem_is_listed_in_order() -> None:
    messages = [
        assistant([tool_use("toolu_1")]),
        user([text("")]),
        {"role": "tool", "content": "x"},
        user([tool_result("toolu_2")]),
    ]
    found = problems(messages)
    assert [p.split(":")[0] for p in found] == [
        "messages",  # first message must use the "user" role
        "messages",  # empty text block
        "messages.2.role",
        "messages.0",  # tool_use without result (checked after all messages)
        "messages.3.content.0",  # tool_result without tool_use
    ]
    assert found[0] == 'messages: first message must use the "user" role'
    assert found[1] == "messages: text content blocks must be non-empty"
    assert problems(messages, first_only=True) == found[:1]


def test_bad_messages_do_not_hide_later_pairing_problems() -> None:
    messages = [user("Go"), assistant([tool_use("toolu_1")]), "junk", user("Well?")]
    found = problems(messages)
    assert found[0] == "messages.2: Input should be a valid dictionary"
    assert found[1].startswith(f"messages.1: {MISSING_RESULT}: toolu_1.")
    assert len(found) == 2


def _sendable_agrees(messages: list[Any]) -> None:
    """``outline`` + ``sendable`` say "fine" exactly when ``problems`` finds nothing."""
    last = len(messages) - 1
    outlines = [outline(m, last=i == last) for i, m in enumerate(messages)]
    found = problems(messages)
    if any(o is None for o in outlines):
        assert found, "a message that breaks a rule alone makes the transcript unsendable"
    else:
        assert sendable(outlines) == (not found), (messages, found)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "messages",
    [*VALID.values(), *(m for m, _ in INVALID.values() if isinstance(m, list) and m)],
)
def test_outlines_agree_with_problems_on_every_case(messages: list[Any]) -> None:
    _sendable_agrees(messages)


_PIECES = st.sampled_from(
    [
        user("Hi"),
        user(""),
        user([text("Hi")]),
        user([tool_result("a")]),
        user([tool_result("b"), text("and?")]),
        user([tool_result("a"), tool_result("b")]),
        assistant("Ok"),
        assistant(""),
        assistant([tool_use("a")]),
        assistant([tool_use("b")]),
        assistant([text("Let me see."), tool_use("a"), tool_use("b")]),
        assistant([tool_use("a"), tool_use("a")]),
        assistant([tool_result("a")]),
        user([tool_use("a")]),
        {"role": "system", "content": "x"},
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=7))
def test_outlines_agree_with_problems_on_random_transcripts(messages: list[Any]) -> None:
    _sendable_agrees(messages)
