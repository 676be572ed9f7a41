"""A team's A2A tasks are kept in the turn journal: a restarted server finds a finished
one, answers its messageId again with the same task (never running it twice), numbers new
tasks in the same context past it, and shows one that was running at the crash as
interrupted; a messageId sent twice at once is one task."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chorus.errors import ConfigError
from chorus.serve.config import load_serve_config
from tests.serve.conftest import config, served

TEAM = "/a2a/teams/crew"


def _rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def _send(text: str, message_id: str, **fields: Any) -> dict[str, Any]:
    message = {"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}]}
    return _rpc("SendMessage", {"message": {**message, **fields}})


def _calls(s: Any) -> int:
    return sum(1 for e in s.sim.ledger if e.path == "/v1/messages")


async def test_a_team_task_outlives_its_server(tmp_path: Path) -> None:
    cfg = config(store={"path": str(tmp_path / "t.db")})
    async with served(cfg) as s:
        status, reply, _ = await s.post(TEAM, _send("fix the failing Python code", "m-1"))
    assert status == 200, reply
    task = reply["result"]["task"]
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
    async with served(cfg) as s:  # a new server on the same file
        status, got, _ = await s.post(TEAM, _rpc("GetTask", {"id": task["id"]}))
        assert status == 200 and got["result"]["status"]["state"] == "TASK_STATE_COMPLETED"
        assert got["result"]["artifacts"] == task["artifacts"]  # the same answer
        _, again, _ = await s.post(TEAM, _send("fix the failing Python code", "m-1"))
        assert again["result"]["task"]["id"] == task["id"] and _calls(s) == 0  # not run again
        _, other, _ = await s.post(
            TEAM, _send("fix another failing Python function", "m-2", contextId=task["contextId"])
        )
        assert other["result"]["task"]["id"] != task["id"]  # numbered past the first
        assert other["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_a_team_task_running_at_a_crash_shows_as_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with sqlite3.connect(path) as db:  # what a crashed server left: a task entered, running
        db.execute(
            "CREATE TABLE chorus_turns (session TEXT NOT NULL, turn INTEGER NOT NULL, "
            "status TEXT NOT NULL, idempotency_key TEXT, seq_before INTEGER NOT NULL, "
            "created REAL NOT NULL, finished REAL, result BLOB, events BLOB, "
            "PRIMARY KEY (session, turn)) WITHOUT ROWID"
        )
        db.execute(
            "INSERT INTO chorus_turns (session, turn, status, idempotency_key, seq_before, "
            "created) VALUES ('default/team:crew/ctx-1', 1, 'running', 'm-9', 0, 1.0)"
        )
    async with served(config(store={"path": str(path)})) as s:
        status, got, _ = await s.post(TEAM, _rpc("GetTask", {"id": "ctx-1:1"}))
    assert status == 200, got
    assert got["result"]["status"]["state"] == "TASK_STATE_FAILED", got  # (interrupted)


async def test_one_message_sent_twice_at_once_is_one_task() -> None:
    """Two copies of one messageId, sent together: one task, run once."""
    async with served() as s:
        first, second = await asyncio.gather(
            s.post(TEAM, _send("fix the failing Python code", "m-twice")),
            s.post(TEAM, _send("fix the failing Python code", "m-twice")),
        )
        calls = _calls(s)
    assert first[1]["result"]["task"]["id"] == second[1]["result"]["task"]["id"]
    assert calls == 1  # (the coder's one model call: one run)


async def test_a_messageid_is_one_task_per_context_before_and_after_a_restart(
    tmp_path: Path,
) -> None:
    """The same messageId in two contexts is two tasks, as the journal keeps them: the
    answer to a resend does not change when the server restarts in between."""
    cfg = config(store={"path": str(tmp_path / "m.db")})
    async with served(cfg) as s:
        _, one, _ = await s.post(TEAM, _send("fix the failing Python code", "m-x", contextId="a"))
        _, two, _ = await s.post(TEAM, _send("fix the failing Python code", "m-x", contextId="b"))
        _, again, _ = await s.post(TEAM, _send("fix the failing Python code", "m-x", contextId="a"))
        calls = _calls(s)
    ids = [r["result"]["task"]["id"] for r in (one, two, again)]
    assert ids[0] != ids[1] and ids[2] == ids[0] and calls == 2
    async with served(cfg) as s:
        _, later, _ = await s.post(TEAM, _send("fix the failing Python code", "m-x", contextId="b"))
        assert later["result"]["task"]["id"] == ids[1] and _calls(s) == 0


async def test_a_team_task_context_is_a_plain_name() -> None:
    """A contextId names the task's entries in the journal: one that is no session id is
    refused with one line, and nothing runs."""
    async with served() as s:
        for context in ("a/b", "ctx\n", "x" * 129):
            status, got, _ = await s.post(TEAM, _send("fix the code", "m-c", contextId=context))
            assert status == 200 and got["error"]["code"] == -32602, got
            assert "message.contextId: a session id is" in got["error"]["message"], got
        assert _calls(s) == 0


def test_an_agent_may_not_be_named_like_a_teams_journal_entries(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("agents: [{name: 'team:crew', system: hi}]\n")
    with pytest.raises(ConfigError, match=r"agents\[0\]\.name may not begin with 'team:'"):
        load_serve_config(str(path))


async def test_a_team_task_running_when_the_server_stops_ends_cancelled(tmp_path: Path) -> None:
    """A graceful stop cancels a running team task and writes its end: after a restart it
    reads as cancelled, not as the interruption a crash leaves."""
    cfg = config(store={"path": str(tmp_path / "s.db")})
    slow = {"latency": {"ttft": 2.0}}
    message = {
        "messageId": "m-slow",
        "role": "ROLE_USER",
        "parts": [{"text": "fix the failing Python code"}],
    }
    sent = _rpc("SendMessage", {"message": message, "configuration": {"returnImmediately": True}})
    async with served(cfg, sim=slow) as s:
        status, reply, _ = await s.post(TEAM, sent)
        assert status == 200, reply
        task = reply["result"]["task"]
        await asyncio.sleep(0.3)  # the member's model call is under way
    async with served(cfg) as s:
        _, got, _ = await s.post(TEAM, _rpc("GetTask", {"id": task["id"]}))
    assert got["result"]["status"]["state"] == "TASK_STATE_CANCELED", got


async def test_a_send_that_returns_at_once_has_its_start_made_durable_without_waiting() -> None:
    """Its task's id is told before the turn ends, as a streamed turn's is: its journal entry
    goes with the next group commit, not after the lazy window; a send that waits for the
    end leaves its entry lazy (the turn's own commit carries it)."""
    async with served() as s:
        asked: list[bool] = []
        start = s.service.journal.start

        def spy(row: Any, soon: bool = False) -> Any:
            asked.append(soon)
            return start(row, soon=soon)

        s.service.journal.start = spy
        now = {"configuration": {"returnImmediately": True}}
        message = {"messageId": "m-now", "role": "ROLE_USER", "parts": [{"text": "hello"}]}
        status, reply, _ = await s.post(
            "/a2a/assistant", _rpc("SendMessage", {"message": message, **now})
        )
        assert status == 200, reply
        waited, _, _ = await s.post("/a2a/assistant", _send("hello again", "m-wait"))
        assert waited == 200
    assert asked == [True, False]
