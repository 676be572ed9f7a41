"""Property: whatever happens — faults, tool failures, interrupted turns — every stored
transcript is one the API (the simulator's validator) accepts, and turns land whole."""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chorus.agent import Agent, ToolRetry, tool
from chorus.agent.session import Session
from chorus.client import Claude
from chorus.clock import FakeClock
from chorus.errors import ChorusError
from chorus.protocol import transcript
from chorus.sim import Simulator
from chorus.store import SQLiteStore

PROMPTS = {
    "weather": "What is the weather in Bergen?",
    "plain": "Just saying hello.",
    "question": "What did I ask about before?",
}
FAULTS = [
    "",
    "529",
    "429(retry_after=1)",
    "cut(after=5)",
    "sse_error(after=5)",
    "max_tokens_tool",
    "bad_tool_json",
]
OPS = st.tuples(
    st.sampled_from(["send", "crash"]),
    st.sampled_from(sorted(PROMPTS)),
    st.sampled_from(["ok", "raise", "retry", "slow"]),
    st.sampled_from(FAULTS),
    st.booleans(),  # stream the turn (events) or not
)


def make_tool(behaviour: str) -> Any:
    @tool(timeout=0.05)
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        if behaviour == "raise":
            raise RuntimeError("weather service down")
        if behaviour == "retry":
            raise ToolRetry("say the country too")
        if behaviour == "slow":
            await asyncio.sleep(1)
        return f"rain in {city}"

    return get_weather


async def scenario(ops: list[tuple[str, str, str, str, bool]], seed: int) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "s.db")
        async with Simulator() as sim:
            claude = Claude(api_key="k", base_url=sim.base_url, clock=FakeClock(), max_retries=3)
            committed = 0
            for kind, prompt, behaviour, fault, live in ops:
                request = {"extra_headers": {"x-chorus-fault": fault}} if fault else {}
                agent = Agent(
                    model="claude-sonnet-4-5",
                    tools=[make_tool(behaviour)],
                    client=claude,
                    request=request,
                )
                session = Session(agent, "s", store=store, concurrency="wait", lease_ttl=0.05)
                if kind == "send":
                    try:
                        if live:
                            async for _ in session.stream(PROMPTS[prompt]):
                                pass
                        else:
                            await session.send(PROMPTS[prompt])
                    except ChorusError:
                        pass
                else:  # an interrupted turn: the task dies somewhere in the middle
                    task = asyncio.create_task(session.send(PROMPTS[prompt]))
                    await asyncio.sleep(rng.uniform(0, 0.02))
                    task.cancel()
                    try:
                        await task
                    except (asyncio.CancelledError, ChorusError):
                        pass
                loaded = await store.load("s")  # validates on load
                assert transcript.problems(loaded.messages) == [] or loaded.seq == 0
                assert loaded.seq == len(loaded.messages) >= committed
                assert loaded.messages == [] or loaded.messages[-1]["role"] == "assistant"
                committed = loaded.seq
            await claude.aclose()
        await store.close()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=6), seed=st.integers(0, 1000))
def test_random_interleavings_keep_every_transcript_sendable(
    ops: list[tuple[str, str, str, str, bool]], seed: int
) -> None:
    asyncio.run(scenario(ops, seed))
