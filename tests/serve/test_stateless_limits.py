"""A stateless ``POST /v1/messages`` (no session) is held to its tenant's limits like a turn."""

from __future__ import annotations

import asyncio

from tests.serve.conftest import config, served

KEYS = [{"key": "sk-poor", "tenant": "poor"}, {"key": "sk-rich", "tenant": "rich"}]


def ask(text: str) -> dict[str, object]:
    return {
        "model": "writer",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": text}],
    }


async def test_a_tenant_without_tokens_left_is_refused_before_any_model_call() -> None:
    tenants = {"poor": {"tokens_per_minute": 100}}
    async with served(config(keys=KEYS, tenants=tenants)) as s:
        before = len(s.sim.ledger)
        status, body, headers = await s.post(
            "/v1/messages", ask("hello"), **{"x-api-key": "sk-poor"}
        )
        assert status == 429 and body["error"]["type"] == "rate_limit_error"
        assert "tokens per minute" in body["error"]["message"] and headers["Retry-After"]
        assert len(s.sim.ledger) == before  # refused at admission: no model call
        status, _, _ = await s.post("/v1/messages", ask("hello"), **{"x-api-key": "sk-rich"})
        assert status == 200  # another tenant is not held to it


async def test_concurrent_stateless_calls_never_overshoot_the_cost_allowance() -> None:
    tenants = {"poor": {"cost_per_day": 0.02}}
    async with served(config(keys=KEYS, tenants=tenants)) as s:
        replies = await asyncio.gather(
            *(
                s.post("/v1/messages", ask(f"note {n}"), **{"x-api-key": "sk-poor"})
                for n in range(30)
            )
        )
        statuses = [r[0] for r in replies]
        assert set(statuses) <= {200, 429} and 200 in statuses and 429 in statuses
        allowance = s.service._allowance("poor")
        assert allowance.running == 0  # every reservation was settled
        _, spent = allowance.used(s.service._clock())
        assert 0 < spent <= 0.02


async def test_team_runs_are_held_to_the_tenants_limits_too() -> None:
    tenants = {"poor": {"tokens_per_minute": 100}, "rich": {"max_concurrent_turns": 1}}
    async with served(config(keys=KEYS, tenants=tenants)) as s:
        task = {"task": "Write a Python function that adds two numbers"}
        status, body, _ = await s.post("/v1/teams/crew/assign", task, **{"x-api-key": "sk-poor"})
        assert status == 429 and "tokens per minute" in body["error"]["message"]
        question = {"question": "Which is larger, 7 or 9?", "stream": True}
        status, _, _ = await s.post("/v1/teams/crew/decide", question, **{"x-api-key": "sk-poor"})
        assert status == 429
        rich = {"x-api-key": "sk-rich"}
        status, done, _ = await s.post("/v1/teams/crew/assign", task, **rich)
        assert status == 200 and done["event"] == "task_completed"
        allowance = s.service._allowance("rich")
        assert allowance.running == 0  # the slot came back after the run
        used, _ = allowance.used(s.service._clock())
        assert used == done["result"]["tokens"] > 0  # settled to what the run reported
        events = await s.events("/v1/teams/crew/assign", {**task, "stream": True}, most=1, **rich)
        assert events  # the reader left after the first event
        for _ in range(50):
            if allowance.running == 0:
                break
            await asyncio.sleep(0.02)
        assert allowance.running == 0  # a reader that leaves gives the slot back


async def test_team_runs_and_stateless_calls_show_their_cost_in_the_metrics() -> None:
    async with served() as s:

        def cost(text: str, name: str) -> float:
            return sum(
                float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + "{")
            )

        _, before, _ = await s.get("/metrics")
        assert (await s.post("/v1/teams/crew/assign", {"task": "Write a Python function"}))[
            0
        ] == 200
        assert (await s.post("/v1/messages", ask("hello")))[0] == 200
        _, after, _ = await s.get("/metrics")
        assert cost(after, "chorus_team_cost_dollars_total") > cost(
            before, "chorus_team_cost_dollars_total"
        )
        assert cost(after, "chorus_turn_cost_dollars_total") > cost(
            before, "chorus_turn_cost_dollars_total"
        )
        assert 'chorus_turns_total{agent="writer",status="done"}' in after  # the stateless run


async def test_a_cold_session_of_a_tenant_with_a_small_daily_allowance_still_runs() -> None:
    # A session evicted from memory has a history the server has not measured; it used to
    # be reserved at the agent's whole input limit (200k tokens, about $1.20 with tools),
    # which a $0.50 daily allowance could never admit.
    keys = [{"key": "sk-small", "tenant": "small"}]
    tenants = {"small": {"cost_per_day": 0.5}}
    small = {"x-api-key": "sk-small"}
    async with served(config(keys=keys, tenants=tenants, limits={"live_sessions": 1})) as s:
        path = "/v1/agents/assistant/sessions/{}/turns"
        assert (await s.post(path.format("old"), {"message": "hello"}, **small))[0] == 200
        assert (await s.post(path.format("new"), {"message": "hello"}, **small))[0] == 200
        status, body, _ = await s.post(path.format("old"), {"message": "again"}, **small)
        assert status == 200, body  # "old" was evicted by "new": its history is unmeasured
        _, spent = s.service._allowance("small").used(s.service._clock())
        assert 0 < spent <= 0.5
