"""Whatever a client sends, the simulator answers in the API's error shape, never with a 5xx
that no fault plan asked for: random fault and behaviour headers, paths and bodies."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chorus.clock import FakeClock
from chorus.sim import Simulator, config_from_dict, registry
from chorus.sim.faultplan import parse_plan

HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
GOOD = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 32,
    "messages": [{"role": "user", "content": "hello there"}],
}

names = st.sampled_from(
    [
        "ok",
        "429",
        "529",
        "500",
        "503",
        "400",
        "cut",
        "sse_error",
        "reset",
        "stop",
        "stall",
        "bad_tool_json",
        "max_tokens_tool",
        "???",
        "7",
        "teapot",
        "",
    ]
)
params = st.sampled_from(
    [
        "",
        "(retry_after=abc)",
        "(retry_after=2)",
        "(after=3)",
        "(after=-1)",
        "(after=x)",
        "(seconds=0)",
        "(reason=refusal)",
        "(reason=nope)",
        "(should_retry=maybe)",
        "(type=overloaded_error)",
        "(=)",
        "(after)",
        "(",
    ]
)
repeats = st.sampled_from(["", "*2", "*0", "*99999", "*x"])
steps = st.builds(lambda n, p, r: n + p + r, names, params, repeats)
plans = st.one_of(
    st.lists(steps, min_size=1, max_size=3).map(";".join),
    st.text(alphabet="abc0123456789()=*;, _-", max_size=30),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
bodies = st.one_of(
    st.just(msgspec.json.encode(GOOD)),
    json_values.map(msgspec.json.encode),
    st.fixed_dictionaries(
        {"model": st.text(max_size=12), "max_tokens": json_values, "messages": json_values}
    ).map(msgspec.json.encode),
    st.binary(max_size=40),
)
paths = st.sampled_from(
    ["/v1/messages", "/v1/messages/count_tokens", "/v1/models", "/v1/nope", "/", "/v1/messages/x"]
)


def asked_for_5xx(plan: str | None) -> bool:
    """Some step of ``plan`` is a 5xx. Any step, not only the first: the simulator takes a
    plan's next step at each attempt of the same request (plan and body), and hypothesis
    may send one request again."""
    if not plan:
        return False
    try:
        steps = parse_plan(plan)
    except (ValueError, IndexError):
        return False
    return any(step.kind == "status" and step.status >= 500 for step in steps)


def test_hostile_requests_get_4xx_in_the_api_shape() -> None:
    loop = asyncio.new_event_loop()
    config = config_from_dict({"latency": {"ttft": 0}})
    sim = Simulator(config, clock=FakeClock())
    loop.run_until_complete(sim.start())
    session = loop.run_until_complete(_session())

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        plan=st.none() | plans,
        behaviour=st.none() | st.sampled_from([*registry.names(), "nope", ""]),
        path=paths,
        body=bodies,
        get=st.booleans(),
    )
    def check(plan: str | None, behaviour: str | None, path: str, body: bytes, get: bool) -> None:
        headers = dict(HEADERS, **{"content-type": "application/json"})
        if plan is not None:
            headers["x-chorus-fault"] = plan
        if behaviour is not None:
            headers["x-chorus-behaviour"] = behaviour
        status, raw = loop.run_until_complete(_send(session, sim, path, headers, body, get))
        if status is None:
            return  # the connection was reset: a plan asked for that, or the body was cut
        if status >= 500:
            assert asked_for_5xx(plan), (status, plan, path, raw[:200])
        if status >= 400:
            error = msgspec.json.decode(raw)
            assert error["type"] == "error", raw[:200]
            assert isinstance(error["error"]["type"], str) and error["error"]["message"]

    try:
        check()
    finally:
        loop.run_until_complete(session.close())
        loop.run_until_complete(sim.stop())
        loop.close()


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()


async def _send(
    session: aiohttp.ClientSession,
    sim: Simulator,
    path: str,
    headers: dict[str, str],
    body: bytes,
    get: bool,
) -> tuple[int | None, bytes]:
    try:
        if get:
            async with session.get(sim.base_url + path, headers=headers) as resp:
                return resp.status, await resp.read()
        async with session.post(sim.base_url + path, data=body, headers=headers) as resp:
            return resp.status, await resp.read()
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
        return None, b""
