"""Faults 8 and 10 of reference/reliability.md §3 at the agent level, against the simulator."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from chorus.agent import Agent, Limits, tool
from chorus.client import Claude
from chorus.context import ContextOverflowError
from chorus.protocol import transcript
from chorus.sim import Simulator, config_from_dict

RAN: list[dict[str, Any]] = []


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    RAN.append({"city": city})
    return f"9 C in {city}"


def history(exchanges: int, size: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(exchanges):
        out.append({"role": "user", "content": f"old question {i} " + "x" * size})
        out.append({"role": "assistant", "content": f"old answer {i}"})
    return out


async def test_f8_invalid_tool_input_is_never_run_and_goes_back_as_an_error() -> None:
    RAN.clear()
    config = config_from_dict({"faults": {"*": "bad_tool_json"}})  # the first reply only
    async with Simulator(config) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(model="claude-sonnet-4-5", tools=[get_weather], client=claude)
        result = await agent.run("weather in Tromsø?")
        await claude.aclose()
    refused = result.messages[2]["content"][0]
    assert refused["is_error"] is True and "missing required field city" in refused["content"]
    assert RAN == [{"city": "Tromsø"}]  # only the corrected call ran
    assert transcript.problems(result.messages) == []


async def test_f8_corrections_are_bounded() -> None:
    RAN.clear()
    config = config_from_dict({"faults": {"*": "bad_tool_json*10"}})
    async with Simulator(config) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model="claude-sonnet-4-5",
            tools=[get_weather],
            client=claude,
            limits=Limits(max_corrections=2),
        )
        from chorus.agent import TooManyCorrections

        with pytest.raises(TooManyCorrections):
            await agent.run("weather in Oslo?")
        await claude.aclose()
    assert RAN == []


async def test_f10_prompt_too_long_compacts_once_and_retries_once() -> None:
    config = config_from_dict(
        {"models": [{"id": "tiny", "context_window": 2000, "max_output_tokens": 500}]}
    )
    async with Simulator(config) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(model="tiny", client=claude, max_tokens=200)
        old = history(exchanges=12, size=900)  # about 2,800 tokens: over the window
        result = await agent.run("carry on please", history=old)
        attempts = [e.status for e in sim.ledger]
        final = sim.ledger[-1]
        await claude.aclose()
    # One refusal; then the oldest turns are summarised (in chunks, by the model) and the
    # conversation is sent once more, now within the limit the API stated.
    summaries = result.context.summaries
    assert attempts == [400] + [200] * len(summaries) + [200]
    assert 1 <= len(summaries) <= 8
    assert final.input_tokens <= 2000 - 200
    assert result.text == "carry on please"
    assert result.messages[0] == {"role": "user", "content": "carry on please"}  # history untouched
    assert summaries[0].start == 0
    assert all(a.end == b.start for a, b in itertools.pairwise(summaries))


async def test_f10_never_loops() -> None:
    config = config_from_dict(
        {"models": [{"id": "tiny", "context_window": 300, "max_output_tokens": 100}]}
    )
    async with Simulator(config) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(model="tiny", client=claude, max_tokens=50)
        with pytest.raises((ContextOverflowError, Exception)) as info:
            await agent.run("y" * 5000, history=history(exchanges=2, size=100))
        attempts = [e.status for e in sim.ledger]
        await claude.aclose()
    assert attempts.count(400) <= 2 and 200 not in attempts
    assert "too long" in str(info.value) or isinstance(info.value, ContextOverflowError)
