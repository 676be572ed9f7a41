"""Agents keep their context: compaction through the client, summaries kept in the session,
recall of evicted facts, calibrated estimates reported as metrics. Against the simulator."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from chorus.agent import Agent
from chorus.agent.session import Session
from chorus.client import Claude
from chorus.context import ContextPolicy, ContextState, Summary
from chorus.context.evicted import CANDIDATES
from chorus.errors import ConfigError
from chorus.observe import ContextMetrics
from chorus.protocol import transcript
from chorus.sim import Simulator, config_from_dict
from chorus.store.memory import MemoryStore
from chorus.store.sqlite import SQLiteStore

MODEL = "claude-sonnet-4-5"
FACT = "Please note this. The locker code for the Kestrel team is 4821."
QUESTION = "What is the locker code for the Kestrel team?"


def filler(i: int) -> str:
    return f"Turn {i}: we walked along the river and talked about the weather again."


async def test_a_long_session_compacts_keeps_summaries_and_recalls_an_evicted_fact(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat.db"
    registry = CollectorRegistry()
    metrics = ContextMetrics(registry)
    async with Simulator(config_from_dict({"behaviour": "recall"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model=MODEL,
            client=claude,
            max_tokens=200,
            context=ContextPolicy(max_input_tokens=1_200),
            metrics=metrics,
        )
        store = SQLiteStore(path)
        session = Session(agent, "s1", store=store)
        await session.send(FACT)
        summaries_seen = 0
        usage_with_summary = None
        for i in range(60):
            result = await session.send(filler(i))
            if len(result.context.summaries) > summaries_seen:
                summaries_seen = len(result.context.summaries)
                usage_with_summary = result.usage
        await store.close()
        assert summaries_seen >= 2
        # A turn that compacted paid for its summary: more input than its own call.
        assert usage_with_summary is not None and usage_with_summary.input_tokens > 0
        # A restart: the same file, a new store. The full history and the summaries are there.
        store = SQLiteStore(path)
        session = Session(agent, "s1", store=store)
        history = await session.history()
        assert len(history) == 2 * 61 and history[0]["content"] == FACT
        assert await session.history(0, 10) == history[:10]  # a page at a time
        assert await session.history(115) == history[115:]
        assert await session.history(60, 5) == history[60:65]
        kept = await session.context()
        assert len(kept.summaries) == summaries_seen and kept.recalls == {}
        assert transcript.problems(history) == []
        before = len(sim.ledger)
        answer = await session.send(QUESTION)
        calls = [e for e in sim.ledger[before:] if e.path == "/v1/messages"]
        await store.close()
        await claude.aclose()
    assert "4821" in answer.text  # evicted long ago, recalled
    assert len(calls) in (1, 2)  # the answer, and at most one new chunk summarised
    assert len(answer.context.summaries) >= summaries_seen
    # The metrics saw every call: estimates calibrated to within a few percent by now.
    errors = registry.get_sample_value(
        "chorus_context_estimate_error_ratio_count", {"model": MODEL}
    )
    assert errors is not None and errors >= 62
    assert registry.get_sample_value("chorus_context_compactions_total", {"model": MODEL}) >= 2
    assert registry.get_sample_value("chorus_context_recalled_exchanges_total", {"model": MODEL})


async def test_the_estimate_error_shrinks_as_the_agent_learns() -> None:
    registry = CollectorRegistry()
    metrics = ContextMetrics(registry)
    async with Simulator(config_from_dict({"behaviour": "echo"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(model=MODEL, client=claude, max_tokens=100, metrics=metrics)
        session = Session(agent, "s2")
        for i in range(6):
            await session.send(filler(i) * 10)
        manager = agent.context
        assert manager is not None
        last_error = abs(manager.estimator.error[MODEL])
        await claude.aclose()
    # The base estimate errs high on purpose; after a few calls it is within 5%.
    assert last_error < 0.05
    assert MODEL in manager.estimator.ratio


async def test_a_store_written_before_context_state_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        """CREATE TABLE chorus_sessions (id TEXT PRIMARY KEY, seq INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT, lease_token INTEGER NOT NULL DEFAULT 0,
        lease_expires REAL NOT NULL DEFAULT 0, pending_seq INTEGER, pending BLOB,
        created REAL NOT NULL, updated REAL NOT NULL);
        INSERT INTO chorus_sessions (id, seq, created, updated) VALUES ('old', 2, 0, 0);
        CREATE TABLE chorus_messages (session_id TEXT NOT NULL, seq INTEGER NOT NULL,
        role TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
        INSERT INTO chorus_messages VALUES ('old', 1, 'user', '"hello"', 0);
        INSERT INTO chorus_messages VALUES ('old', 2, 'assistant', '"hi"', 0);"""
    )
    db.close()
    store = SQLiteStore(path)
    loaded = await store.load("old")
    assert loaded.seq == 2 and loaded.context is None
    lease = await store.acquire("old", "me", 30)
    await store.commit(
        lease,
        2,
        [{"role": "user", "content": "again"}, {"role": "assistant", "content": "ok"}],
        b'{"summaries":[]}',
    )
    again = await store.load("old")
    await store.close()
    assert again.seq == 4 and again.context == b'{"summaries":[]}'


async def test_count_tokens_counts_what_the_agent_would_send_and_calibrates() -> None:
    async with Simulator(config_from_dict({"behaviour": "echo"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(model=MODEL, system="Be brief.", client=claude, max_tokens=100)
        history = [
            {"role": "user", "content": filler(0)},
            {"role": "assistant", "content": "Noted."},
        ]
        counted = await agent.count_tokens("And the weather?", history=history)
        direct = await claude.messages.count_tokens(
            model=MODEL,
            system=[{"type": "text", "text": "Be brief."}],
            messages=[*history, {"role": "user", "content": "And the weather?"}],
        )
        await claude.aclose()
    assert counted == direct.input_tokens
    manager = agent.context
    assert manager is not None and MODEL in manager.estimator.ratio


async def test_a_tool_using_session_never_sends_more_than_its_budget() -> None:
    """Every request the simulator received, counted by the simulator, fits the budget; every
    transcript it received was valid (it would have answered 400 otherwise)."""
    from chorus.agent import tool

    @tool
    def lookup(city: str) -> str:
        """Look up everything known about a city."""
        return f"Report on {city}: " + "the river is high and the bridges are busy. " * 60

    budget = 2_000
    async with Simulator(config_from_dict({"behaviour": "auto"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model=MODEL,
            client=claude,
            tools=[lookup],
            max_tokens=200,
            context=ContextPolicy(max_input_tokens=budget),
        )
        session = Session(agent, "tools")
        for i in range(25):
            prompt = f"Please look up the city Lyon{i} for me." if i % 2 else filler(i)
            await session.send(prompt)
        history = await session.history()
        ledger = list(sim.ledger)
        await claude.aclose()
    calls = [e for e in ledger if e.path == "/v1/messages"]
    assert all(e.status == 200 for e in calls)
    assert any(b.get("type") == "tool_result" for m in history for b in _blocks(m))
    sizes = [
        e.input_tokens + e.cache_read_input_tokens + e.cache_creation_input_tokens for e in calls
    ]
    assert max(sizes) <= budget, sizes
    assert max(sizes[-10:]) > budget // 2  # the window did fill: compaction kept it in
    assert transcript.problems(history) == []


def _blocks(message: dict[str, object]) -> list[dict[str, object]]:
    content = message["content"]
    return content if isinstance(content, list) else []


class _CountsEveryCharacter:
    """A client whose API counts one token per character (as CJK text costs) and refuses
    prompts over ``limit``; everything else goes to the simulator."""

    def __init__(self, inner: Claude, limit: int) -> None:
        self.inner, self.limit, self.sizes = inner, limit, []
        self.messages = self

    async def create(self, **request: object) -> object:
        from chorus.errors import PromptTooLongError

        size = sum(len(str(m["content"])) for m in request["messages"])  # type: ignore[attr-defined]
        self.sizes.append(size)
        if size > self.limit:
            raise PromptTooLongError(
                f"prompt is too long: {size} tokens > {self.limit} maximum",
                status=400,
                type="invalid_request_error",
            )
        return await self.inner.messages.create(**request)


async def test_prompt_too_long_with_context_management_off_learns_the_real_count() -> None:
    history: list[dict[str, object]] = []
    for i in range(50):
        history.append(
            {"role": "user", "content": "東京の天気について話しましょう。" * 30 + str(i)}
        )
        history.append({"role": "assistant", "content": "はい。"})
    async with Simulator(config_from_dict({"behaviour": "echo"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        client = _CountsEveryCharacter(claude, limit=8_000)
        agent = Agent(model=MODEL, client=client, context=False, max_tokens=100)
        result = await agent.run("最後の質問は", history=history)
        await claude.aclose()
    assert result.text == "最後の質問は"
    assert len(client.sizes) == 2 and client.sizes[0] > 8_000 >= client.sizes[1]


async def test_summaries_count_against_the_run_budget() -> None:
    from chorus.agent import LimitExceeded, Limits

    history: list[dict[str, object]] = []
    for i in range(60):
        history += [
            {"role": "user", "content": filler(i)},
            {"role": "assistant", "content": "Noted."},
        ]
    async with Simulator(config_from_dict({"behaviour": "echo"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model=MODEL,
            client=claude,
            max_tokens=100,
            context=ContextPolicy(max_input_tokens=600, chunk=0.1, compact_at=0.5),
            limits=Limits(max_tokens_total=400),
        )
        with pytest.raises(LimitExceeded):
            await agent.run("go on", history=history)
        calls = [e for e in sim.ledger if e.path == "/v1/messages"]
        await claude.aclose()
    spent = sum(e.input_tokens + e.output_tokens for e in calls)
    assert 400 <= spent < 400 + 250  # stopped at the budget: no summary, no call after it


async def test_a_held_session_keeps_its_transcript_as_bytes_between_turns() -> None:
    async with Simulator() as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(model=MODEL, client=claude, max_tokens=64, context=ContextPolicy())
        session = Session(agent, "idle")
        for i in range(5):
            await session.send(filler(i))
        cached = session._cached
        assert cached is not None and len(cached.messages) == 10
        assert cached.messages._hot == {}  # nothing decoded is held while it is idle
        assert list(cached.messages) == await session.history()
        with pytest.raises(ConfigError):
            await session.history(-1, 5)
        with pytest.raises(ConfigError):
            await session.history(0, 0)
        await claude.aclose()


class CountingStore(SQLiteStore):
    """A SQLite store that notes how many messages each load and search returned."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.loaded: list[int] = []
        self.searched: list[int] = []

    async def load(self, session_id: str, since: int = 0):  # type: ignore[no-untyped-def]
        found = await super().load(session_id, since)
        self.loaded.append(len(found.messages))
        return found

    async def search(self, session_id, words, before, most):  # type: ignore[no-untyped-def]
        found = await super().search(session_id, words, before, most)
        self.searched.append(sum(len(m) for _, m in found))
        return found


async def test_a_cold_session_loads_the_window_not_the_log_and_recalls_through_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat.db"
    async with Simulator(config_from_dict({"behaviour": "recall"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model=MODEL,
            client=claude,
            max_tokens=200,
            context=ContextPolicy(max_input_tokens=1_200),
        )
        store = CountingStore(path)
        session = Session(agent, "s1", store=store)
        await session.send(FACT)
        for i in range(80):
            await session.send(filler(i))
        held = session._cached
        assert held is not None
        boundary = held.context.boundary
        assert boundary > 100 and held.messages.start == boundary  # the window only
        assert len(held.messages.encoded()) == 162 - boundary
        await store.close()
        # A new process: the first turn reads the seq and state, then the messages since
        # the last compaction; the fact from the first turn comes back through the search.
        store = CountingStore(path)
        session = Session(agent, "s1", store=store)
        answer = await session.send(QUESTION)
        assert "4821" in answer.text
        assert store.loaded == [0, 162 - boundary]
        assert store.searched and max(store.searched) < 20
        assert (
            len(await session.history()) == 164
            and transcript.problems(await session.history()) == []
        )
        await store.close()
        await claude.aclose()


async def test_a_session_recalls_a_fact_from_turn_10_at_turn_20000() -> None:
    # 20,000 turns committed (the store's own API, for speed), their first 19,990 summarised;
    # a new process asks about turn 10. The session loads the last ten turns, and recall
    # finds turn 10 through the store's search, reading a few turns, not 20,000.
    store = MemoryStore()
    lease = await store.acquire("long", "w", 60)
    seq = 0
    for turn in range(20_000):
        said = FACT if turn == 10 else filler(turn)
        seq = await store.commit(
            lease,
            seq,
            [
                {"role": "user", "content": said},
                {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]},
            ],
            ContextState([Summary(0, 39_980, "Small talk.")]).encode() if turn == 19_999 else None,
        )
    await store.release(lease)
    searched: list[int] = []
    search = store.search

    async def counted(*args: Any) -> Any:
        found = await search(*args)
        searched.append(sum(len(m) for _, m in found))
        return found

    store.search = counted  # type: ignore[method-assign]
    async with Simulator(config_from_dict({"behaviour": "recall"})) as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model=MODEL,
            client=claude,
            max_tokens=200,
            context=ContextPolicy(max_input_tokens=2_000),
        )
        session = Session(agent, "long", store=store)
        answer = await session.send(QUESTION)
        held = session._cached
        await claude.aclose()
    assert "4821" in answer.text
    assert searched and max(searched) <= 2 * CANDIDATES
    assert held is not None and held.messages.start >= 39_980
