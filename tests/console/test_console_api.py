"""What the console reads from the HTTP API: session lists and search, summaries in a
history, teams, a resumed turn's streamed events, and the console's own files."""

from __future__ import annotations

import msgspec

from chorus.declare import AgentConfig, ContextConfig
from tests.serve.conftest import config, served

TURNS = "/v1/agents/assistant/sessions/{}/turns"


async def test_sessions_are_listed_newest_first_and_found_by_id_or_by_words() -> None:
    async with served() as s:
        for name, said in [("alpha", "the lighthouse keeper"), ("beta", "a quiet orchard")]:
            status, _, _ = await s.post(TURNS.format(name), {"message": said})
            assert status == 200
        status, found, _ = await s.get("/v1/agents/assistant/sessions")
        assert status == 200
        assert [x["session"] for x in found["data"]] == ["beta", "alpha"]
        assert all(x["messages"] >= 2 and x["updated"] >= x["created"] for x in found["data"])
        _, by_id, _ = await s.get("/v1/agents/assistant/sessions?q=alph")
        _, by_words, _ = await s.get("/v1/agents/assistant/sessions?q=orchard")
        _, neither, _ = await s.get("/v1/agents/assistant/sessions?q=zebra")
        assert [x["session"] for x in by_id["data"]] == ["alpha"]
        assert [x["session"] for x in by_words["data"]] == ["beta"]
        assert neither["data"] == []
        _, one, _ = await s.get("/v1/agents/assistant/sessions?limit=1")
        assert len(one["data"]) == 1
        status, bad, _ = await s.get("/v1/agents/assistant/sessions?limit=0")
        assert status == 400 and "limit" in bad["error"]["message"]
        status, _, _ = await s.get("/v1/agents/nobody/sessions")
        assert status == 404


async def test_a_tenant_lists_only_its_own_sessions() -> None:
    keys = [{"key": "sk-a", "tenant": "a"}, {"key": "sk-b", "tenant": "b"}]
    async with served(config(keys=keys)) as s:
        a, b = {"x-api-key": "sk-a"}, {"x-api-key": "sk-b"}
        assert (await s.post(TURNS.format("mine"), {"message": "hello"}, **a))[0] == 200
        _, seen_by_a, _ = await s.get("/v1/agents/assistant/sessions", **a)
        _, seen_by_b, _ = await s.get("/v1/agents/assistant/sessions?q=hello", **b)
        assert [x["session"] for x in seen_by_a["data"]] == ["mine"]
        assert seen_by_b["data"] == []


async def test_a_history_marks_what_compaction_summarised() -> None:
    notes = AgentConfig(name="notes", context=ContextConfig(max_input_tokens=700))
    agents = [*msgspec.to_builtins(config())["agents"], msgspec.to_builtins(notes)]
    async with served(config(agents=agents)) as s:
        path = "/v1/agents/notes/sessions/long"
        for n in range(40):
            said = f"Note {n}: the ferry to Oban leaves at {n % 12 + 1} o'clock. " * 4
            assert (await s.post(path + "/turns", {"message": said}))[0] == 200
            _, history, _ = await s.get(path)
            if history["summaries"]:
                break
        summary = history["summaries"][0]
        assert 0 <= summary["start"] < summary["end"] <= history["length"]
        assert "ferry" in summary["text"].lower() or "oban" in summary["text"].lower()


async def test_teams_are_listed_with_their_members() -> None:
    async with served() as s:
        status, teams, _ = await s.get("/v1/teams")
        assert status == 200 and teams["data"] == [{"name": "crew", "agents": ["coder", "writer"]}]


async def test_a_resumed_turn_streams_the_approved_tools_result_and_the_reply() -> None:
    async with served() as s:
        asked = {"message": "Send an email to ana@example.com about the launch", "stream": True}
        first = await s.events(TURNS.format("mail"), asked)
        assert first[-1][1] == "done" and first[-1][2]["stop_reason"] == "paused"
        pending = first[-1][2]["pending"]
        decisions = {pending[0]["id"]: True}
        resumed = await s.events(
            "/v1/agents/assistant/sessions/mail/resume", {"decisions": decisions, "stream": True}
        )
        kinds = [k for _, k, _ in resumed]
        assert kinds[0] == "tool_result" and kinds[-1] == "done" and "text" in kinds
        assert "sent to" in resumed[0][2]["content"]
        ids = [i for i, _, _ in resumed]
        assert ids == sorted(ids) and ids[0] // 1_000_000 == 2  # the second turn's events


async def test_a_streamed_turn_can_be_cancelled_before_its_first_event() -> None:
    slow = {"latency": {"ttft": 5.0, "tokens_per_second": 0}}  # no event for 5 s
    async with served(sim=slow) as s:
        body = {"message": "hi", "stream": True}
        async with s.http.post(s.url + TURNS.format("n"), json=body) as r:
            turn = r.headers["X-Chorus-Turn"]  # known from the headers alone
            assert turn == "1"
            path = f"/v1/agents/assistant/sessions/n/turns/{turn}/cancel"
            status, cancelled, _ = await s.post(path, {})
            assert status == 200 and cancelled["status"] == "cancelled"
            text = await r.text()
        assert "event: error" in text and "cancelled" in text and "event: text" not in text


async def test_the_console_is_served_with_a_strict_policy_and_etags() -> None:
    async with served(config(keys=[{"key": "sk-a", "tenant": "a"}])) as s:
        status, page, headers = await s.get("/")  # public: the key is entered in the page
        assert status == 200 and "<title>chorus console</title>" in page
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        status, _, js = await s.get("/console/app.js")
        assert status == 200 and js["Content-Type"].startswith("text/javascript")
        status, _, _ = await s.get("/console/app.js", **{"If-None-Match": js["ETag"]})
        assert status == 304
        for missing in ("/console/index.html", "/console/..%2Fconsole.py", "/console/nope.js"):
            assert (await s.get(missing))[0] == 404
        assert (await s.get("/v1/agents"))[0] == 401  # the API itself still needs the key
