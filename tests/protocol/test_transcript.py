"""The transcript rules: what the API accepts as a message list."""

from __future__ import annotations

from typing import Any

import pytest

from chorus.protocol.transcript import TranscriptError, problems, validate

USE = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
USE2 = {"type": "tool_use", "id": "t2", "name": "f", "input": {}}
RESULT = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
RESULT2 = {"type": "tool_result", "tool_use_id": "t2", "content": "ok"}


def u(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def a(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


VALID = [
    [u("hi")],
    [u("hi"), a("hello"), u("again")],
    [u("q"), a([USE]), u([RESULT])],
    [u("q"), a([USE, USE2]), u([RESULT2, RESULT])],
    [
        u("q"),
        a([USE]),
        a([USE2]),
        u([RESULT]),
        u([RESULT2, {"type": "text", "text": "more"}]),
    ],  # merged turns
    [u("hi"), a("")],  # an empty final assistant message is a prefill
    [u("hi"), a([])],
    [u([{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}])],
]

INVALID = [
    ("not a list", {"role": "user"}, "messages: Input should be a valid list"),
    ("empty", [], "messages: at least one message is required"),
    (
        "bad role",
        [{"role": "system", "content": "x"}],
        "messages.0.role: Input should be 'user' or 'assistant'",
    ),
    ("assistant first", [a("x"), u("y")], 'messages: first message must use the "user" role'),
    ("empty string", [u("")], "messages.0: all messages must have non-empty content"),
    ("empty list", [u([]), a("x")], "messages.0: all messages must have non-empty content"),
    (
        "empty text block",
        [u([{"type": "text", "text": ""}])],
        "messages: text content blocks must be non-empty",
    ),
    ("unknown block", [u([{"type": "smell"}])], "messages.0.content.0.type: Input tag 'smell'"),
    (
        "tool_use from user",
        [u([USE])],
        "messages.0.content.0: `tool_use` blocks are not allowed in `user` messages",
    ),
    (
        "unanswered tool_use",
        [u("q"), a([USE]), u("so?")],
        "messages.1: `tool_use` ids were found without `tool_result`",
    ),
    (
        "tool_use at the end",
        [u("q"), a([USE])],
        "messages.1: `tool_use` ids were found without `tool_result`",
    ),
    (
        "orphan result",
        [u([RESULT])],
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: t1",
    ),
    (
        "result two turns late",
        [u("q"), a([USE]), u([RESULT]), a("ok"), u([RESULT])],
        "messages.4.content.0: unexpected `tool_use_id`",
    ),
    (
        "duplicate ids",
        [u("q"), a([USE, USE]), u([RESULT])],
        "messages.1.content.1: `tool_use` ids must be unique",
    ),
    (
        "tool_use without input",
        [u("q"), a([{"type": "tool_use", "id": "x", "name": "f"}])],
        "messages.1.content.0.input: Input should be",
    ),
]


@pytest.mark.parametrize("messages", VALID, ids=range(len(VALID)))
def test_valid(messages: list[dict[str, Any]]) -> None:
    assert problems(messages) == []
    validate(messages)


@pytest.mark.parametrize(("name", "messages", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid(name: str, messages: Any, message: str) -> None:
    found = problems(messages)
    assert found[0].startswith(message), found
    with pytest.raises(TranscriptError):
        validate(messages)
