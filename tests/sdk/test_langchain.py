"""`langchain-anthropic`, unmodified, against a `chorus sim` process."""

from __future__ import annotations

import functools
import operator
from typing import Literal

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool

from .conftest import API_KEY, SimProcess, unique

pytestmark = pytest.mark.compat

MODEL = "claude-sonnet-4-6"

# langchain-anthropic caches one async HTTP client per base URL for the whole process
# (an lru_cache in langchain_anthropic._client_utils); its pool is bound to the event
# loop that first used it, so a second loop fails with "Event loop is closed". The
# async tests here therefore share one loop for the module.
one_loop = pytest.mark.asyncio(loop_scope="module")


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
    """Get the current weather for a city."""
    return f"{city}: 18 degrees {unit} and windy"


def chat(sim: SimProcess, **kw: object) -> ChatAnthropic:
    return ChatAnthropic(
        model=MODEL, base_url=sim.base_url, api_key=API_KEY, max_retries=0, max_tokens=256, **kw
    )


def test_invoke(sim: SimProcess) -> None:
    reply = chat(sim).invoke("hello from langchain")
    assert isinstance(reply, AIMessage)
    assert reply.content == reply.text == "hello from langchain"
    assert reply.response_metadata["stop_reason"] == "end_turn"
    assert reply.response_metadata["model_name"] == MODEL
    assert reply.response_metadata["id"].startswith("msg_")
    usage = reply.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@one_loop
async def test_astream_concatenates_to_the_reply(sim: SimProcess) -> None:
    chunks = [c async for c in chat(sim).astream("one two three four five")]
    assert len(chunks) > 3
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(c.text for c in chunks) == "one two three four five"
    whole = functools.reduce(operator.add, chunks)
    assert whole.text == "one two three four five"
    assert whole.usage_metadata is not None and whole.usage_metadata["output_tokens"] > 0
    assert whole.response_metadata.get("stop_reason") == "end_turn"


def test_tool_call_round_trip(sim: SimProcess) -> None:
    model = chat(sim).bind_tools([get_weather])
    question = HumanMessage("What is the weather in Bergen in celsius?")
    first = model.invoke([question])
    assert first.response_metadata["stop_reason"] == "tool_use"
    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    assert call["name"] == "get_weather" and str(call["id"]).startswith("toolu_")
    assert call["args"] == {"city": "Bergen", "unit": "celsius"}
    result = get_weather.invoke(call)  # a ToolMessage answering this call
    assert isinstance(result, ToolMessage) and result.tool_call_id == call["id"]
    final = model.invoke([question, first, result])
    assert final.response_metadata["stop_reason"] == "end_turn"
    assert not final.tool_calls
    assert "Bergen: 18 degrees celsius and windy" in final.text


@one_loop
async def test_streamed_tool_call(sim: SimProcess) -> None:
    model = chat(sim).bind_tools([get_weather])
    chunks = [c async for c in model.astream([HumanMessage("Weather in Quito in fahrenheit")])]
    assert sum(1 for c in chunks if c.tool_call_chunks) > 1  # the input streamed in pieces
    whole = functools.reduce(operator.add, chunks)
    assert isinstance(whole, AIMessageChunk)
    assert len(whole.tool_calls) == 1
    assert whole.tool_calls[0]["args"] == {"city": "Quito", "unit": "fahrenheit"}


def test_rate_limit_surfaces_as_the_sdk_error(sim: SimProcess) -> None:
    limited = chat(sim, default_headers={"x-chorus-fault": "429(retry_after=1)"})
    mark = sim.mark()
    with pytest.raises(anthropic.RateLimitError) as info:
        limited.invoke(unique("slow down"))
    assert info.value.status_code == 429
    assert info.value.type == "rate_limit_error"
    assert info.value.response.headers["retry-after"] == "1"
    assert [a["status"] for a in sim.since(mark)] == [429]  # max_retries=0
