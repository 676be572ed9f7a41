"""The turn journal in the SQLite store: entries ride with commits, and a streamed turn's
start (its number already told to a reader) is written in the next transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chorus.serve.journal import SQLiteJournal, TurnRow
from chorus.store import SQLiteStore


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
