"""The turn journal in the SQLite store: entries ride with commits, a streamed turn's
start (its number already told to a reader) is written in the next transaction, and a
turn that commits nothing is answered only once its entry is durable."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from chorus.serve.journal import SQLiteJournal, TurnRow
from chorus.store import SQLiteStore
from tests.serve.conftest import config, served


async def test_a_lazy_start_waits_for_company_and_a_soon_one_does_not(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "j.db", lazy_window=10.0)
    journal = SQLiteJournal(store)
    await journal.open()
    lazy = journal.start(TurnRow("t/a/s1", 1, "running", None, 0, 1.0))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not asyncio.ensure_future(lazy).done()
    await asyncio.wait_for(
        journal.start(TurnRow("t/a/s2", 1, "running", "k", 0, 1.0), soon=True), 5
    )
    await lazy  # (it rode with the streamed turn's entry: writes keep their order)
    assert (await journal.get("t/a/s1", 1)) is not None
    assert (await journal.by_key("t/a/s2", "k")) is not None
    await store.close()


async def test_entries_queued_before_close_are_durable_after_it(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    store = SQLiteStore(path, lazy_window=10.0)
    journal = SQLiteJournal(store)
    await journal.open()
    row = TurnRow("t/a/s1", 1, "running", None, 0, 1.0)
    journal.start(row)
    row.status, row.result, row.finished = "done", {"turn": 1}, 2.0
    journal.finish(row)
    await asyncio.wait_for(store.close(), 10)
    store = SQLiteStore(path)
    journal = SQLiteJournal(store)
    await journal.open()
    found = await journal.get("t/a/s1", 1)
    assert found is not None and found.status == "done" and found.result == {"turn": 1}
    assert await journal.running() == []
    await store.close()


async def test_a_failed_json_turn_is_answered_once_its_journal_entry_is_durable(
    tmp_path: Path,
) -> None:
    """A failed turn commits nothing of its own, so nothing else carries its (lazy) journal
    entry to the disk: it is answered only once the entry is durable, and a crash after
    the answer cannot give its number to a later turn."""
    path = tmp_path / "f.db"
    turns = "/v1/agents/writer/sessions/f/turns"
    async with served(config(store={"path": str(path)}), sim={"faults": {"*": "ok;400"}}) as s:
        first, _, _ = await s.post(turns, {"message": "hi"})  # (leases the session: held)
        s.service.store.lazy_window = 30.0  # a lazy entry alone would wait past the test
        status, body, _ = await asyncio.wait_for(s.post(turns, {"message": "again"}), 10)
        with sqlite3.connect(path) as db:  # what another process sees: committed rows
            rows = db.execute("SELECT turn, status FROM chorus_turns ORDER BY turn").fetchall()
    assert first == 200 and status != 200, body
    assert rows == [(1, "done"), (2, "failed")]


async def test_a_cancelled_json_turn_is_answered_once_its_journal_entry_is_durable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    turns = "/v1/agents/writer/sessions/c/turns"
    slow = {"latency": {"ttft": 0.0, "tokens_per_second": 20}}
    async with served(config(store={"path": str(path)}), sim=slow) as s:
        await s.post(turns, {"message": "hi"})
        s.service.store.lazy_window = 30.0
        said = "please repeat after me: " + " ".join(f"word{i}" for i in range(40))
        running = asyncio.create_task(s.post(turns, {"message": said}))
        await asyncio.sleep(0.3)  # the model is mid-reply
        cancel, _, _ = await s.post(f"{turns}/2/cancel", {})
        status, body, _ = await asyncio.wait_for(running, 10)
        with sqlite3.connect(path) as db:
            rows = db.execute("SELECT turn, status FROM chorus_turns ORDER BY turn").fetchall()
    assert cancel == 200 and status != 200, body
    assert rows == [(1, "done"), (2, "cancelled")]


@pytest.mark.parametrize("where", ["turn", "agent task", "team task"])
async def test_a_streamed_turns_number_is_told_only_once_its_start_entry_is_durable(
    where: str,
) -> None:
    """A crash after the number was told but before the entry was durable would let a
    later turn take the number: so the stream (its headers included) waits for it; the
    same for an A2A task's id, an agent's or a team's."""
    async with served(config()) as s:
        journal, held = s.service.journal, asyncio.get_running_loop().create_future()
        start = journal.start

        def slow_start(row: TurnRow, *, soon: bool = False) -> object:
            written = start(row, soon=soon)

            async def durable() -> None:
                await written
                await held

            return asyncio.ensure_future(durable())

        journal.start = slow_start
        if where == "turn":
            url = s.url + "/v1/agents/assistant/sessions/told/turns"
            body: dict[str, object] = {"message": "hi", "stream": True}
        else:
            url = s.url + ("/a2a/assistant" if where == "agent task" else "/a2a/teams/crew")
            message = {"messageId": "m-told", "role": "ROLE_USER", "parts": [{"text": "fix code"}]}
            body = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendStreamingMessage",
                "params": {"message": message},
            }
        request = asyncio.ensure_future(s.http.post(url, json=body))
        await asyncio.sleep(0.2)
        told_early = request.done()
        held.set_result(None)
        async with await request as response:
            text = await response.text()
            assert response.status == 200, text
            if where == "turn":
                assert response.headers["X-Chorus-Turn"] == "1" and "event: done" in text
            else:
                assert "m-told" in text or "TASK_STATE" in text, text
    assert not told_early


async def test_an_idle_servers_watcher_closes_the_stores_group_window_and_close_restores_it(
    tmp_path: Path,
) -> None:
    """The group window is for a busy server (serve.pacing): at rest a turn's commit waits
    for no company, and the store gets its own window back when the server closes."""
    async with served(config(store={"path": str(tmp_path / "p.db")})) as s:
        store = s.service.store
        await asyncio.sleep(0.1)
        assert store.group_window == 0.0  # (it starts at 0.005: the watcher set it)
        status, _, _ = await s.post("/v1/agents/writer/sessions/p/turns", {"message": "hi"})
        assert status == 200
    assert store.group_window == 0.005  # (the server closed)


async def test_the_stores_transactions_are_on_the_metrics(tmp_path: Path) -> None:
    async with served(config(store={"path": str(tmp_path / "m.db")})) as s:
        status, _, _ = await s.post("/v1/agents/writer/sessions/m/turns", {"message": "hi"})
        _, text, _ = await s.get("/metrics")
    assert status == 200
    counted = [line for line in text.splitlines() if line.startswith("chorus_store_commit")]
    count = next(line for line in counted if line.startswith("chorus_store_commit_seconds_count"))
    assert float(count.split()[-1]) >= 1
    writes = next(line for line in counted if line.startswith("chorus_store_commit_writes_total"))
    assert float(writes.split()[-1]) >= float(count.split()[-1])
