"""The HTTP API as a client uses it: agents, turns (JSON and SSE), sessions, errors."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.serve.conftest import config, served

TURNS = "/v1/agents/assistant/sessions/{}/turns"


async def test_agents_are_listed_and_described() -> None:
    async with served() as s:
        status, body, _ = await s.get("/v1/agents")
        assert status == 200
        assert [a["name"] for a in body["data"]] == ["assistant", "coder", "writer"]
        status, one, _ = await s.get("/v1/agents/coder")
        assert status == 200 and one["capabilities"][0]["name"] == "python"
        status, missing, _ = await s.get("/v1/agents/nobody")
        assert status == 404 and missing["error"]["type"] == "not_found_error"


async def test_a_turn_answers_as_json_with_usage_and_cost() -> None:
    async with served() as s:
        status, body, _ = await s.post(
            TURNS.format("s1"), {"message": "What is the weather in Lyon?"}
        )
    assert status == 200, body
    assert body["turn"] == 1 and body["status"] == "done" and body["stop_reason"] == "end_turn"
    assert "12 C and clear in Lyon" in body["output"]  # the tool ran
    assert body["usage"]["input_tokens"] > 0 and body["cost"] > 0 and body["steps"] == 2


async def test_a_streamed_turn_sends_text_tool_calls_results_then_done_with_growing_ids() -> None:
    async with served() as s:
        first = await s.events(TURNS.format("s1"), {"message": "weather in Paris?", "stream": True})
        second = await s.events(TURNS.format("s1"), {"message": "hello there", "stream": True})
    kinds = [k for _, k, _ in first]
    assert "tool_call" in kinds and "tool_result" in kinds and "text" in kinds
    assert kinds[-1] == "done" and first[-1][2]["turn"] == 1
    ids = [i for i, _, _ in first + second]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # they grow within the session
    assert second[-1][2]["turn"] == 2


async def test_history_pages_and_delete_forgets() -> None:
    async with served() as s:
        for text in ("one", "two", "three"):
            await s.post(TURNS.format("h"), {"message": text})
        status, page, _ = await s.get("/v1/agents/assistant/sessions/h?start=0&limit=4")
        assert status == 200 and page["length"] == 6 and page["turns"] == 3
        assert [m["role"] for m in page["messages"]] == ["user", "assistant"] * 2
        assert page["next"] == 4
        status, rest, _ = await s.get("/v1/agents/assistant/sessions/h?start=4")
        assert rest["messages"][0]["content"] == "three" and rest["next"] is None
        status, _, _ = await s.delete("/v1/agents/assistant/sessions/h")
        assert status == 200
        status, _gone, _ = await s.get("/v1/agents/assistant/sessions/h")
        assert status == 404
        status, again, _ = await s.post(TURNS.format("h"), {"message": "fresh"})
        assert again["turn"] == 1  # a new session under the old name


async def test_a_retried_request_with_its_idempotency_key_runs_once() -> None:
    async with served() as s:
        key = {"Idempotency-Key": "order-42"}
        results = await asyncio.gather(
            *(s.post(TURNS.format("i"), {"message": "hello"}, **key) for _ in range(5))
        )
        status, later, _ = await s.post(TURNS.format("i"), {"message": "hello"}, **key)
        calls = [e for e in s.sim.ledger if e.path == "/v1/messages"]
        _, page, _ = await s.get("/v1/agents/assistant/sessions/i")
    assert {r[1]["turn"] for r in results} == {1} and later["turn"] == 1
    assert all(r[0] == 200 for r in results) and status == 200
    assert len(calls) == 1 and page["length"] == 2  # one model call, one committed turn


async def test_a_busy_session_refuses_a_second_turn_or_queues_it() -> None:
    slow = {"latency": {"ttft": 0.3, "tokens_per_second": 0}}
    async with served(sim=slow) as s:
        first = asyncio.create_task(s.post(TURNS.format("b"), {"message": "first"}))
        await asyncio.sleep(0.1)
        status, refused, _ = await s.post(TURNS.format("b"), {"message": "second"})
        assert status == 409 and refused["error"]["type"] == "conflict_error"
        queued = asyncio.create_task(
            s.post(TURNS.format("b"), {"message": "third", "if_busy": "enqueue"})
        )
        done_first, done_queued = await asyncio.gather(first, queued)
    assert done_first[1]["turn"] == 1 and done_queued[1]["turn"] == 2


async def test_bad_requests_get_one_line_that_says_what_is_wrong() -> None:
    small = config(limits={"max_body_bytes": 4096, "max_message_chars": 100})
    async with served(small) as s:
        cases: list[tuple[Any, int, str]] = [
            ({}, 400, "message"),
            ({"message": ""}, 400, "empty"),
            ({"message": "x", "stream": "yes"}, 400, "stream"),
            ({"message": "x", "colour": 1}, 400, "unknown field"),
            ({"message": "x", "if_busy": "wait"}, 400, "if_busy"),
            ({"message": "x" * 200}, 413, "more than 100"),
            ({"message": "x" * 5000}, 413, "too large"),
            ([1, 2], 400, "JSON object"),
        ]
        for body, code, words in cases:
            status, answer, _ = await s.post(TURNS.format("bad"), body)
            assert status == code, (body, answer)
            assert words in answer["error"]["message"], answer
        for session in ("bad session!", "line%0A", "x" * 129):  # (%0A: a decoded newline)
            status, answer, _ = await s.post(TURNS.format(session), {"message": "x"})
            assert status == 400 and "session id" in answer["error"]["message"], session
        async with s.http.post(
            s.url + TURNS.format("raw"),
            data=b"{not json",
            headers={"content-type": "application/json"},
        ) as r:
            assert r.status == 400 and "not valid JSON" in (await r.json())["error"]["message"]
        status, answer, _ = await s.get("/v1/agents/assistant/sessions/s/turns/abc")
        assert status == 400


async def test_health_readiness_openapi_and_metrics_without_session_ids() -> None:
    async with served() as s:
        await s.post(TURNS.format("secret-session-77"), {"message": "hi"})
        assert (await s.get("/healthz"))[0] == 200
        assert (await s.get("/readyz"))[1]["ready"] is True
        status, spec, _ = await s.get("/openapi.json")
        assert status == 200 and spec["openapi"].startswith("3.")
        assert "/v1/agents/{agent}/sessions/{session}/turns" in spec["paths"]
        status, text, _ = await s.get("/metrics")
    assert status == 200 and 'chorus_turns_total{agent="assistant",status="done"} 1.0' in text
    assert "secret-session-77" not in text  # labels are bounded: route templates, not ids
    assert 'route="/v1/agents/{agent}/sessions/{session}/turns"' in text
    assert "chorus_model_calls_total" in text  # the model calls
    assert "chorus_team_messages" in text  # and the teams


async def test_logs_carry_no_prompt_text(caplog: Any) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    async with served(sim={"faults": {"*": "529;ok"}}) as s:
        secret = "my card number is 4111-1111-1111-1111"
        status, _, _ = await s.post(TURNS.format("private"), {"message": secret})
        assert status == 200
    assert caplog.records  # something was logged (the retried 529, at least)
    assert all("4111" not in record.getMessage() for record in caplog.records)


async def test_a_json_turn_is_retried_whole_through_upstream_faults() -> None:
    # Nobody reads a JSON turn's text as it comes, so its model calls are asked for whole
    # (not streamed: a cut stream could not be retried once its text had been read) and
    # each failure is retried from scratch: the turn still succeeds.
    plan = "reset;529;429(retry_after=0);ok"
    async with served(sim={"faults": {"*": plan}}) as s:
        status, body, _ = await s.post(TURNS.format("f"), {"message": "hello there friend"})
        attempts = [e for e in s.sim.ledger if e.path == "/v1/messages"]
    assert status == 200 and body["output"] == "hello there friend", body
    assert len(attempts) == 4 and not any(a.stream for a in attempts)


async def test_on_sqlite_racing_requests_to_a_new_session_start_one_turn(tmp_path: Any) -> None:
    durable = config(store={"path": str(tmp_path / "chorus.db")})
    async with served(durable, sim={"latency": {"ttft": 0.05, "tokens_per_second": 0}}) as s:
        key = {"Idempotency-Key": "same"}
        copies = await asyncio.gather(
            *(s.post(TURNS.format("race"), {"message": "hello"}, **key) for _ in range(5))
        )
        assert [c[0] for c in copies] == [200] * 5 and {c[1]["turn"] for c in copies} == {1}
        calls = [e for e in s.sim.ledger if e.path == "/v1/messages"]
        assert len(calls) == 1
        different = await asyncio.gather(
            s.post(TURNS.format("race2"), {"message": "one"}),
            s.post(TURNS.format("race2"), {"message": "two"}),
        )
        assert sorted(d[0] for d in different) == [200, 409]


async def test_a_queued_request_and_its_retry_run_once() -> None:
    slow = {"latency": {"ttft": 0.3, "tokens_per_second": 0}}
    async with served(sim=slow) as s:
        first = asyncio.create_task(s.post(TURNS.format("q"), {"message": "first"}))
        await asyncio.sleep(0.1)
        body = {"message": "pay invoice 7", "if_busy": "enqueue"}
        key = {"Idempotency-Key": "invoice-7"}
        queued, retried = await asyncio.gather(
            s.post(TURNS.format("q"), body, **key), s.post(TURNS.format("q"), body, **key)
        )
        await first
        _, page, _ = await s.get("/v1/agents/assistant/sessions/q")
    assert queued[1]["turn"] == retried[1]["turn"] == 2
    said = [m["content"] for m in page["messages"] if m["role"] == "user"]
    assert said == ["first", "pay invoice 7"]  # once


async def test_odd_numbers_and_option_types_are_client_errors() -> None:
    async with served() as s:
        status, _, _ = await s.get(f"/v1/agents/assistant/sessions/s/turns/{2**70}")
        assert status == 404
        for bad in ({"among": 5}, {"quorum": "x"}, {"rounds": True}, {"strategy": 3}):
            status, body, _ = await s.post("/v1/teams/crew/decide", {"question": "q", **bad})
            assert status == 400, (bad, body)
