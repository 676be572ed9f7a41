"""Requests the real API refuses get the real API's 400s (and 404 for unknown models)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import MODEL, Client, user

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 C"}

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("missing max_tokens", {"model": MODEL, "messages": user("hi")}, "max_tokens: Field required"),
    ("missing messages", {"model": MODEL, "max_tokens": 5}, "messages: Field required"),
    ("missing model", {"messages": user("hi"), "max_tokens": 5}, "model: Field required"),
    (
        "bad role",
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
        "messages.0.role: Input should be 'user' or 'assistant'",
    ),
    (
        "empty content",
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": ""}]},
        "messages.0: all messages must have non-empty content",
    ),
    (
        "empty text block",
        {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
        },
        "messages: text content blocks must be non-empty",
    ),
    (
        "tool_use without tool_result",
        {
            "model": MODEL,
            "max_tokens": 5,
            "tools": [TOOL],
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [USE]},
                {"role": "user", "content": "well?"},
            ],
        },
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
        "after: toolu_1",
    ),
    (
        "tool_result without tool_use",
        {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": [RESULT]}],
        },
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1",
    ),
    (
        "extra field",
        {"model": MODEL, "max_tokens": 5, "messages": user("hi"), "colour": "red"},
        "colour: Extra inputs are not permitted",
    ),
    (
        "max_tokens above the model cap",
        {"model": MODEL, "max_tokens": 100_000, "messages": user("hi")},
        "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for "
        "claude-sonnet-4-5-20250929",
    ),
    (
        "thinking budget too small",
        {
            "model": MODEL,
            "max_tokens": 4000,
            "messages": user("hi"),
            "thinking": {"type": "enabled", "budget_tokens": 100},
        },
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        "thinking budget above max_tokens",
        {
            "model": MODEL,
            "max_tokens": 2000,
            "messages": user("hi"),
            "thinking": {"type": "enabled", "budget_tokens": 2000},
        },
        "`max_tokens` must be greater than `thinking.budget_tokens`",
    ),
    (
        "bad tool name",
        {
            "model": MODEL,
            "max_tokens": 5,
            "messages": user("hi"),
            "tools": [dict(TOOL, name="get weather")],
        },
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (
        "five cache breakpoints",
        {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": f"part {i}",
                            "cache_control": {"type": "ephemeral"},
                        }
                        for i in range(5)
                    ],
                }
            ],
        },
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
]


@pytest.mark.parametrize(("name", "body", "message"), CASES, ids=[c[0] for c in CASES])
async def test_refused_like_the_api(
    client: Client, name: str, body: dict[str, Any], message: str
) -> None:
    reply = await client.post("/v1/messages", body)
    assert reply.status == 400, reply.body
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message), error["message"]


async def test_unknown_model_is_404(client: Client) -> None:
    reply = await client.message(model="claude-does-not-exist-9", messages=user("hi"))
    assert reply.status == 404
    assert reply.json()["error"] == {
        "type": "not_found_error",
        "message": "model: claude-does-not-exist-9",
    }


async def test_prompt_too_long(make_client) -> None:
    config = {"models": [{"id": "tiny-model", "context_window": 100, "max_output_tokens": 50}]}
    async with make_client(config) as c:
        reply = await c.message(model="tiny-model", max_tokens=10, messages=user("word " * 200))
        assert reply.status == 400
        message = reply.json()["error"]["message"]
        assert message.startswith("prompt is too long: ")
        assert message.endswith(" tokens > 100 maximum")
        counted = await c.post(
            "/v1/messages/count_tokens", {"model": "tiny-model", "messages": user("word " * 200)}
        )
        assert f"{counted.json()['input_tokens']} tokens" in message


async def test_valid_tool_round_trip_transcript_is_accepted(client: Client) -> None:
    reply = await client.message(
        tools=[TOOL],
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [USE]},
            {"role": "user", "content": [RESULT]},
        ],
    )
    assert reply.status == 200
    assert "15 C" in reply.json()["content"][0]["text"]


async def test_final_assistant_prefill_may_be_empty_list_but_not_others(client: Client) -> None:
    ok = await client.message(
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": []}]
    )
    assert ok.status == 200


async def test_count_tokens_refuses_max_tokens_field(client: Client) -> None:
    reply = await client.post(
        "/v1/messages/count_tokens", {"model": MODEL, "messages": user("hi"), "max_tokens": 5}
    )
    assert reply.status == 400
    assert reply.json()["error"]["message"] == "max_tokens: Extra inputs are not permitted"
