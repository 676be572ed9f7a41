"""Agents and sessions against the simulator over loopback."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chorus.agent import (
    Agent,
    Done,
    LimitExceeded,
    Limits,
    TextChunk,
    ToolCallStarted,
    ToolContext,
    ToolResult,
    ToolRetry,
    TurnCommitted,
    tool,
)
from chorus.agent.session import Session
from chorus.client import Claude
from chorus.errors import SessionBusyError
from chorus.protocol import transcript
from chorus.sim import Simulator, config_from_dict
from chorus.store import SQLiteStore

MODEL = "claude-sonnet-4-5"
CALLS: list[tuple[str, dict[str, Any]]] = []


@tool
async def get_weather(city: str) -> str:
    """Current weather for a city."""
    CALLS.append(("get_weather", {"city": city}))
    return f"17 C in {city}"


@tool
def stock_price(ticker: str) -> float:
    """Latest share price for a ticker symbol."""
    CALLS.append(("stock_price", {"ticker": ticker}))
    return 123.5


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


@pytest.fixture
async def claude() -> AsyncIterator[Claude]:
    async with Simulator() as sim:
        client = Claude(api_key="k", base_url=sim.base_url)
        client.sim = sim  # type: ignore[attr-defined]
        yield client
        await client.aclose()


async def test_run_with_a_tool(claude: Claude) -> None:
    agent = Agent(model=MODEL, system="Be brief.", tools=[get_weather, stock_price], client=claude)
    result = await agent.run("What's the weather in Madrid?")
    assert CALLS == [("get_weather", {"city": "Madrid"})]
    assert "17 C in Madrid" in result.output
    assert result.stop_reason == "end_turn" and result.steps == 2
    assert result.usage.input_tokens > 0 and result.cost > 0
    assert transcript.problems(result.messages) == []
    assert [m["role"] for m in result.messages] == ["user", "assistant", "user", "assistant"]


async def test_stream_events_in_order(claude: Claude) -> None:
    agent = Agent(model=MODEL, tools=[get_weather], client=claude)
    events = [e async for e in agent.stream("weather in Rome?")]
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ToolCallStarted") < kinds.index("ToolResult") < len(kinds) - 1
    assert isinstance(events[-1], Done)
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    result = next(e for e in events if isinstance(e, ToolResult))
    assert started.name == "get_weather" and result.id == started.id and not result.is_error
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert "17 C in Rome" in text


async def test_tool_failures_become_error_results(claude: Claude) -> None:
    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        raise RuntimeError("backend down\nTraceback (most recent call last): secret")

    agent = Agent(model=MODEL, tools=[get_weather], client=claude)
    result = await agent.run("weather in Lima?")
    tool_result = result.messages[2]["content"][0]
    assert tool_result["is_error"] is True
    assert tool_result["content"].startswith("get_weather failed: RuntimeError: backend down")
    assert "\n" not in tool_result["content"]


async def test_tool_retry_signal_and_timeout(claude: Claude) -> None:
    @tool(timeout=0.2)
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        await asyncio.sleep(5)
        return "never"

    @tool(name="stock_price")
    def stock(ticker: str) -> str:
        """Latest share price for a ticker symbol."""
        raise ToolRetry("use the exchange prefix, e.g. NYSE:ACME")

    agent = Agent(model=MODEL, tools=[get_weather, stock], client=claude)
    slow = await agent.run("weather in Quito?")
    assert "did not finish within 0.2 s" in slow.messages[2]["content"][0]["content"]
    retry = await agent.run("stock price for ACME ticker?")
    assert retry.messages[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": retry.messages[1]["content"][-1]["id"],
        "content": "use the exchange prefix, e.g. NYSE:ACME",
        "is_error": True,
    }


async def test_approval(claude: Claude) -> None:
    asked: list[str] = []

    @tool(approval=True, side_effects=True)
    async def get_weather(city: str, ctx: ToolContext) -> str:
        """Current weather for a city."""
        CALLS.append(("get_weather", {"key": ctx.idempotency_key}))
        return "ok"

    async def deny(call: Any) -> bool:
        asked.append(call.name)
        return False

    denied = await Agent(model=MODEL, tools=[get_weather], client=claude, approve=deny).run(
        "weather in Oslo?"
    )
    assert asked == ["get_weather"] and CALLS == []
    assert "declined" in denied.messages[2]["content"][0]["content"]
    approved = await Agent(
        model=MODEL, tools=[get_weather], client=claude, approve=lambda c: True
    ).run("weather in Oslo?", session_id="s-1")
    assert approved.messages[2]["content"][0]["content"] == "ok"
    assert len(CALLS) == 1 and len(CALLS[0][1]["key"]) == 32


@dataclasses.dataclass
class Forecast:
    city: str
    celsius: int


async def test_structured_output(claude: Claude) -> None:
    agent = Agent(model=MODEL, client=claude, output_type=Forecast)
    result = await agent.run("Forecast for Paris: 21 degrees")
    assert result.stop_reason == "output"
    assert isinstance(result.output, Forecast)
    assert result.output.celsius == 21
    assert transcript.problems(result.messages) == []


async def test_max_tokens_inside_a_tool_use_never_runs_it() -> None:
    config = config_from_dict(
        {
            "faults": {"*": "max_tokens_tool"},  # the first reply only
            # the scripted model retries the call when told it was cut off
            "tool_rules": [{"when": "cut off", "tool": "get_weather", "input": {"city": "Riga"}}],
        }
    )
    async with Simulator(config) as sim:
        client = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model=MODEL, tools=[get_weather], client=client, limits=Limits(max_recoveries=1)
        )
        result = await agent.run("weather in Riga?")
        await client.aclose()
    assert CALLS == [("get_weather", {"city": "Riga"})]  # only the complete call ran
    assert "was not run" in str(result.messages)
    assert transcript.problems(result.messages) == []


async def test_budget_is_an_error(claude: Claude) -> None:
    agent = Agent(model=MODEL, tools=[get_weather], client=claude, limits=Limits(max_steps=1))
    with pytest.raises(LimitExceeded):
        await agent.run("weather in Bern?")


async def test_session_turns_are_atomic_and_durable(claude: Claude, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    agent = Agent(model=MODEL, tools=[get_weather], client=claude)
    session = Session(agent, "user-42", store=store)
    first = await session.send("weather in Porto?")
    assert first.seq == 4
    events = [e async for e in session.stream("thanks, and what did I ask about?")]
    committed = [e for e in events if isinstance(e, TurnCommitted)]
    assert committed == [TurnCommitted("user-42", 6)]
    history = await session.history()
    assert len(history) == 6 and transcript.problems(history) == []
    failing = Agent(model=MODEL, tools=[get_weather], client=claude, limits=Limits(max_steps=1))
    with pytest.raises(LimitExceeded):
        await Session(failing, "user-42", store=store).send("weather in Faro?")
    assert await session.history() == history  # a failed turn leaves the session as it was
    await store.close()


async def test_concurrent_sends_conflict_or_wait(claude: Claude) -> None:
    gate = asyncio.Event()

    @tool
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        await gate.wait()
        return "rain"

    agent = Agent(model=MODEL, tools=[get_weather], client=claude)
    rejecting = Session(agent, "busy")
    first = asyncio.create_task(rejecting.send("weather in Bonn?"))
    await asyncio.sleep(0.05)
    with pytest.raises(SessionBusyError):
        await Session(agent, "busy", store=rejecting.store).send("hello")
    waiting = Session(agent, "busy", store=rejecting.store, concurrency="wait")
    second = asyncio.create_task(waiting.send("hello again"))
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(first, second)
    assert [r.seq for r in results] == [4, 6]


def test_agent_config_errors() -> None:
    from chorus.errors import ConfigError

    with pytest.raises(ConfigError, match="model"):
        Agent(model="")
    with pytest.raises(ConfigError, match="two tools are named"):
        Agent(model=MODEL, tools=[get_weather, get_weather])


@pytest.mark.parametrize("limit", [1, 2])
async def test_parallel_tool_calls_run_concurrently_up_to_the_limit(
    claude: Claude, limit: int
) -> None:
    running = {"now": 0, "peak": 0}

    async def busy(label: str) -> str:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0.05)
        running["now"] -= 1
        return label

    @tool
    async def weather_now(city: str) -> str:
        """Weather right now."""
        return await busy("now")

    @tool
    async def weather_later(city: str) -> str:
        """Weather later today."""
        return await busy("later")

    agent = Agent(
        model=MODEL, tools=[weather_now, weather_later], client=claude, tool_concurrency=limit
    )
    result = await agent.run("weather in Nice?")
    results = result.messages[2]["content"]
    assert [r["content"] for r in results] == ["now", "later"]
    assert running["peak"] == limit


async def test_a_session_rereads_its_transcript_when_another_writer_committed() -> None:
    """A session keeps its transcript in memory between turns, but only while nobody else
    held the lease: two sessions taking turns on one conversation each see the other's."""
    from chorus.store import MemoryStore
    from chorus.testing import ScriptedModel

    model = ScriptedModel(lambda request: "ok " + request["messages"][-1]["content"])
    agent = Agent(model="claude-sonnet-4-5", client=model, context=False)
    store = MemoryStore()
    first, second = Session(agent, "shared", store=store), Session(agent, "shared", store=store)
    await first.send("one")
    await first.send("two")  # from memory
    await second.send("three")
    await first.send("four")  # must see "three"
    sent = [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "user"]
    assert sent == ["one", "two", "three", "four"]
    assert [m["content"] for m in await first.history()][::2] == sent


async def test_a_session_started_again_after_delete_is_reread() -> None:
    """Deleting a session starts a new incarnation: a cached transcript of the old one is
    never taken for it, even when the new lease's token happens to follow the old one."""
    from chorus.store import MemoryStore
    from chorus.testing import ScriptedModel

    model = ScriptedModel(lambda request: "ok " + request["messages"][-1]["content"])
    agent = Agent(model="claude-sonnet-4-5", client=model, context=False)
    store = MemoryStore()
    first, second = Session(agent, "s", store=store), Session(agent, "s", store=store)
    await first.send("a1")
    await store.delete("s")
    await second.send("b1")
    await first.send("a2")
    sent = [m["content"] for m in model.requests[-1]["messages"] if m["role"] == "user"]
    assert sent == ["b1", "a2"]


async def test_an_output_type_session_takes_a_second_turn() -> None:
    from chorus.store import MemoryStore
    from chorus.testing import ScriptedModel

    answer = {
        "content": [{"type": "tool_use", "id": "o1", "name": "final_result", "input": {"value": 3}}]
    }
    answers = iter(["o1", "o2"])

    def reply(request):  # type: ignore[no-untyped-def]
        tool = next(t["name"] for t in request["tools"])
        return {"content": [{**answer["content"][0], "id": next(answers), "name": tool}]}

    agent = Agent(
        model="claude-sonnet-4-5", client=ScriptedModel(reply), context=False, output_type=int
    )
    session = Session(agent, "typed", store=MemoryStore())
    assert (await session.send("one?")).output == 3
    assert (await session.send("again?")).output == 3
