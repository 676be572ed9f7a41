"""Seeded fault plans: per request header, per model, stochastic with bursts; and the ledger."""

from __future__ import annotations

import aiohttp
import msgspec
import pytest

from chorus.clock import FakeClock
from chorus.errors import StreamError
from chorus.protocol import Accumulator, EventDecoder
from chorus.sim import parse_plan

from .conftest import Client, user
from .grammar import check_grammar

TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ("429(retry_after=2)*2; ok", ["429(retry_after=2)", "429(retry_after=2)", "ok"]),
        ("529;500(should_retry=false)", ["529", "500(should_retry=False)"]),
        ("cut(after=5)", ["cut(after=5)"]),
        ("sse_error(after=3, type=api_error)", ["sse_error(after=3,type=api_error)"]),
        ("stop(reason=refusal)", ["stop(reason=refusal)"]),
    ],
)
def test_plan_parsing(plan: str, expected: list[str]) -> None:
    assert [str(s) for s in parse_plan(plan)] == expected


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        ("explode", "unknown fault 'explode'"),
        ("418", "fault status 418 is not one of"),
        ("429(wait=2)", "takes no parameter 'wait'"),
        ("cut(5)", "needs key=value"),
        ("stop(reason=tired)", "stop(reason=...) must be one of"),
        ("529*0", "repeat count"),
    ],
)
def test_plan_errors_name_the_problem(plan: str, error: str) -> None:
    with pytest.raises(
        ValueError, match=error.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")
    ):
        parse_plan(plan)


async def test_header_plan_is_consumed_by_attempts_of_the_same_body(client: Client) -> None:
    plan = {"x-chorus-fault": "429(retry_after=2)*2;529;ok"}
    statuses = [
        (await client.message(headers=plan, messages=user("same body"))).status for _ in range(5)
    ]
    assert statuses == [429, 429, 529, 200, 200]
    other = await client.message(headers=plan, messages=user("another body"))
    assert other.status == 429
    ledger = [e for e in client.sim.ledger if e.path == "/v1/messages"]
    assert [e.attempt for e in ledger[:5]] == [1, 2, 3, 4, 5]
    assert ledger[5].attempt == 1


async def test_ledger_marks_faulted_stream_attempts_as_streams(client: Client) -> None:
    """A status fault answers before validation; the ledger still says a stream was asked for."""
    plan = {"x-chorus-fault": "529;ok"}
    for _ in range(2):
        await client.message(headers=plan, messages=user("stream me"), stream=True)
    await client.message(headers=plan, messages=user("plain"))
    ledger = [(e.status, e.stream) for e in client.sim.ledger]
    assert ledger == [(529, True), (200, True), (529, False)]


async def test_status_fault_headers(client: Client) -> None:
    r429 = await client.message(
        headers={"x-chorus-fault": "429(retry_after=2)"}, messages=user("a")
    )
    assert r429.headers["retry-after"] == "2"
    assert r429.json()["error"]["type"] == "rate_limit_error"
    r529 = await client.message(headers={"x-chorus-fault": "529"}, messages=user("b"))
    assert r529.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    r500 = await client.message(
        headers={"x-chorus-fault": "500(should_retry=false)"}, messages=user("c")
    )
    assert r500.headers["x-should-retry"] == "false"
    assert r500.json()["error"]["type"] == "api_error"
    r504 = await client.message(headers={"x-chorus-fault": "504"}, messages=user("d"))
    assert r504.json()["error"]["type"] == "timeout_error"
    cap = await client.message(
        headers={"x-chorus-fault": "429(spend_cap=true)"}, messages=user("e")
    )
    assert "retry-after" not in cap.headers
    assert cap.json()["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}
    ms = await client.message(
        headers={"x-chorus-fault": "529(retry_after_ms=250)"}, messages=user("f")
    )
    assert ms.headers["retry-after-ms"] == "250"


async def test_model_plan_applies_to_successive_requests(make_client) -> None:
    async with make_client({"faults": {"claude-haiku-4-5-20251001": "529*2"}}) as c:
        haiku = [
            (await c.message(model="claude-haiku-4-5", messages=user(f"q{i}"))).status
            for i in range(3)
        ]
        sonnet = (await c.message(messages=user("q"))).status
    assert haiku == [529, 529, 200]
    assert sonnet == 200


async def test_stochastic_faults_are_deterministic_for_a_seed(make_client) -> None:
    config = {"seed": 42, "stochastic": {"rates": {"529": 0.2, "429(retry_after=1)": 0.1}}}
    runs = []
    for _ in range(2):
        async with make_client(config) as c:
            runs.append([(await c.message(messages=user(f"m{i}"))).status for i in range(60)])
    assert runs[0] == runs[1]
    assert runs[0].count(529) > 3 and runs[0].count(429) > 0 and runs[0].count(200) > 30


async def test_bursts_hit_every_request_inside_the_window(make_client) -> None:
    clock = FakeClock()
    config = {"stochastic": {"bursts": [{"fault": "529", "start": 10, "duration": 5, "every": 60}]}}
    async with make_client(config, clock=clock) as c:
        before = (await c.message(messages=user("a"))).status
        clock.advance(11)
        during = [(await c.message(messages=user(f"b{i}"))).status for i in range(3)]
        clock.advance(5)
        after = (await c.message(messages=user("c"))).status
        clock.advance(60 - 5)
        again = (await c.message(messages=user("d"))).status
    assert (before, during, after, again) == (200, [529, 529, 529], 200, 529)


async def test_reset_before_headers(client: Client) -> None:
    with pytest.raises(aiohttp.ClientError):
        await client.message(headers={"x-chorus-fault": "reset"}, messages=user("a"))
    assert client.sim.ledger[-1].outcome == "reset"


async def test_cut_mid_stream_truncates_the_body(client: Client) -> None:
    events = []
    decoder = EventDecoder()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with client.session.post(
            client.sim.base_url + "/v1/messages",
            json={
                "model": "claude-sonnet-4-5",
                "max_tokens": 100,
                "stream": True,
                "messages": user("a b c d e f"),
            },
            headers={
                "x-api-key": "k",
                "anthropic-version": "2023-06-01",
                "x-chorus-fault": "cut(after=4)",
            },
        ) as resp:
            async for chunk in resp.content.iter_any():
                events += decoder.feed(chunk)
    assert [type(e).__name__ for e in events] == [
        "MessageStartEvent",
        "ContentBlockStartEvent",
        "PingEvent",
        "ContentBlockDeltaEvent",
    ]
    entry = client.sim.ledger[-1]
    assert (entry.outcome, entry.events_sent) == ("cut", 4)


async def test_sse_error_mid_stream(client: Client) -> None:
    reply = await client.message(
        headers={"x-chorus-fault": "sse_error(after=5)"},
        messages=user("a b c d e f g"),
        stream=True,
    )
    assert reply.status == 200
    events = check_grammar(reply.body)
    assert events[-1] == (
        "error",
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    )
    assert len(events) == 6
    acc = Accumulator()
    with pytest.raises(StreamError) as info:
        for event in reply.events():
            acc.add(event)
    assert info.value.type == "overloaded_error"
    assert acc.text == "a b"


async def test_bad_tool_json(client: Client) -> None:
    reply = await client.message(
        headers={"x-chorus-fault": "bad_tool_json"},
        messages=user("weather in Paris please"),
        tools=[TOOL],
        stream=True,
    )
    acc = Accumulator()
    for event in reply.events():
        acc.add(event)
    tool_index = next(i for i, b in enumerate(acc.message.content) if b.type == "tool_use")
    assert tool_index in acc.incomplete
    fragments = "".join(
        e.delta.partial_json
        for e in reply.events()
        if getattr(getattr(e, "delta", None), "type", "") == "input_json_delta"
    )
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(fragments)


@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_in_the_middle_of_a_tool_use(client: Client, stream: bool) -> None:
    reply = await client.message(
        headers={"x-chorus-fault": "max_tokens_tool"},
        messages=user("weather in Paris please"),
        tools=[TOOL],
        stream=stream,
    )
    if stream:
        check_grammar(reply.body)
        acc = Accumulator()
        for event in reply.events():
            acc.add(event)
        message = acc.message
        assert acc.incomplete == [len(message.content) - 1]
    else:
        message = msgspec.convert(reply.json(), type=dict)
    stop = message.stop_reason if stream else message["stop_reason"]
    assert stop == "max_tokens"


async def test_forced_stop_reason(client: Client) -> None:
    reply = await client.message(
        headers={"x-chorus-fault": "stop(reason=refusal)"}, messages=user("a")
    )
    assert reply.json()["stop_reason"] == "refusal"


async def test_stall_before_headers_uses_the_clock(make_client) -> None:
    clock = FakeClock()
    async with make_client(clock=clock) as c:
        start = clock.now()
        reply = await c.message(headers={"x-chorus-fault": "stall(seconds=45)"}, messages=user("a"))
    assert reply.status == 200
    assert clock.now() - start == pytest.approx(45)


async def test_ledger_over_http(client: Client) -> None:
    await client.message(headers={"x-chorus-fault": "529;ok"}, messages=user("x"))
    await client.message(headers={"x-chorus-fault": "529;ok"}, messages=user("x"))
    ledger = (await client.get("/_chorus/ledger")).json()
    assert [(e["fault"], e["status"], e["attempt"]) for e in ledger] == [
        ("529", 529, 1),
        ("ok", 200, 2),
    ]
    assert ledger[0]["body_hash"] == ledger[1]["body_hash"]
    async with client.session.delete(client.sim.base_url + "/_chorus/ledger") as resp:
        assert resp.status == 200
    assert (await client.get("/_chorus/ledger")).json() == []
