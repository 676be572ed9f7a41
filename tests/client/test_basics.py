"""The client's everyday surface: create, stream, count_tokens, config errors."""

from __future__ import annotations

import pytest

from chorus import Claude, ConfigError, simulated_client
from chorus.protocol.types import ToolUseBlock, to_dict

from .conftest import MODEL, user

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_no_key_and_no_url_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match=r"chorus\.sim\.simulated_client\(\)") as info:
        Claude()
    assert "\n" not in str(info.value)


def test_environment_is_read_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/")
    claude = Claude()
    assert claude.api_key == "sk-env"
    assert claude.base_url == "http://127.0.0.1:9"


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        Claude(api_key="k", max_retries=-1)
    with pytest.raises(ConfigError, match="unknown key 'rps'"):
        Claude(api_key="k", rate_limits={"*": {"rps": 3}})
    with pytest.raises(ConfigError, match="unexpected keyword"):
        Claude(api_key="k", retries=3)


async def test_create_stream_count(make_rig) -> None:
    async with make_rig() as r:
        message = await r.create("Hello there")
        assert message.text == "Hello there"
        assert message.stop_reason == "end_turn"
        assert message.usage.input_tokens > 0
        async with r.claude.messages.stream(
            model=MODEL, max_tokens=64, messages=user("one two three")
        ) as s:
            texts = [t async for t in s.text_stream]
            final = await s.get_final_message()
        assert texts == ["one", " two", " three"]
        assert final.text == "one two three"
        assert s.request_id and s.request_id.startswith("req_")
        count = await r.claude.messages.count_tokens(model=MODEL, messages=user("Hello there"))
        assert count == count.input_tokens == message.usage.input_tokens


async def test_streamed_tool_use_and_round_trip(make_rig) -> None:
    async with make_rig() as r:
        async with r.claude.messages.stream(
            model=MODEL, max_tokens=256, tools=[WEATHER], messages=user("Weather in Oslo?")
        ) as s:
            events = [e async for e in s]
            first = await s.get_final_message()
        assert events[0].type == "message_start"
        uses = [b for b in first.content if isinstance(b, ToolUseBlock)]
        assert uses and uses[0].input == {"city": "Oslo"}
        history = [
            *user("Weather in Oslo?"),
            {"role": "assistant", "content": to_dict(first.content)},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "-3 C"}],
            },
        ]
        answer = await r.claude.messages.create(
            model=MODEL, max_tokens=256, tools=[WEATHER], messages=history
        )
        assert "-3 C" in answer.text


async def test_simulated_client_answers_offline() -> None:
    async with simulated_client() as claude:
        message = await claude.messages.create(model=MODEL, max_tokens=32, messages=user("ping"))
    assert message.text == "ping"


async def test_missing_required_fields_fail_before_sending(make_rig) -> None:
    async with make_rig() as r:
        with pytest.raises(ConfigError, match="max_tokens is required"):
            await r.claude.messages.create(model=MODEL, messages=user("x"))
        with pytest.raises(ConfigError, match="messages is required"):
            await r.claude.messages.create(model=MODEL, max_tokens=5)
        assert r.attempts() == []


async def test_a_stream_left_early_gives_its_connection_slot_back(make_rig) -> None:
    """Breaking out of the events, or never reading them, frees the attempt's slot at
    once; a stream read to its end frees it too."""
    async with make_rig() as r:
        slots = r.claude.engine.slots()
        async with r.claude.messages.stream(
            model=MODEL, max_tokens=64, messages=user("left early one two three")
        ) as s:
            async for _event in s:
                assert slots.in_flight == 1
                break
        assert slots.in_flight == 0
        async with r.claude.messages.stream(
            model=MODEL, max_tokens=64, messages=user("read through")
        ) as s:
            assert (await s.get_final_text()) == "read through"
            assert slots.in_flight == 0
        stream = r.claude.messages.stream(model=MODEL, max_tokens=64, messages=user("x y"))
        texts = stream.text_stream
        assert await texts.__anext__() == "x"
        await texts.aclose()  # what the event loop does to an abandoned iterator
        assert slots.in_flight == 0


async def test_a_cancelled_call_gives_its_slot_and_probe_back(make_rig) -> None:
    """Cancelled mid-request (a caller's timeout, a task group): nothing stays held."""
    import asyncio

    async with make_rig({"latency": {"ttft": 5.0}}) as r:
        task = asyncio.ensure_future(r.create("slow"))
        for _ in range(50):
            await asyncio.sleep(0)
            if r.claude.engine.slots().in_flight:
                break
        assert r.claude.engine.slots().in_flight == 1  # cancelled while holding its slot
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert r.claude.engine.slots().in_flight == 0


async def test_the_simulated_client_starts_one_simulator_for_concurrent_first_calls() -> None:
    import asyncio

    async with simulated_client() as claude:
        replies = await asyncio.gather(
            *(
                claude.messages.create(model=MODEL, max_tokens=8, messages=user(f"p{i}"))
                for i in range(5)
            )
        )
        assert [m.text for m in replies] == [f"p{i}" for i in range(5)]
        transport = claude.transport
        assert transport.simulator is not None  # type: ignore[attr-defined]
        assert len(transport.simulator.ledger) == 5  # type: ignore[attr-defined]
