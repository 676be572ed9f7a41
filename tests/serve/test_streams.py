"""Streams a client can drop and resume, turns it can cancel, approvals, and team runs."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from tests.serve.conftest import config, served

TURNS = "/v1/agents/assistant/sessions/{}/turns"
SLOW = {"latency": {"ttft": 0.05, "tokens_per_second": 200}}
LONG = "please repeat after me: " + " ".join(f"word{i}" for i in range(60))


async def test_a_dropped_stream_resumes_with_last_event_id_losing_and_repeating_nothing() -> None:
    rng = random.Random(11)
    async with served(sim=SLOW) as s:
        for round in range(1, 6):
            body = {"message": LONG, "stream": True}
            cut = rng.randint(1, 30)
            first = await s.events(TURNS.format("r"), body, most=cut)  # then the client leaves
            seen = list(first)
            while seen[-1][1] not in ("done", "error"):  # it comes back, maybe more than once
                more = await s.events(
                    f"/v1/agents/assistant/sessions/r/turns/{round}/events",
                    most=rng.randint(1, 40),
                    **{"Last-Event-ID": str(seen[-1][0])},
                )
                seen.extend(more)
            everything = await s.events(f"/v1/agents/assistant/sessions/r/turns/{round}/events")
            assert seen == everything  # 0 lost, 0 duplicated, the same order
            assert seen[-1][1] == "done" and seen[-1][2]["turn"] == round
            text = "".join(d["text"] for _, k, d in seen if k == "text")
            assert "word59" in text


async def test_a_cancelled_turn_closes_the_model_stream_and_commits_nothing() -> None:
    slow = {"latency": {"ttft": 0.0, "tokens_per_second": 20}}
    async with served(sim=slow) as s:
        await s.post(TURNS.format("c"), {"message": "hello"})
        stream = asyncio.create_task(s.events(TURNS.format("c"), {"message": LONG, "stream": True}))
        await asyncio.sleep(0.5)  # the model is mid-stream
        status, cancelled, _ = await s.post("/v1/agents/assistant/sessions/c/turns/2/cancel", {})
        cancelled_at = s.sim.clock.now()
        events = await stream
        assert status == 200 and cancelled["status"] == "cancelled"
        assert events[-1][1] == "error" and events[-1][2]["type"] == "cancelled"
        for _ in range(100):  # the simulator records the attempt once it has ended
            calls = [e for e in s.sim.ledger if e.path == "/v1/messages"]
            if len(calls) == 2:
                break
            await asyncio.sleep(0.02)
        entry = calls[-1]
        assert entry.outcome == "client_gone"
        assert entry.ended - cancelled_at < 0.1  # the model stream closed within 100 ms
        _, page, _ = await s.get("/v1/agents/assistant/sessions/c")
        assert page["length"] == 2  # only the first turn: no half of the second
        status, after, _ = await s.post(TURNS.format("c"), {"message": "still there?"})
        assert status == 200 and after["turn"] == 3  # the session stays usable
        _, turn2, _ = await s.get("/v1/agents/assistant/sessions/c/turns/2")
        assert turn2["status"] == "cancelled"


async def test_a_tool_that_needs_approval_pauses_the_turn_until_a_person_decides() -> None:
    async with served() as s:
        status, paused, _ = await s.post(
            TURNS.format("a"), {"message": "please send_email to ada@example.com"}
        )
        assert status == 200 and paused["status"] == "paused", paused
        (call,) = paused["pending"]
        assert call["name"] == "send_email"
        _, pending, _ = await s.get("/v1/agents/assistant/sessions/a/pending")
        assert [p["id"] for p in pending["data"]] == [call["id"]]
        status, _missing, _ = await s.post(
            "/v1/agents/assistant/sessions/a/resume", {"decisions": {}}
        )
        assert status == 400
        status, done, _ = await s.post(
            "/v1/agents/assistant/sessions/a/resume", {"decisions": {call["id"]: True}}
        )
        assert status == 200 and done["status"] == "done", done
        _, pending, _ = await s.get("/v1/agents/assistant/sessions/a/pending")
        assert pending["data"] == []
        status, _again, _ = await s.post(
            "/v1/agents/assistant/sessions/a/resume", {"decisions": {call["id"]: True}}
        )
        assert status == 409  # resumed once


async def test_teams_assign_and_decide_with_their_events() -> None:
    async with served() as s:
        status, done, _ = await s.post("/v1/teams/crew/assign", {"task": "fix the python test"})
        assert status == 200 and done["event"] == "task_completed"
        assert done["result"]["agent"] == "coder"
        events = await s.events("/v1/teams/crew/assign", {"task": "write the docs", "stream": True})
        kinds = [k for _, k, _ in events]
        assert (
            kinds[0] == "called_for_bids" and "awarded" in kinds and kinds[-1] == "task_completed"
        )
        decided = await s.events(
            "/v1/teams/crew/decide", {"question": "tabs?", "strategy": "majority", "stream": True}
        )
        assert decided[-1][1] == "decided"
        status, failed, _ = await s.post("/v1/teams/crew/assign", {"task": "bake a cake"})
        assert status == 422 and "matches" in failed["error"]["message"]
        assert (await s.post("/v1/teams/nope/assign", {"task": "x"}))[0] == 404
        status, bad, _ = await s.post(
            "/v1/teams/crew/decide", {"question": "q", "strategy": "vibes"}
        )
        assert status == 400 and "strategy" in bad["error"]["message"]


MCP_SERVER = Path(__file__).resolve().parents[1] / "agent" / "mcp_server.py"


async def test_an_agent_gets_the_tools_of_the_mcp_servers_its_config_names() -> None:
    agents = [
        {
            "name": "assistant",
            "system": "Use the tools.",
            "mcp": [{"command": [sys.executable, str(MCP_SERVER), "stdio"]}],
        }
    ]
    async with served(config(agents=agents, teams=[])) as s:
        events = await s.events(
            TURNS.format("m"), {"message": "please shout hello", "stream": True}
        )
    results = [d for _, k, d in events if k == "tool_result"]
    assert results and results[0]["name"] == "shout" and not results[0]["is_error"]
    assert events[-1][1] == "done"
