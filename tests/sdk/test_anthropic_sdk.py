"""The official `anthropic` SDK, unmodified, against a `chorus sim` process.

Runs under whichever SDK line is installed: 2.x in .venv, 0.x in .venv-sdk0
(scripts/test runs both). Where the lines differ (wire identity, sampling parameters,
error classes and attributes) each test asserts the behaviour of its own line
(reference §2.4, §5.4, §7.8). Message batches are not here: the simulator does not
serve them.

Every request body that meets a fault plan carries a unique tag, so header plans
(keyed by body) never collide; attempts are read back from the simulator's ledger.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest

from .conftest import API_KEY, SimProcess, unique

pytestmark = pytest.mark.compat

VERSION = anthropic.__version__
MAJOR = int(VERSION.split(".")[0])
NEW_LINE = MAJOR >= 2
MODEL = "claude-sonnet-4-6"
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 1},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
}
WEATHER_QUESTION = "What is the weather in Lisbon in fahrenheit for the next 3 days?"
# The simulator draws tool input from the user's words, within the schema.
WEATHER_INPUT = {"city": "Lisbon", "unit": "fahrenheit", "days": 3}
# A retry hint short enough to keep the suite fast; both lines read retry-after-ms first.
QUICK = "retry_after_ms=10"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def connect(sim: SimProcess, **kw: Any) -> anthropic.Anthropic:
    kw.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=sim.base_url, api_key=kw.pop("api_key", API_KEY), **kw)


def api_message(err: anthropic.APIStatusError) -> str:
    """The API's ``error.message``, read the way each line exposes it."""
    assert isinstance(err.body, dict)
    message = err.body["error"]["message"]
    if NEW_LINE:
        assert err.api_message == message
    else:
        assert not hasattr(err, "api_message")  # a 2.x addition
    return str(message)


def assert_error_shape(err: anthropic.APIStatusError, status: int, error_type: str) -> None:
    assert err.status_code == status
    assert err.type == error_type
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert isinstance(err.body, dict)
    assert err.body["type"] == "error"
    assert err.body["error"]["type"] == error_type
    assert err.body["request_id"] == err.request_id
    # The SDK's own wording of an error changed between 2.x releases ("Error code: 404 -
    # {...}", later "404 {message} (request_id: ...)"): only what is ours is checked.
    assert str(status) in str(err) and err.body["error"]["message"] in str(err)


@pytest.fixture
def client(sim: SimProcess) -> Iterator[anthropic.Anthropic]:
    with connect(sim) as c:
        yield c


@pytest.fixture
async def aclient(sim: SimProcess) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=sim.base_url, api_key=API_KEY, max_retries=0) as c:
        yield c


# --------------------------------------------------------------------------- messages.create


def check_text_message(message: Any, text: str) -> None:
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == MODEL
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    usage = message.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.cache_creation_input_tokens == 0
    assert usage.cache_read_input_tokens == 0
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0
    assert usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert usage.service_tier == "standard"
    assert message._request_id is not None and message._request_id.startswith("req_")


def test_create(client: anthropic.Anthropic, sim: SimProcess) -> None:
    text = unique("Hello there")
    mark = sim.mark()
    message = client.messages.create(model=MODEL, max_tokens=64, messages=[user(text)])
    check_text_message(message, text)
    (attempt,) = sim.since(mark)
    assert attempt["request_id"] == message._request_id
    assert attempt["status"] == 200 and attempt["stream"] is False
    assert attempt["input_tokens"] == message.usage.input_tokens
    assert attempt["output_tokens"] == message.usage.output_tokens


async def test_async_create(aclient: anthropic.AsyncAnthropic) -> None:
    text = unique("async hello")
    message = await aclient.messages.create(model=MODEL, max_tokens=64, messages=[user(text)])
    check_text_message(message, text)


def test_prompt_cache_fields(client: anthropic.Anthropic) -> None:
    """A cached system prompt is written once, then read (reference §9.3)."""
    tag = unique("facts")
    reference = " ".join(f"Fact {i} about the {tag} archive is recorded here." for i in range(200))
    system = [{"type": "text", "text": reference, "cache_control": {"type": "ephemeral"}}]
    first = client.messages.create(
        model=MODEL, max_tokens=32, system=system, messages=[user(unique("first question"))]
    )
    second_question = user(unique("second question"))
    second = client.messages.create(
        model=MODEL, max_tokens=32, system=system, messages=[second_question]
    )
    written = first.usage.cache_creation_input_tokens
    assert written is not None and written >= 2048  # above claude-sonnet-4-6's minimum
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_5m_input_tokens == written
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert second.usage.cache_read_input_tokens == written
    assert second.usage.cache_creation_input_tokens == 0
    # input_tokens counts only what comes after the last breakpoint.
    assert 0 < second.usage.input_tokens < written
    counted = client.messages.count_tokens(model=MODEL, system=system, messages=[second_question])
    assert counted.input_tokens == second.usage.input_tokens + written


def test_raw_response(client: anthropic.Anthropic) -> None:
    text = unique("raw response")
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=32, messages=[user(text)]
    )
    assert raw.status_code == 200
    assert raw.retries_taken == 0
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.headers["request-id"].startswith("req_")
    assert raw.headers["anthropic-organization-id"]
    message = raw.parse()
    assert message._request_id == raw.headers["request-id"]
    assert message.content[0].text == text


def test_wire_identity_of_each_line(sim: SimProcess) -> None:
    """0.x sends ``x-api-key`` + ``2023-06-01``; 2.x sends ``Authorization: Bearer`` +
    ``2026-10-21`` (reference §1.1, §7.8). The simulator accepts both, and each retry
    carries the next ``x-stainless-retry-count``."""
    sent: list[dict[str, str]] = []
    http = anthropic.DefaultHttpxClient(
        event_hooks={"request": [lambda request: sent.append(dict(request.headers))]}
    )
    with connect(sim, max_retries=1, http_client=http) as c:
        mark = sim.mark()
        text = unique("identify me on the wire")
        message = c.messages.create(
            model=MODEL,
            max_tokens=32,
            messages=[user(text)],
            extra_headers={"x-chorus-fault": f"529({QUICK});ok"},
        )
    assert message.content[0].text == text
    assert [a["status"] for a in sim.since(mark)] == [529, 200]
    assert [h["x-stainless-retry-count"] for h in sent] == ["0", "1"]
    for headers in sent:
        assert headers["x-stainless-lang"] == "python"
        assert headers["x-stainless-package-version"] == VERSION
        if NEW_LINE:
            assert headers["anthropic-version"] == "2026-10-21"
            assert headers["authorization"] == f"Bearer {API_KEY}"
            assert "x-api-key" not in headers
        else:
            assert headers["anthropic-version"] == "2023-06-01"
            assert headers["x-api-key"] == API_KEY
            assert "authorization" not in headers


def test_api_version_of_each_line(client: anthropic.Anthropic) -> None:
    """2.x dropped ``temperature`` from the signature and its API version (2026-10-21)
    refuses it; 0.x still sends it under 2023-06-01, where it is accepted (§2.4)."""
    has_temperature = "temperature" in inspect.signature(client.messages.create).parameters
    if NEW_LINE:
        assert not has_temperature
        with pytest.raises(anthropic.BadRequestError) as info:
            client.messages.create(
                model=MODEL,
                max_tokens=8,
                messages=[user("x")],
                extra_body={"temperature": 0.5},
            )
        assert api_message(info.value) == "temperature: Extra inputs are not permitted"
    else:
        assert has_temperature
        message = client.messages.create(
            model=MODEL, max_tokens=8, temperature=0.5, messages=[user("temperature ok")]
        )
        assert message.content[0].text == "temperature ok"


# --------------------------------------------------------------------------- streaming


def test_stream_helper(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=MODEL, max_tokens=64, messages=[user("one two three four")]
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.request_id
    assert texts == ["one", " two", " three", " four"]
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == "one two three four"
    assert final.stop_reason == "end_turn" and final.stop_sequence is None
    assert final.id.startswith("msg_") and final.model == MODEL
    assert request_id is not None and request_id.startswith("req_")
    assert final.usage.cache_read_input_tokens == 0
    assert final.usage.cache_creation_input_tokens == 0
    # Streamed and non-streamed replies to one request count the same tokens.
    same = client.messages.create(model=MODEL, max_tokens=64, messages=[user("one two three four")])
    assert final.usage.input_tokens == same.usage.input_tokens > 0
    assert final.usage.output_tokens == same.usage.output_tokens >= 1
    with client.messages.stream(
        model=MODEL, max_tokens=64, messages=[user("final text")]
    ) as stream:
        assert stream.get_final_text() == "final text"


async def test_async_stream_helper(aclient: anthropic.AsyncAnthropic) -> None:
    async with aclient.messages.stream(
        model=MODEL, max_tokens=64, messages=[user("alpha beta gamma delta")]
    ) as stream:
        texts = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
        final_text = await stream.get_final_text()
    assert len(texts) > 3
    assert "".join(texts) == final_text == final.content[0].text == "alpha beta gamma delta"
    assert final.stop_reason == "end_turn"


def test_raw_stream_events(client: anthropic.Anthropic) -> None:
    text = "raw events please"
    with client.messages.create(
        model=MODEL, max_tokens=64, stream=True, messages=[user(text)]
    ) as events:
        seen = list(events)
        headers = events.response.headers
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["request-id"].startswith("req_")
    kinds = [e.type for e in seen]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds[1] == "content_block_start" and kinds[-3] == "content_block_stop"
    assert kinds[-2] == "message_delta"
    assert "ping" not in kinds  # both lines swallow pings
    start = seen[0].message
    assert start.content == [] and start.stop_reason is None
    assert start.usage.input_tokens > 0
    deltas = [e.delta.text for e in seen if e.type == "content_block_delta"]
    assert "".join(deltas) == text
    assert all(e.index == 0 for e in seen if e.type.startswith("content_block"))
    end = seen[-2]
    assert end.delta.stop_reason == "end_turn"
    assert end.usage.output_tokens >= 1


def test_stream_retried_before_it_starts(sim: SimProcess) -> None:
    """A 529 before the first byte is retried by the stream helper like any request."""
    text = unique("stream after overload")
    mark = sim.mark()
    with (
        connect(sim, max_retries=1) as c,
        c.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=[user(text)],
            extra_headers={"x-chorus-fault": f"529({QUICK});ok"},
        ) as stream,
    ):
        assert stream.get_final_text() == text
    attempts = sim.since(mark)
    assert [(a["status"], a["stream"]) for a in attempts] == [(529, True), (200, True)]
    assert stream.request_id == attempts[-1]["request_id"]


# --------------------------------------------------------------------------- tools


def tool_use_of(message: Any) -> Any:
    uses = [b for b in message.content if b.type == "tool_use"]
    assert len(uses) == 1, message.content
    assert uses[0].name == "get_weather" and uses[0].id.startswith("toolu_")
    return uses[0]


def test_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    question = user(WEATHER_QUESTION)
    first = client.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER], messages=[question]
    )
    assert first.stop_reason == "tool_use"
    use = tool_use_of(first)
    assert use.input == WEATHER_INPUT
    result = f"{use.input['city']}: 71 F and clear skies"
    second = client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": first.content},  # SDK objects sent back as-is
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": result}],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["text"]
    assert result in second.content[0].text


async def test_tool_result_as_blocks_async(aclient: anthropic.AsyncAnthropic) -> None:
    """The assistant turn sent back as plain dicts, the tool result as a list of blocks."""
    question = user(WEATHER_QUESTION)
    first = await aclient.messages.create(
        model=MODEL, max_tokens=256, tools=[WEATHER], messages=[question]
    )
    use = tool_use_of(first)
    second = await aclient.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use.id,
                        "content": [{"type": "text", "text": "fog rolling in"}],
                    }
                ],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    assert "fog rolling in" in second.content[0].text


def test_streamed_tool_use(client: anthropic.Anthropic) -> None:
    partials: list[str] = []
    with client.messages.stream(
        model=MODEL, max_tokens=256, tools=[WEATHER], messages=[user(WEATHER_QUESTION)]
    ) as stream:
        for event in stream:
            if event.type == "input_json":
                partials.append(event.partial_json)
                assert isinstance(event.snapshot, dict)  # partially parsed so far
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    use = tool_use_of(final)
    assert use.input == WEATHER_INPUT
    assert sum(1 for p in partials if p) > 1  # the input arrived in several deltas
    assert json.loads("".join(partials)) == use.input


async def test_streamed_tool_use_raw_events_async(aclient: anthropic.AsyncAnthropic) -> None:
    stream = await aclient.messages.create(
        model=MODEL, max_tokens=256, stream=True, tools=[WEATHER], messages=[user(WEATHER_QUESTION)]
    )
    starts: dict[int, Any] = {}
    pieces: dict[int, list[str]] = {}
    stop_reason = None
    async for event in stream:
        if event.type == "content_block_start":
            starts[event.index] = event.content_block
        elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            pieces.setdefault(event.index, []).append(event.delta.partial_json)
        elif event.type == "message_delta":
            stop_reason = event.delta.stop_reason
    assert sorted(starts) == list(range(len(starts)))  # contiguous block indices from 0
    (index,) = pieces
    block = starts[index]
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {}
    assert pieces[index][0] == ""  # the API's first input_json_delta is empty (§4)
    assert json.loads("".join(pieces[index])) == WEATHER_INPUT
    assert stop_reason == "tool_use"


# --------------------------------------------------------------------------- tokens and models


def test_count_tokens(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=MODEL, messages=[user("hi")])
    longer = client.messages.count_tokens(model=MODEL, messages=[user("hi " * 500)])
    with_tools = client.messages.count_tokens(model=MODEL, tools=[WEATHER], messages=[user("hi")])
    with_system = client.messages.count_tokens(
        model=MODEL, system="Be brief.", messages=[user("hi")]
    )
    assert isinstance(short.input_tokens, int)
    assert 0 < short.input_tokens < longer.input_tokens
    assert short.input_tokens < with_tools.input_tokens
    assert short.input_tokens < with_system.input_tokens
    used = client.messages.create(model=MODEL, max_tokens=8, messages=[user("hi")])
    assert used.usage.input_tokens == short.input_tokens


def all_models(client: anthropic.Anthropic) -> list[str]:
    page = client.models.list(limit=1000)
    assert page.has_more is False
    return [m.id for m in page.data]


def test_models_list_paginates(client: anthropic.Anthropic) -> None:
    everything = all_models(client)
    assert len(everything) > 4  # several pages of two
    page = client.models.list(limit=2)
    assert [m.id for m in page.data] == everything[:2]
    assert page.has_more is True and page.has_next_page()
    assert page.first_id == everything[0] and page.last_id == everything[1]
    assert all(m.type == "model" and m.display_name for m in page.data)
    assert [m.id for m in client.models.list(limit=2)] == everything  # follows after_id


async def test_models_list_paginates_async(
    aclient: anthropic.AsyncAnthropic, client: anthropic.Anthropic
) -> None:
    ids = [m.id async for m in aclient.models.list(limit=2)]
    assert ids == all_models(client)


def test_models_retrieve_resolves_alias(client: anthropic.Anthropic) -> None:
    model = client.models.retrieve("claude-haiku-4-5")
    assert model.id == "claude-haiku-4-5-20251001"
    assert model.type == "model"
    assert model.display_name == "Claude Haiku 4.5"
    assert model.created_at.year == 2025
    assert client.models.retrieve(model.id).id == model.id
    with pytest.raises(anthropic.NotFoundError) as info:
        client.models.retrieve("claude-nope-9")
    assert_error_shape(info.value, 404, "not_found_error")
    assert api_message(info.value) == "model: claude-nope-9"


# --------------------------------------------------------------------------- thinking and stops


def test_thinking(client: anthropic.Anthropic) -> None:
    text = "Consider this carefully"
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    first = client.messages.create(
        model=MODEL, max_tokens=2048, thinking=thinking, messages=[user(text)]
    )
    assert [b.type for b in first.content] == ["thinking", "text"]
    assert first.content[0].thinking and first.content[0].signature
    assert first.content[1].text == text
    # The thinking block goes back unmodified in the next turn, and is accepted.
    second = client.messages.create(
        model=MODEL,
        max_tokens=2048,
        thinking=thinking,
        messages=[
            user(text),
            {"role": "assistant", "content": first.content},
            user("And now briefly"),
        ],
    )
    assert second.content[0].type == "thinking"
    assert second.content[-1].text == "And now briefly"


def test_thinking_streamed(client: anthropic.Anthropic) -> None:
    thoughts: list[str] = []
    signatures: list[str] = []
    with client.messages.stream(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[user("Think it through")],
    ) as stream:
        for event in stream:
            if event.type == "thinking":
                thoughts.append(event.thinking)
            elif event.type == "signature":
                signatures.append(event.signature)
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert "".join(thoughts) == final.content[0].thinking
    assert signatures == [final.content[0].signature]
    assert signatures[0]


def test_stop_sequence(client: anthropic.Anthropic) -> None:
    params: Any = {
        "model": MODEL,
        "max_tokens": 64,
        "stop_sequences": ["HALT"],
        "messages": [user("alpha beta HALT gamma delta")],
    }
    message = client.messages.create(**params)
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "HALT"
    assert message.content[0].text == "alpha beta "  # the stop string is not included
    with client.messages.stream(**params) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == "alpha beta "
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "HALT"


def test_max_tokens(client: anthropic.Anthropic) -> None:
    text = "a rather long sentence that cannot fit into three output tokens at all"
    message = client.messages.create(model=MODEL, max_tokens=3, messages=[user(text)])
    assert message.stop_reason == "max_tokens" and message.stop_sequence is None
    assert message.usage.output_tokens == 3
    cut = message.content[0].text
    assert cut and text.startswith(cut) and cut != text
    with client.messages.stream(model=MODEL, max_tokens=3, messages=[user(text)]) as stream:
        streamed = stream.get_final_text()
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert streamed == cut and final.usage.output_tokens == 3


# --------------------------------------------------------------------------- typed errors


def test_bad_request_is_typed(sim: SimProcess) -> None:
    mark = sim.mark()
    with connect(sim, max_retries=2) as c, pytest.raises(anthropic.BadRequestError) as info:
        c.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[
                user(unique("q")),
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_x", "name": "t", "input": {}}],
                },
                user("and?"),
            ],
        )
    assert_error_shape(info.value, 400, "invalid_request_error")
    assert api_message(info.value) == (
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
        "after: toolu_x. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )
    assert [a["status"] for a in sim.since(mark)] == [400]  # a 400 is never retried
    with connect(sim) as c, pytest.raises(anthropic.BadRequestError) as empty:
        c.messages.create(model=MODEL, max_tokens=64, messages=[user("")])
    assert api_message(empty.value) == (
        "messages.0: all messages must have non-empty content except for the optional "
        "final assistant message"
    )


def test_authentication_error(sim: SimProcess) -> None:
    mark = sim.mark()
    with (
        connect(sim, api_key="sk-wrong", max_retries=2) as wrong,
        pytest.raises(anthropic.AuthenticationError) as info,
    ):
        wrong.messages.create(model=MODEL, max_tokens=8, messages=[user(unique("let me in"))])
    assert_error_shape(info.value, 401, "authentication_error")
    assert api_message(info.value) == "invalid x-api-key"
    assert [a["status"] for a in sim.since(mark)] == [401]  # a 401 is never retried


def test_every_endpoint_requires_a_valid_key(sim: SimProcess) -> None:
    """The API answers 401 on every endpoint without a valid key, models included."""
    calls = {
        "/v1/messages/count_tokens": lambda c: c.messages.count_tokens(
            model=MODEL, messages=[user("count")]
        ),
        "/v1/models": lambda c: c.models.list(limit=2),
        "/v1/models/claude-haiku-4-5": lambda c: c.models.retrieve("claude-haiku-4-5"),
        "/v1/models/claude-nope-9": lambda c: c.models.retrieve("claude-nope-9"),
    }
    with connect(sim, api_key="sk-wrong") as wrong:
        for path, call in calls.items():
            mark = sim.mark()
            with pytest.raises(anthropic.AuthenticationError) as info:
                call(wrong)
            assert_error_shape(info.value, 401, "authentication_error")
            assert api_message(info.value) == "invalid x-api-key"
            (attempt,) = sim.since(mark, path)
            assert attempt["status"] == 401 and attempt["request_id"] == info.value.request_id


def test_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="claude-nope-9", max_tokens=8, messages=[user("x")])
    assert_error_shape(info.value, 404, "not_found_error")
    assert api_message(info.value) == "model: claude-nope-9"


def test_rate_limit_error(client: anthropic.Anthropic, sim: SimProcess) -> None:
    mark = sim.mark()
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=8,
            messages=[user(unique("too fast"))],
            extra_headers={"x-chorus-fault": "429(retry_after=1)"},
        )
    err = info.value
    assert_error_shape(err, 429, "rate_limit_error")
    assert err.response.headers["retry-after"] == "1"
    if NEW_LINE:
        assert err.error_code is None
    assert [a["status"] for a in sim.since(mark)] == [429]  # max_retries=0


def test_overloaded_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.OverloadedError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=8,
            messages=[user(unique("busy"))],
            extra_headers={"x-chorus-fault": "529"},
        )
    err = info.value
    assert_error_shape(err, 529, "overloaded_error")
    assert api_message(err) == "Overloaded"
    # 2.x files OverloadedError under InternalServerError; 0.x keeps it a direct
    # APIStatusError subclass (reference §5.4).
    assert isinstance(err, anthropic.InternalServerError) is NEW_LINE


def test_spend_cap_by_line(client: anthropic.Anthropic) -> None:
    """The spend-cap 429 has no retry-after and ``details.error_code`` (reference §5.2);
    2.x maps the code to its own RateLimitError subclass, 0.x has only RateLimitError."""
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=8,
            messages=[user(unique("spent"))],
            extra_headers={"x-chorus-fault": "429(spend_cap=true)"},
        )
    err = info.value
    assert_error_shape(err, 429, "rate_limit_error")
    assert "retry-after" not in err.response.headers
    assert isinstance(err.body, dict)
    assert err.body["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}
    if NEW_LINE:
        from anthropic.types.shared import EnforcedSpendLimitReachedError

        assert type(err) is EnforcedSpendLimitReachedError
        assert err.error_code == "enforced_spend_limit_reached"
        assert err.details is not None
    else:
        assert type(err) is anthropic.RateLimitError
        assert not hasattr(err, "error_code")


def test_error_event_inside_the_stream(sim: SimProcess) -> None:
    """``event: error`` after a 200 raises while iterating and is never retried (§7.9)."""
    mark = sim.mark()
    with (
        connect(sim, max_retries=2) as c,
        pytest.raises(anthropic.APIStatusError) as info,
        c.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=[user(unique("a b c d e f"))],
            extra_headers={"x-chorus-fault": "sse_error(after=3)"},
        ) as stream,
    ):
        for _ in stream:
            pass
    err = info.value
    assert type(err) is anthropic.APIStatusError  # status 200 maps to no subclass, either line
    assert err.status_code == 200
    assert err.type == "overloaded_error"
    assert err.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    (attempt,) = sim.since(mark)
    assert attempt["outcome"] == "sse_error" and attempt["events_sent"] == 3
    assert err.request_id == attempt["request_id"]


async def test_error_event_inside_the_raw_stream_async(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    seen: list[str] = []
    stream = await aclient.messages.create(
        model=MODEL,
        max_tokens=64,
        stream=True,
        messages=[user(unique("one two three four five six seven"))],
        extra_headers={"x-chorus-fault": "sse_error(after=5,type=api_error,message=Boom)"},
    )
    with pytest.raises(anthropic.APIStatusError) as info:
        async for event in stream:
            seen.append(event.type)
    assert seen[:2] == ["message_start", "content_block_start"]
    assert "content_block_delta" in seen and "message_stop" not in seen
    assert info.value.type == "api_error"
    assert "Boom" in str(info.value)


# --------------------------------------------------------------------------- the SDK's own retries


def test_sdk_retry_honours_retry_after(sim: SimProcess) -> None:
    text = unique("retry after one second")
    mark = sim.mark()
    with connect(sim, max_retries=2) as c:
        started = time.monotonic()
        raw = c.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=32,
            messages=[user(text)],
            extra_headers={"x-chorus-fault": "429(retry_after=1);ok"},
        )
        elapsed = time.monotonic() - started
    message = raw.parse()
    assert message.content[0].text == text
    assert raw.retries_taken == 1
    attempts = sim.since(mark)
    assert [(a["status"], a["attempt"]) for a in attempts] == [(429, 1), (200, 2)]
    assert attempts[0]["body_hash"] == attempts[1]["body_hash"]  # the same body, re-sent
    assert attempts[1]["request_id"] == message._request_id
    # Observed protocol facts: the SDK slept for the retry-after the simulator sent.
    assert elapsed >= 0.9
    assert attempts[1]["time"] - attempts[0]["time"] >= 0.9


def test_sdk_retries_overload_then_succeeds(sim: SimProcess) -> None:
    text = unique("overloaded twice")
    mark = sim.mark()
    with connect(sim, max_retries=2) as c:
        message = c.messages.create(
            model=MODEL,
            max_tokens=16,
            messages=[user(text)],
            extra_headers={"x-chorus-fault": f"529({QUICK})*2;ok"},
        )
    assert message.content[0].text == text
    attempts = sim.since(mark)
    assert [(a["status"], a["attempt"]) for a in attempts] == [(529, 1), (529, 2), (200, 3)]


def test_sdk_obeys_should_retry_false(sim: SimProcess) -> None:
    mark = sim.mark()
    with connect(sim, max_retries=2) as c, pytest.raises(anthropic.InternalServerError) as info:
        c.messages.create(
            model=MODEL,
            max_tokens=16,
            messages=[user(unique("no retry"))],
            extra_headers={"x-chorus-fault": "500(should_retry=false);ok"},
        )
    assert type(info.value) is anthropic.InternalServerError
    assert_error_shape(info.value, 500, "api_error")
    assert info.value.response.headers["x-should-retry"] == "false"
    assert [a["status"] for a in sim.since(mark)] == [500]


def test_sdk_obeys_should_retry_true_on_a_400(sim: SimProcess) -> None:
    """``x-should-retry: true`` overrides the status rule (reference §7.3)."""
    text = unique("retry this bad request")
    mark = sim.mark()
    with connect(sim, max_retries=1) as c:
        message = c.messages.create(
            model=MODEL,
            max_tokens=32,
            messages=[user(text)],
            extra_headers={"x-chorus-fault": f"400(should_retry=true,{QUICK});ok"},
        )
    assert message.content[0].text == text
    assert [a["status"] for a in sim.since(mark)] == [400, 200]


def test_retry_after_ms_takes_precedence(sim: SimProcess) -> None:
    """Both lines read ``retry-after-ms`` before ``retry-after`` (reference §7.4)."""
    text = unique("milliseconds please")
    mark = sim.mark()
    with connect(sim, max_retries=1) as c:
        message = c.messages.create(
            model=MODEL,
            max_tokens=32,
            messages=[user(text)],
            extra_headers={"x-chorus-fault": "429(retry_after=30,retry_after_ms=250);ok"},
        )
    assert message.content[0].text == text
    first, second = sim.since(mark)
    gap = second["time"] - first["time"]
    assert gap >= 0.2  # waited the 250 ms ...
    assert gap < 20  # ... and not the 30 s of retry-after
