"""chorus.testing works as its docstring says: the simulated rig, the scripted model."""

from __future__ import annotations

from chorus import Agent, tool
from chorus.agent.events import TextChunk, ToolResult
from chorus.testing import ScriptedModel, simulated


async def test_the_simulated_rig_shares_one_fake_clock() -> None:
    async with simulated({"faults": {"*": "529;ok"}}) as rig:
        t0 = rig.clock.now()
        msg = await rig.claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
        )
        assert msg.text == "hi"
        assert [e.status for e in rig.sim.ledger] == [529, 200]
        assert rig.clock.now() > t0  # the retry's backoff passed on the fake clock


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


async def test_a_scripted_model_drives_an_agent_through_a_tool_call() -> None:
    model = ScriptedModel(
        [
            {
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "get_weather",
                        "input": {"city": "Oslo"},
                    }
                ]
            },
            "It is sunny in Oslo.",
        ]
    )
    agent = Agent(model="claude-sonnet-4-5", tools=[get_weather], client=model, context=False)
    result = await agent.run("Weather in Oslo?")
    assert result.output == "It is sunny in Oslo."
    assert len(model.requests) == 2
    last = model.requests[1]["messages"][-1]
    assert last["content"][0]["type"] == "tool_result"


async def test_a_scripted_model_streams_its_replies() -> None:
    model = ScriptedModel(lambda request: "streamed " + request["messages"][-1]["content"])
    agent = Agent(model="claude-sonnet-4-5", client=model, context=False)
    events = [e async for e in agent.stream("words")]
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "streamed words"
    assert not any(isinstance(e, ToolResult) for e in events)
