"""Keys, tenants and scopes; limits that concurrent turns cannot overshoot; load shedding."""

from __future__ import annotations

import asyncio
import time

import pytest

from chorus.errors import ConfigError
from chorus.serve.config import hash_key
from chorus.serve.run import serve
from tests.serve.conftest import config, served

TURNS = "/v1/agents/assistant/sessions/{}/turns"
KEYS = [
    {"key_sha256": hash_key("sk-acme"), "tenant": "acme", "scopes": ["turns", "teams"]},
    {"key": "sk-beta", "tenant": "beta", "scopes": ["turns"]},
    {"key": "sk-ops", "tenant": "ops", "scopes": ["admin"]},
]


async def test_a_key_is_needed_and_each_tenant_sees_only_its_own_sessions() -> None:
    async with served(config(keys=KEYS)) as s:
        for headers in ({}, {"x-api-key": "sk-wrong"}, {"Authorization": "Bearer nope"}):
            status, body, _ = await s.get("/v1/agents", **headers)
            assert status == 401 and body["error"]["type"] == "authentication_error"
        acme = {"Authorization": "Bearer sk-acme"}
        beta = {"x-api-key": "sk-beta"}
        status, _mine, _ = await s.post(
            TURNS.format("shared-name"), {"message": "acme here"}, **acme
        )
        assert status == 200
        status, _, _ = await s.get("/v1/agents/assistant/sessions/shared-name", **beta)
        assert status == 404  # not forbidden: to beta, acme's session does not exist
        status, _, _ = await s.get("/v1/agents/assistant/sessions/shared-name/turns/1", **beta)
        assert status == 404
        status, theirs, _ = await s.post(TURNS.format("shared-name"), {"message": "beta"}, **beta)
        assert theirs["turn"] == 1  # the same name is beta's own, separate session
        _, page, _ = await s.get("/v1/agents/assistant/sessions/shared-name", **acme)
        assert page["messages"][0]["content"] == "acme here" and page["turns"] == 1
        status, body, _ = await s.post("/v1/teams/crew/assign", {"task": "fix it"}, **beta)
        assert status == 403 and "teams" in body["error"]["message"]
        assert (await s.get("/metrics", **beta))[0] == 403
        assert (await s.get("/metrics", **{"x-api-key": "sk-ops"}))[0] == 200
        assert (await s.get("/healthz"))[0] == 200  # health needs no key


async def test_with_no_keys_the_server_refuses_to_bind_beyond_loopback() -> None:
    with pytest.raises(ConfigError, match=r"refusing 0\.0\.0\.0"):
        await serve(None, "0.0.0.0", 0, say=lambda text: None)


async def test_a_tenants_concurrent_turns_are_limited_and_refusals_say_when_to_retry() -> None:
    limited = config(tenants={"default": {"max_concurrent_turns": 2}})
    async with served(limited, sim={"latency": {"ttft": 0.3, "tokens_per_second": 0}}) as s:
        results = await asyncio.gather(
            *(s.post(TURNS.format(f"c{i}"), {"message": "hello"}) for i in range(6))
        )
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 200, 429, 429, 429, 429]
    refused = [r for r in results if r[0] == 429]
    assert all(r[2].get("Retry-After") for r in refused)
    assert all(r[1]["error"]["type"] == "rate_limit_error" for r in refused)


async def test_token_and_cost_allowances_are_reserved_so_concurrent_turns_never_overshoot() -> None:
    for limits, field in (
        ({"tokens_per_minute": 12_000}, "tokens"),
        ({"cost_per_day": 0.05}, "cost"),
    ):
        limited = config(tenants={"default": {"max_concurrent_turns": 100, **limits}})
        async with served(limited, sim={"latency": {"ttft": 0.2, "tokens_per_second": 0}}) as s:
            results = await asyncio.gather(
                *(
                    s.post(f"/v1/agents/writer/sessions/t{i}/turns", {"message": "hi"})
                    for i in range(40)
                )
            )
            allowance = s.service._allowance("default")
            tokens, cost = allowance.used(time.time())
        done = [r[1] for r in results if r[0] == 200]
        refused = [r for r in results if r[0] == 429]
        assert done and refused, (field, [r[0] for r in results])
        spent_tokens = sum(d["usage"]["input_tokens"] + d["usage"]["output_tokens"] for d in done)
        spent_cost = sum(d["cost"] for d in done)
        if field == "tokens":
            assert spent_tokens <= 12_000 and tokens <= 12_000
        else:
            assert spent_cost <= 0.05 and cost <= 0.05 + 1e-9


async def test_a_team_run_counts_as_a_run_under_way_until_it_ends() -> None:
    """A team's members make model calls: its run takes a place of ``max_running_turns``
    while it runs (over HTTP, as over the Messages API and A2A), and gives it back."""
    small = config(limits={"max_running_turns": 1})
    async with served(small, sim={"latency": {"ttft": 0.3, "tokens_per_second": 0}}) as s:
        task = {"task": "write the changelog for the docs"}
        team = asyncio.create_task(s.post("/v1/teams/crew/assign", task))
        await asyncio.sleep(0.1)
        status, body, _ = await s.post(TURNS.format("during"), {"message": "hi"})
        still_running = not team.done()
        team_status, _, _ = await team
        after, _, _ = await s.post(TURNS.format("after"), {"message": "hi"})
        assert s.service._running_now() == 0
    assert still_running and team_status == 200
    assert status == 503 and body["error"]["type"] == "overloaded_error"
    assert after == 200


async def test_past_its_capacity_the_server_sheds_at_once_with_retry_after() -> None:
    small = config(limits={"max_running_turns": 2})
    async with served(small, sim={"latency": {"ttft": 0.5, "tokens_per_second": 0}}) as s:
        running = [
            asyncio.create_task(s.post(TURNS.format(f"r{i}"), {"message": "hi"})) for i in range(2)
        ]
        await asyncio.sleep(0.1)
        status, body, headers = await s.post(TURNS.format("late"), {"message": "hi"})
        still_running = not any(t.done() for t in running)
        await asyncio.gather(*running)
    assert status == 503 and body["error"]["type"] == "overloaded_error"
    assert int(headers["Retry-After"]) >= 1
    assert still_running  # answered at once, not after the turns ahead of it
