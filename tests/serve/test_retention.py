"""Retention: with ``store.keep_days`` the server deletes sessions idle that long and the
turns (team tasks' too) that ended that long ago; without it, it keeps everything."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from chorus.errors import ConfigError
from tests.serve.conftest import config, served

SESSION = "/v1/agents/assistant/sessions/{}"
TEAM = "/a2a/teams/crew"


def _task(text: str, message_id: str) -> dict[str, object]:
    message = {"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}]}
    return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_sessions_idle_and_turns_ended_that_long_ago_go_the_rest_stay(
    tmp_path: Path, kind: str
) -> None:
    where = {"path": str(tmp_path / "r.db")} if kind == "sqlite" else {"memory": True}
    cfg = config(store=where)
    async with served(cfg) as s:
        assert (await s.post(SESSION.format("old") + "/turns", {"message": "hello"}))[0] == 200
        _, task, _ = await s.post(TEAM, _task("fix the failing Python code", "m-old"))
        await asyncio.sleep(0.4)
        assert (await s.post(SESSION.format("new") + "/turns", {"message": "hello"}))[0] == 200
        sessions, turns = await s.service.prune(0.2)
        assert (sessions, turns) == (1, 2)  # "old", its turn, and the team's task
        assert (await s.get(SESSION.format("old")))[0] == 404
        assert (await s.get(SESSION.format("old") + "/turns/1"))[0] == 404
        _, page, _ = await s.get(SESSION.format("new"))
        assert page["turns"] == 1 and len(page["messages"]) == 2
        got = await s.post(
            TEAM,
            {**_task("", ""), "method": "GetTask", "params": {"id": task["result"]["task"]["id"]}},
        )
        assert got[1]["error"]["code"] == -32001  # (task not found)
        _, again, _ = await s.post(SESSION.format("old") + "/turns", {"message": "hi"})
        assert again["turn"] == 1  # a new session of the same name


async def test_a_server_with_keep_days_prunes_what_an_earlier_one_left(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    async with served(config(store={"path": str(path)})) as s:
        assert (await s.post(SESSION.format("aged") + "/turns", {"message": "hello"}))[0] == 200
    with sqlite3.connect(path) as db:  # forty days ago
        db.execute("UPDATE chorus_sessions SET updated = updated - 40 * 86400")
        db.execute("UPDATE chorus_turns SET finished = finished - 40 * 86400")
    async with served(config(store={"path": str(path)})) as s:  # no keep_days: kept
        assert (await s.get(SESSION.format("aged")))[0] == 200
    async with served(config(store={"path": str(path), "keep_days": 30})) as s:
        for _ in range(100):  # (pruned as the server starts, beside its first requests)
            if (await s.get(SESSION.format("aged")))[0] == 404:
                break
            await asyncio.sleep(0.02)
        assert (await s.get(SESSION.format("aged")))[0] == 404
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM chorus_turns").fetchone()[0] == 0


@pytest.mark.parametrize("days", [0, -1, 1e9])
def test_keep_days_is_a_positive_number_of_days(days: float) -> None:
    with pytest.raises(ConfigError, match=r"store\.keep_days"):
        config(store={"path": "x.db", "keep_days": days})


async def test_a_running_turn_and_its_session_survive_a_prune(tmp_path: Path) -> None:
    cfg = config(store={"path": str(tmp_path / "p.db")})
    slow = {"latency": {"ttft": 0.4, "tokens_per_second": 0}}
    async with served(cfg, sim=slow) as s:
        running = asyncio.create_task(
            s.post(SESSION.format("busy") + "/turns", {"message": "hello"})
        )
        await asyncio.sleep(0.15)
        assert await s.service.prune(0.0) == (0, 0)  # leased, running: nothing to take
        status, done, _ = await running
        assert status == 200 and done["turn"] == 1
        _, page, _ = await s.get(SESSION.format("busy"))
        assert page["turns"] == 1
