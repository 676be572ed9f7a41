"""Streams follow the exact event grammar, and JSON and SSE replies agree."""

from __future__ import annotations

import msgspec
import pytest

from chorus.protocol import accumulate

from .conftest import Client, user
from .grammar import check_grammar

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
}


async def test_text_stream_grammar_and_final_message(client: Client) -> None:
    reply = await client.message(messages=user("one two three four five"), stream=True)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = check_grammar(reply.body)
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert deltas == ["one", " two", " three", " four", " five"]
    message = accumulate(reply.events())
    assert message.text == "one two three four five"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens >= 1


async def test_stream_and_json_agree(make_client) -> None:
    params = {"messages": user("Tell me about the weather in Paris"), "tools": [TOOL]}
    async with make_client({"seed": 7}) as a, make_client({"seed": 7}) as b:
        json_reply = (await a.message(**params)).json()
        streamed = accumulate((await b.message(stream=True, **params)).events())

    def without_ids(blocks: list[dict]) -> list[dict]:
        return [{k: v for k, v in b.items() if k != "id"} for b in blocks]

    assert without_ids(msgspec.to_builtins(streamed.content)) == without_ids(json_reply["content"])
    assert streamed.content[1].id != json_reply["content"][1]["id"]  # ids are unique, even per seed
    assert streamed.stop_reason == json_reply["stop_reason"] == "tool_use"
    assert streamed.id.startswith("msg_") and json_reply["id"].startswith("msg_")
    assert streamed.usage.output_tokens == json_reply["usage"]["output_tokens"]
    assert streamed.usage.input_tokens == json_reply["usage"]["input_tokens"]


async def test_tool_input_streams_as_json_fragments(client: Client) -> None:
    reply = await client.message(
        messages=user("What is the weather in Paris?"), tools=[TOOL], stream=True
    )
    events = check_grammar(reply.body)
    fragments = [
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert fragments[0] == ""
    assert len(fragments) > 2
    assert msgspec.json.decode("".join(fragments)) == {"city": "Paris"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


async def test_thinking_block_comes_first_with_signature(client: Client) -> None:
    reply = await client.message(
        messages=user("Why is the sky blue"),
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        stream=True,
    )
    events = check_grammar(reply.body)
    starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert starts == ["thinking", "text"]
    kinds = [
        d["delta"]["type"] for n, d in events if n == "content_block_delta" and d["index"] == 0
    ]
    assert kinds[-1] == "signature_delta"
    assert set(kinds[:-1]) == {"thinking_delta"}
    message = accumulate(reply.events())
    assert message.content[0].signature


@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_truncates(client: Client, stream: bool) -> None:
    reply = await client.message(
        messages=user("alpha beta gamma delta epsilon zeta eta theta"), max_tokens=3, stream=stream
    )
    message = accumulate(reply.events()) if stream else None
    body = reply.json() if not stream else msgspec.to_builtins(message)
    assert body["stop_reason"] == "max_tokens"
    assert body["usage"]["output_tokens"] == 3
    assert len(body["content"][0]["text"]) <= 12


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_sequence(client: Client, stream: bool) -> None:
    reply = await client.message(
        messages=user("first part STOP second part"), stop_sequences=["STOP"], stream=stream
    )
    body = msgspec.to_builtins(accumulate(reply.events())) if stream else reply.json()
    assert body["stop_reason"] == "stop_sequence"
    assert body["stop_sequence"] == "STOP"
    assert body["content"][0]["text"] == "first part "


async def test_count_tokens_matches_usage(client: Client) -> None:
    params = {
        "model": "claude-sonnet-4-5",
        "system": "You are terse.",
        "tools": [TOOL],
        "messages": user("How warm is Lisbon today, and should I bring a coat?"),
    }
    counted = (await client.post("/v1/messages/count_tokens", params)).json()["input_tokens"]
    used = (await client.message(**params)).json()["usage"]
    assert used["input_tokens"] == counted
    assert used["cache_read_input_tokens"] == used["cache_creation_input_tokens"] == 0
    longer = dict(params, messages=user("How warm is Lisbon today? " * 20))
    assert (await client.post("/v1/messages/count_tokens", longer)).json()["input_tokens"] > counted


async def test_message_ids_and_usage_shape(client: Client) -> None:
    body = (await client.message(messages=user("hi"))).json()
    assert body["id"].startswith("msg_") and len(body["id"]) == 28
    assert body["type"] == "message" and body["role"] == "assistant"
    assert set(body["usage"]) >= {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cache_creation",
        "service_tier",
    }
