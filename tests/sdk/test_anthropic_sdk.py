"""The official `anthropic` SDK, unmodified, against a `chorus sim` process.

Runs under whichever SDK line is installed: 2.x in .venv, 0.x in .venv-sdk0
(scripts/test runs both). Where the lines differ, each asserts its own behaviour.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import anthropic
import pytest

from .conftest import API_KEY, SimProcess

pytestmark = pytest.mark.compat

MAJOR = int(anthropic.__version__.split(".")[0])
MODEL = "claude-sonnet-4-6"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
}


def unique(text: str) -> str:
    return f"{text} [{uuid.uuid4().hex[:8]}]"


@pytest.fixture
def client(sim: SimProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.base_url, api_key=API_KEY, max_retries=0)


@pytest.fixture
def aclient(sim: SimProcess) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=sim.base_url, api_key=API_KEY, max_retries=0)


def faulted(sim: SimProcess, plan: str, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=sim.base_url, api_key=API_KEY, default_headers={"x-chorus-fault": plan}, **kw
    )


def attempts_for(sim: SimProcess) -> list[dict[str, Any]]:
    """Every attempt of the most recent request body (bodies are unique per test)."""
    ledger = [e for e in sim.ledger() if e["path"] == "/v1/messages"]
    last = ledger[-1]["body_hash"]
    return [e for e in ledger if e["body_hash"] == last]


def test_create(client: anthropic.Anthropic) -> None:
    text = unique("Hello there")
    message = client.messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": text}]
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn"
    assert message.model == MODEL
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message._request_id and message._request_id.startswith("req_")


async def test_async_create(aclient: anthropic.AsyncAnthropic) -> None:
    message = await aclient.messages.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "async hello"}]
    )
    assert message.content[0].text == "async hello"


def test_stream_helper(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "one two three four"}]
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert texts == ["one", " two", " three", " four"]
    assert final.content[0].text == "one two three four"
    assert final.usage.output_tokens >= 1
    with client.messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "final text"}]
    ) as stream:
        assert stream.get_final_text() == "final text"


async def test_async_stream_helper(aclient: anthropic.AsyncAnthropic) -> None:
    async with aclient.messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "alpha beta"}]
    ) as stream:
        texts = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(texts) == final.content[0].text == "alpha beta"


def test_raw_stream_events(client: anthropic.Anthropic) -> None:
    events = list(
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            stream=True,
            messages=[{"role": "user", "content": "raw events"}],
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_delta" in kinds and "message_delta" in kinds


def test_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    question = {"role": "user", "content": "What is the weather in Lisbon?"}
    first = client.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER], messages=[question]
    )
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather"
    assert use.input == {"city": "Lisbon"}
    second = client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": use.id, "content": "21 C, clear"}
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "21 C, clear" in second.content[0].text


def test_streamed_tool_use(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "weather in Kyoto please"}],
    ) as stream:
        final = stream.get_final_message()
    use = next(b for b in final.content if b.type == "tool_use")
    assert use.input == {"city": "Kyoto"}
    assert final.stop_reason == "tool_use"


def test_count_tokens(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "hi " * 500}]
    )
    assert 0 < short.input_tokens < long.input_tokens
    used = client.messages.create(
        model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]
    )
    assert used.usage.input_tokens == short.input_tokens


def test_models_list_and_retrieve(client: anthropic.Anthropic) -> None:
    everything = [m.id for m in client.models.list(limit=1000)]
    paged = [m.id for m in client.models.list(limit=2)]  # the SDK follows has_more / after_id
    assert paged == everything and len(everything) >= 3
    model = client.models.retrieve("claude-haiku-4-5")  # an alias
    assert model.id == "claude-haiku-4-5-20251001"
    assert model.display_name == "Claude Haiku 4.5"


def test_thinking(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=4000,
        thinking={"type": "enabled", "budget_tokens": 2000},
        messages=[{"role": "user", "content": "think first"}],
    )
    assert message.content[0].type == "thinking"
    assert message.content[0].signature
    assert message.content[1].type == "text"


def test_stop_sequence_and_max_tokens(client: anthropic.Anthropic) -> None:
    stopped = client.messages.create(
        model=MODEL,
        max_tokens=64,
        stop_sequences=["END"],
        messages=[{"role": "user", "content": "a b END c"}],
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "END"
    assert stopped.content[0].text == "a b "
    cut = client.messages.create(
        model=MODEL,
        max_tokens=2,
        messages=[{"role": "user", "content": "many many words in this reply"}],
    )
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 2


def test_bad_request_is_typed(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[
                {"role": "user", "content": "q"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_x", "name": "t", "input": {}}],
                },
                {"role": "user", "content": "and?"},
            ],
        )
    assert info.value.status_code == 400
    assert "`tool_use` ids were found without `tool_result` blocks" in str(info.value)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": ""}]
        )


def test_authentication_error(sim: SimProcess) -> None:
    wrong = anthropic.Anthropic(base_url=sim.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        wrong.messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.status_code == 401


def test_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="claude-nope-9", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )


def test_rate_limit_and_overloaded_are_typed(sim: SimProcess) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        faulted(sim, "429(retry_after=1)", max_retries=0).messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": unique("rl")}]
        )
    assert info.value.response.headers["retry-after"] == "1"
    overloaded = getattr(anthropic, "OverloadedError", anthropic.InternalServerError)
    with pytest.raises(overloaded) as over:
        faulted(sim, "529", max_retries=0).messages.create(
            model=MODEL, max_tokens=8, messages=[{"role": "user", "content": unique("ov")}]
        )
    assert over.value.status_code == 529


def test_error_event_inside_the_stream(sim: SimProcess) -> None:
    client = faulted(sim, "sse_error(after=3)", max_retries=0)
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": unique("a b c d")}]
        ) as stream,
    ):
        for _ in stream.text_stream:
            pass
    assert "overloaded_error" in str(info.value)


def test_sdk_retry_honours_retry_after(sim: SimProcess) -> None:
    client = faulted(sim, "429(retry_after=1);ok", max_retries=2)
    text = unique("retry after")
    start = time.monotonic()
    message = client.messages.create(
        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": text}]
    )
    elapsed = time.monotonic() - start
    assert message.content[0].text == text
    attempts = attempts_for(sim)
    assert [a["status"] for a in attempts] == [429, 200]
    assert elapsed >= 0.9  # the SDK waited the retry-after the simulator sent
    assert attempts[1]["time"] - attempts[0]["time"] >= 0.9


def test_sdk_retries_overload_then_succeeds(sim: SimProcess) -> None:
    client = faulted(sim, "529*2;ok", max_retries=2)
    text = unique("overloaded twice")
    message = client.messages.create(
        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": text}]
    )
    assert message.content[0].text == text
    assert [a["status"] for a in attempts_for(sim)] == [529, 529, 200]


def test_sdk_obeys_should_retry_false(sim: SimProcess) -> None:
    client = faulted(sim, "500(should_retry=false);ok", max_retries=2)
    text = unique("no retry")
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(
            model=MODEL, max_tokens=16, messages=[{"role": "user", "content": text}]
        )
    assert [a["status"] for a in attempts_for(sim)] == [500]


def test_api_version_of_each_line(sim: SimProcess, client: anthropic.Anthropic) -> None:
    """2.x sends anthropic-version 2026-10-21 and a Bearer key; 0.x sends 2023-06-01 and x-api-key.

    Both are accepted; under 2026-10-21 the simulator refuses temperature like the API does.
    """
    if MAJOR >= 2:
        with pytest.raises(
            anthropic.BadRequestError, match="temperature: Extra inputs are not permitted"
        ):
            client.messages.create(
                model=MODEL,
                max_tokens=8,
                messages=[{"role": "user", "content": "x"}],
                extra_body={"temperature": 0.5},
            )
    else:
        message = client.messages.create(
            model=MODEL,
            max_tokens=8,
            temperature=0.5,
            messages=[{"role": "user", "content": "temperature ok"}],
        )
        assert message.content[0].text == "temperature ok"
