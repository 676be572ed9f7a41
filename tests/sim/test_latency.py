"""The latency model: time to first token and tokens per second, on an injected clock."""

from __future__ import annotations

import pytest

from chorus.clock import FakeClock

from .conftest import user

TEN_WORDS = "one two three four five six seven eight nine ten"


async def test_streaming_paced_by_ttft_and_rate(make_client) -> None:
    clock = FakeClock()
    async with make_client({"latency": {"ttft": 0.5, "tokens_per_second": 10}}, clock=clock) as c:
        start = clock.now()
        reply = await c.message(messages=user(TEN_WORDS), stream=True)
        elapsed = clock.now() - start
        output = reply.events()[-2].usage.output_tokens
    assert elapsed == pytest.approx(0.5 + output / 10, abs=1e-6)
    assert sum(clock.slept) == pytest.approx(elapsed)
    assert len([s for s in clock.slept if s > 0]) > 5  # paced event by event, not all at once


async def test_non_streaming_waits_for_the_whole_reply(make_client) -> None:
    clock = FakeClock()
    async with make_client({"latency": {"ttft": 1.0, "tokens_per_second": 20}}, clock=clock) as c:
        start = clock.now()
        body = (await c.message(messages=user(TEN_WORDS))).json()
    assert clock.now() - start == pytest.approx(1.0 + body["usage"]["output_tokens"] / 20)


async def test_ttft_jitter_is_seeded(make_client) -> None:
    samples = []
    for _ in range(2):
        clock = FakeClock()
        async with make_client(
            {"seed": 3, "latency": {"ttft": 1.0, "ttft_sigma": 0.5}}, clock=clock
        ) as c:
            times = []
            for i in range(5):
                t = clock.now()
                await c.message(messages=user(f"q{i}"))
                times.append(round(clock.now() - t, 9))
            samples.append(times)
    assert samples[0] == samples[1]
    assert len(set(samples[0])) == 5


async def test_pings_keep_long_pauses_alive(make_client) -> None:
    clock = FakeClock()
    async with make_client({"latency": {"ttft": 12, "ping_interval": 5}}, clock=clock) as c:
        reply = await c.message(messages=user("hi"), stream=True)
    names = [type(e).__name__ for e in reply.events()]
    assert names[:2] == ["PingEvent", "PingEvent"]


async def test_virtual_time_config_never_sleeps(make_client) -> None:
    async with make_client({"virtual_time": True, "latency": {"ttft": 3600}}) as c:
        reply = await c.message(messages=user("hi"))
    assert reply.status == 200
