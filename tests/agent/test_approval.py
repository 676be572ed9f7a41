"""Tools that need approval pause the run; a person's decision resumes it exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chorus.agent import Agent, tool
from chorus.agent.session import Session
from chorus.client import Claude
from chorus.errors import SessionError
from chorus.protocol import transcript
from chorus.sim import Simulator
from chorus.store import MemoryStore, SQLiteStore

MODEL = "claude-sonnet-4-5"
RAN: list[str] = []


@tool(approval=True, side_effects=True)
def transfer_money(amount: int) -> str:
    """Transfer money to the landlord."""
    RAN.append(f"transfer {amount}")
    return f"transferred {amount}"


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


@pytest.fixture
async def claude() -> AsyncIterator[Claude]:
    async with Simulator() as sim:
        client = Claude(api_key="k", base_url=sim.base_url)
        yield client
        await client.aclose()


async def test_run_pauses_then_resumes(claude: Claude) -> None:
    agent = Agent(model=MODEL, tools=[transfer_money], client=claude)
    paused = await agent.run("please transfer money, 300 of it")
    assert paused.stop_reason == "paused" and RAN == []
    assert [c.name for c in paused.pending] == ["transfer_money"]
    assert paused.paused is not None
    call = paused.pending[0]
    done = await agent.resume(paused.paused, {call.id: True})
    assert RAN == ["transfer 300"]
    assert done.stop_reason == "end_turn" and "transferred 300" in done.output
    assert transcript.problems(done.messages) == []
    declined = await agent.resume(paused.paused, {call.id: False})
    assert RAN == ["transfer 300"]
    assert "declined" in str(declined.messages)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_session_pause_is_durable_and_resumes_exactly_once(
    claude: Claude, tmp_path: Path, kind: str
) -> None:
    def store() -> Any:
        return MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "s.db")

    first_store = store()
    agent = Agent(model=MODEL, tools=[transfer_money], client=claude)
    session = Session(agent, "rent", store=first_store)
    paused = await session.send("please transfer money, 900 of it")
    assert paused.stop_reason == "paused" and paused.seq == 0
    assert await session.history() == []  # nothing half-done is in the transcript
    with pytest.raises(SessionError, match="waiting for approval"):
        await session.send("hello?")
    if kind == "sqlite":
        await first_store.close()
        session = Session(agent, "rent", store=store())  # a restart in between
    (call,) = await session.pending()
    result = await session.resume({call.id: True})
    assert result.seq == 4 and RAN == ["transfer 900"]
    assert transcript.problems(await session.history()) == []
    with pytest.raises(SessionError, match="no turn waiting"):
        await session.resume({call.id: True})
    assert RAN == ["transfer 900"]  # resumed exactly once
    await session.store.close()


async def test_discard_leaves_the_session_as_it_was(claude: Claude) -> None:
    agent = Agent(model=MODEL, tools=[transfer_money], client=claude)
    session = Session(agent, "s")
    await session.send("please transfer money, 5")
    assert await session.discard() is True
    assert await session.pending() == [] and await session.history() == []
    assert (await session.send("just saying hi")).seq == 2


async def test_a_long_session_pauses_and_resumes_over_a_history_held_from_its_compaction(
    claude: Claude, tmp_path: Path
) -> None:
    from chorus.context import ContextPolicy

    path = tmp_path / "long.db"
    agent = Agent(
        model=MODEL,
        tools=[transfer_money],
        client=claude,
        max_tokens=200,
        context=ContextPolicy(max_input_tokens=1_500),
    )
    store = SQLiteStore(path)
    session = Session(agent, "rent", store=store)
    for i in range(60):
        await session.send(f"Turn {i}: the weather by the river was mild again today.")
    assert session._cached is not None and session._cached.messages.start > 0
    paused = await session.send("please transfer money, 700 of it")
    assert paused.stop_reason == "paused" and paused.paused is not None
    assert paused.paused["offset"] > 0  # the snapshot keeps the window, not the log
    await store.close()
    store = SQLiteStore(path)
    again = Session(agent, "rent", store=store)
    (call,) = await again.pending()
    done = await again.resume({call.id: True})
    assert RAN == ["transfer 700"] and done.stop_reason == "end_turn"
    history = await again.history()
    assert len(history) == done.seq and transcript.problems(history) == []
    assert "transferred 700" in str(history[-3:])
    await store.close()
