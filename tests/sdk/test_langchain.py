"""`langchain-anthropic`, unmodified, against a `chorus sim` process."""

from __future__ import annotations

import uuid

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

from .conftest import API_KEY, SimProcess

pytestmark = pytest.mark.compat

MODEL = "claude-sonnet-4-6"


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"18 C and windy in {city}"


def chat(sim: SimProcess, **kw: object) -> ChatAnthropic:
    return ChatAnthropic(
        model=MODEL, base_url=sim.base_url, api_key=API_KEY, max_retries=0, max_tokens=256, **kw
    )


def test_invoke(sim: SimProcess) -> None:
    reply = chat(sim).invoke("hello from langchain")
    assert reply.content == "hello from langchain"
    assert reply.usage_metadata is not None and reply.usage_metadata["input_tokens"] > 0
    assert reply.response_metadata["stop_reason"] == "end_turn"


async def test_astream_concatenates_to_the_reply(sim: SimProcess) -> None:
    chunks = [c async for c in chat(sim).astream("one two three four five")]
    text = "".join(
        c.content
        if isinstance(c.content, str)
        else "".join(part.get("text", "") for part in c.content if isinstance(part, dict))
        for c in chunks
    )
    assert text == "one two three four five"
    assert len(chunks) > 3


def test_tool_call_round_trip(sim: SimProcess) -> None:
    model = chat(sim).bind_tools([get_weather])
    question = HumanMessage("What is the weather in Bergen?")
    first = model.invoke([question])
    assert len(first.tool_calls) == 1
    call = first.tool_calls[0]
    assert call["name"] == "get_weather" and call["args"] == {"city": "Bergen"}
    result = get_weather.invoke(call["args"])
    final = model.invoke([question, first, ToolMessage(result, tool_call_id=call["id"])])
    assert "18 C and windy in Bergen" in str(final.content)


def test_rate_limit_surfaces_as_the_sdk_error(sim: SimProcess) -> None:
    limited = chat(sim, default_headers={"x-chorus-fault": "429(retry_after=1)"})
    with pytest.raises(anthropic.RateLimitError):
        limited.invoke(f"limited {uuid.uuid4().hex[:6]}")
