"""Faults 1-7, 15 and 16 of reference/reliability.md §3, each against the simulator's fault plans.

The client and the simulator share one fake clock: retry sleeps and rate-limit
waits advance virtual time, so nothing here really sleeps.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chorus import (
    APIConnectionError,
    AuthenticationError,
    IncompleteResponseError,
    InternalServerError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
    ShedError,
    StreamError,
)
from chorus.client import Claude
from chorus.errors import APITimeoutError, TLSError

from .conftest import MODEL, user

# -- fault 1: 429 rate_limit_error + retry-after --------------------------------------------


async def test_f1_429_waits_exactly_retry_after_then_succeeds(make_rig) -> None:
    async with make_rig() as r:
        message = await r.create("f1 a", fault="429(retry_after=2)*2;ok")
        assert message.text == "f1 a"
        assert len(r.attempts()) == 3
        assert r.clock.slept.count(2.0) >= 2  # never faster than retry-after
        assert r.sample("chorus_model_requests_total", model=MODEL, outcome="rate_limited") == 2
        assert r.sample("chorus_model_retries_total", model=MODEL, reason="server hint") == 2


async def test_f1_429_past_the_deadline_fails_at_once(make_rig) -> None:
    async with make_rig() as r:
        with pytest.raises(RateLimitError):
            await r.create("f1 b", fault="429(retry_after=2);ok", timeout=1.0)
        assert len(r.attempts()) == 1
        assert not [s for s in r.clock.slept if s > 0]


async def test_f1_a_lone_429_delays_only_its_own_call(make_rig) -> None:
    """No rate-limit headers and no other 429s: one call's bad luck, not a shared limit."""
    async with make_rig(max_retries=0) as r:
        with pytest.raises(RateLimitError):
            await r.create("f1 c", fault="429(retry_after=3)")
        t0 = r.clock.now()
        await r.create("f1 sibling")  # goes at once
        assert r.clock.now() == t0
        assert len(r.attempts()) == 2


async def test_f1_a_429_with_an_exhausted_limit_pauses_sibling_calls(make_rig) -> None:
    """The headers say the bucket is at 0: every call of the model waits for it."""
    async with make_rig({"rate_limits": {"*": {"rpm": 3}}}, max_retries=0) as r:
        await r.create("f1 first")  # learns rpm 3, 2 left
        async with Claude(api_key="sk-other", base_url=r.sim.base_url, clock=r.clock) as other:
            for i in range(2):  # another client with the same key takes the rest
                await other.messages.create(model=MODEL, max_tokens=8, messages=user(f"o{i}"))
        with pytest.raises(RateLimitError):
            await r.create("f1 refused")  # 429 with requests-remaining: 0
        t0 = r.clock.now()
        assert (await r.create("f1 sibling")).text == "f1 sibling"
        assert r.clock.now() - t0 >= 1.0  # held back until the bucket had room
        assert [e.status for e in r.attempts()][-2:] == [429, 200]


async def test_f1_429s_from_many_calls_at_once_pause_sibling_calls(make_rig) -> None:
    """No headers, but most recent attempts were refused: a shared limit after all."""
    async with make_rig(max_retries=0) as r:
        for i in range(8):
            with pytest.raises(RateLimitError):
                await r.create(f"f1 storm {i}", fault="429(retry_after=3)")
        t0 = r.clock.now()
        await r.create("f1 after the storm")
        assert r.clock.now() - t0 >= 3.0


async def test_f1_429_is_not_a_health_failure(make_rig) -> None:
    async with make_rig(max_retries=0, adaptive_throttle=False) as r:
        for i in range(8):
            with pytest.raises(RateLimitError):
                await r.create(f"f1 d {i}", fault="429(retry_after=1)")
            r.clock.advance(1)
        assert r.claude.model_state(MODEL).breaker.state == "closed"


async def test_f1_spend_cap_429_is_never_retried(make_rig) -> None:
    async with make_rig() as r:
        with pytest.raises(RateLimitError):
            await r.create("f1 e", fault="429(spend_cap=true);ok")
        assert len(r.attempts()) == 1


async def test_f1_client_side_limits_wait_instead_of_collecting_429s(make_rig) -> None:
    sim = {"rate_limits": {"*": {"rpm": 60}}}
    async with make_rig(sim, rate_limits={"*": {"rpm": 60}}) as r:
        for i in range(130):
            await r.create(f"f1 paced {i}")
        assert all(e.status == 200 for e in r.attempts())
        assert r.clock.now() - r.sim.ledger[0].time >= 60  # 130 requests at 60/min, burst 60


async def test_f1_limits_learned_from_headers(make_rig) -> None:
    async with make_rig({"rate_limits": {"*": {"rpm": 30}}}) as r:
        for i in range(40):
            await r.create(f"f1 learn {i}")
        statuses = [e.status for e in r.attempts()]
        assert statuses.count(429) == 0
        assert r.claude.model_state(MODEL).limits.requests is not None


# -- fault 2: 529 overloaded_error ----------------------------------------------------------


async def test_f2_529_retried_with_full_jitter(make_rig) -> None:
    async with make_rig() as r:
        await r.create("f2 a", fault="529*2;ok")
        assert len(r.attempts()) == 3
        first, second = [s for s in r.clock.slept if s > 0][:2]
        assert 0 <= first <= 0.5 and 0 <= second <= 1.0


async def test_f2_529_storm_trips_breaker_and_throttle(make_rig) -> None:
    async with make_rig({"faults": {"*": "529*200"}}, max_retries=0) as r:
        outcomes = {"overloaded": 0, "shed": 0}
        for i in range(60):
            try:
                await r.create(f"f2 storm {i}", timeout=1.0)
            except OverloadedError:
                outcomes["overloaded"] += 1
            except ShedError:
                outcomes["shed"] += 1
        sent = len(r.attempts())
        assert outcomes["shed"] > 0  # refused locally: the API was spared those calls
        assert sent == outcomes["overloaded"] < 60
        state = r.claude.model_state(MODEL)
        assert state.breaker.opened >= 1


async def test_f2_open_breaker_is_waited_out_within_the_deadline(make_rig) -> None:
    async with make_rig({"faults": {"*": "529*20"}}, max_retries=0, adaptive_throttle=False) as r:
        for i in range(20):  # half of at least 20 calls failing opens it
            with pytest.raises(OverloadedError):
                await r.create(f"f2 r {i}")
        with pytest.raises(ShedError) as info:
            await r.create("f2 refused", timeout=0.3)  # too little time to wait it out
        assert info.value.reason == "breaker_open"
        t0 = r.clock.now()
        assert (await r.create("f2 probe")).text == "f2 probe"  # waits for the probe window
        assert info.value.retry_after is not None
        assert r.clock.now() - t0 >= info.value.retry_after - 1.0
        assert r.claude.model_state(MODEL).breaker.state == "closed"
        assert len(r.attempts()) == 21


async def test_f2_fallback_model_takes_over(make_rig) -> None:
    async with make_rig({"faults": {"claude-sonnet-4-5-20250929": "529*10"}}, max_retries=2) as r:
        message = await r.create("f2 fb", fallback_models=["claude-haiku-4-5"])
        assert message.model == "claude-haiku-4-5-20251001"
        models = [e.model for e in r.attempts()]
        assert models.count("claude-sonnet-4-5") == 3 and models[-1] == "claude-haiku-4-5"


# -- fault 3: 500 / 502 / 503 / 504 ---------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_f3_server_errors_are_retried(make_rig, status: int) -> None:
    async with make_rig() as r:
        await r.create(f"f3 {status}", fault=f"{status};ok")
        assert [e.status for e in r.attempts()] == [status, 200]


async def test_f3_should_retry_false_is_obeyed(make_rig) -> None:
    async with make_rig() as r:
        with pytest.raises(InternalServerError):
            await r.create("f3 no", fault="500(should_retry=false);ok")
        assert len(r.attempts()) == 1


async def test_f3_retries_stop_at_max_retries(make_rig) -> None:
    async with make_rig(max_retries=3) as r:
        with pytest.raises(InternalServerError):
            await r.create("f3 max", fault="503*10")
        assert len(r.attempts()) == 4


# -- fault 4: connection reset before the response ------------------------------------------


async def test_f4_reset_before_headers_is_retried_on_a_new_connection(make_rig) -> None:
    async with make_rig() as r:
        message = await r.create("f4 a", fault="reset;reset;ok")
        assert message.text == "f4 a"
        assert [e.outcome for e in r.attempts()] == ["reset", "reset", "ok"]
        assert r.sample("chorus_model_requests_total", model=MODEL, outcome="connection") == 2


async def test_f4_refused_connection(make_rig) -> None:
    claude = Claude(api_key="k", base_url="http://127.0.0.1:9", max_retries=1)
    with pytest.raises(APIConnectionError):
        await claude.messages.create(model=MODEL, max_tokens=5, messages=user("x"), timeout=5)
    await claude.aclose()


# -- fault 5: TLS errors and timeouts -------------------------------------------------------


TRANSPORTS = ["http1", "aiohttp"]


def _transport(kind: str, **kwargs: Any) -> Any:
    from chorus.client.http1 import Http1Transport
    from chorus.client.transport import AiohttpTransport

    return (Http1Transport if kind == "http1" else AiohttpTransport)(**kwargs)


@pytest.mark.parametrize("kind", TRANSPORTS)
async def test_f5_read_timeout_before_the_first_byte_is_retried(kind: str) -> None:
    from chorus.sim import Simulator

    async with Simulator() as sim:
        claude = Claude(
            api_key="k", base_url=sim.base_url, transport=_transport(kind, read_timeout=0.2)
        )
        message = await claude.messages.create(
            model=MODEL,
            max_tokens=5,
            messages=user("f5 slow"),
            extra_headers={"x-chorus-fault": "stall(seconds=1);ok"},
        )
        assert message.text == "f5 slow"
        await asyncio.sleep(1.0)  # the stalled attempt is logged when its handler ends
        assert sorted(e.fault for e in sim.ledger) == ["ok", "stall(seconds=1)"]
        await claude.aclose()


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


async def test_f5_certificate_failure_is_not_retried(self_signed: tuple[Path, Path]) -> None:
    key, cert = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    hits = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal hits
        hits += 1
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    claude = Claude(api_key="k", base_url=f"https://127.0.0.1:{port}", max_retries=3)
    try:
        with pytest.raises(TLSError):
            await claude.messages.create(model=MODEL, max_tokens=5, messages=user("x"), timeout=10)
    finally:
        await claude.aclose()
        server.close()
        await server.wait_closed()
    assert hits <= 1  # one handshake, no retries


async def test_f5_deadline_bounds_the_whole_call(make_rig) -> None:
    async with make_rig() as r:
        with pytest.raises((RateLimitError, APITimeoutError)):
            await r.create("f5 deadline", fault="429(retry_after=1)*50", timeout=3.5)
        assert r.clock.now() - r.sim.ledger[0].time < 3.5


async def test_f5_a_body_finishing_after_the_deadline_is_a_deadline_error() -> None:
    # Far from the deadline no timer is armed for the body; the deadline is checked
    # once it is in. (Near the deadline a timer bounds the read: the test above.)
    from chorus.clock import FakeClock
    from chorus.errors import DeadlineExceededError

    clock = FakeClock()

    class SlowBody:
        status = 200
        headers: dict[str, str] = {}

        async def read(self) -> bytes:
            clock.advance(300)
            return b"{}"

    claude = Claude(api_key="k", base_url="http://127.0.0.1:9", clock=clock)
    with pytest.raises(DeadlineExceededError, match="before the deadline"):
        await claude.engine.read_message(SlowBody(), clock.monotonic() + 120)  # type: ignore[arg-type]
    await claude.aclose()


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("stream", [False, True])
async def test_f5_a_body_trickling_in_never_outlives_the_deadline(stream: bool, kind: str) -> None:
    # Headers at once, then a byte every 50 ms: 1,000 bytes would take 50 s. With no
    # timer of the call's own (far from the deadline), the call still ends by then.
    import time

    from chorus.errors import DeadlineExceededError, IncompleteResponseError

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        kind = b"text/event-stream" if stream else b"application/json"
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: " + kind + b"\r\ncontent-length: 1000\r\n\r\n"
        )
        try:
            for _ in range(1000):
                writer.write(b" " if not stream else b": keep\n")
                await writer.drain()
                await asyncio.sleep(0.05)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = _transport(kind, connect_timeout=0.5, read_timeout=1.0)
    claude = Claude(api_key="k", base_url=f"http://127.0.0.1:{port}", transport=transport)
    assert claude.engine.arm_deadline_below < 2.0  # so a 2 s deadline arms no timer of its own
    started = time.monotonic()
    try:
        with pytest.raises((DeadlineExceededError, IncompleteResponseError)) as info:
            if stream:
                async with claude.messages.stream(
                    model=MODEL, max_tokens=5, messages=user("x"), timeout=2.0
                ) as s:
                    await s.get_final_message()
            else:
                await claude.messages.create(
                    model=MODEL, max_tokens=5, messages=user("x"), timeout=2.0
                )
    finally:
        await claude.aclose()
        server.close()
        await server.wait_closed()
    assert isinstance(info.value, DeadlineExceededError)
    assert time.monotonic() - started < 10  # stopped at the deadline, not when the body ended


async def test_f5_the_watchdog_stops_a_request_at_its_deadline_while_data_flows() -> None:
    # The per-chunk checks see a deadline only when a chunk comes; the watchdog also
    # stops a request that went quiet just before its deadline (idle alone would let
    # it run up to a minute past it), and says it was the deadline.
    from chorus.client.transport import _AiohttpResponse, _Watchdog
    from chorus.errors import DeadlineExceededError

    loop = asyncio.get_running_loop()
    dog = _Watchdog(loop, idle=60.0)

    class Body:
        closed = False

        def close(self) -> None:
            self.closed = True

    live, due = dog.watch(None, expires_in=3600.0), dog.watch(None, expires_in=0.0)
    for watch in (live, due):
        watch.resp = Body()  # type: ignore[assignment]
    await asyncio.sleep(0.01)
    dog._check()
    dog.stop()
    assert due.fired and due.expired and due.resp.closed  # type: ignore[union-attr]
    assert not live.fired and not live.resp.closed  # type: ignore[union-attr]
    assert dog.active == {live}
    cut = _AiohttpResponse.__new__(_AiohttpResponse)
    cut._watch, cut._dog = due, dog
    assert isinstance(cut._cut(OSError(), "stream cut"), DeadlineExceededError)


# -- fault 6: stream cut mid-response -------------------------------------------------------


@pytest.mark.parametrize("after", [0, 1, 2, 3])
async def test_f6_cut_before_anything_escaped_is_retried_transparently(
    make_rig, after: int
) -> None:
    async with make_rig() as r:
        async with r.claude.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=user("f6 one two three"),
            extra_headers={"x-chorus-fault": f"cut(after={after});ok"},
        ) as s:
            events = [e async for e in s]
        assert [e.type for e in events].count("message_start") == 1
        assert (await s.get_final_message()).text == "f6 one two three"
        assert s.attempts == 2


@pytest.mark.parametrize("after", [4, 5, 7])
async def test_f6_cut_after_output_escaped_hands_over_the_partial(make_rig, after: int) -> None:
    async with make_rig() as r:
        seen = []
        with pytest.raises(IncompleteResponseError) as info:
            async with r.claude.messages.stream(
                model=MODEL,
                max_tokens=64,
                messages=user("f6 alpha beta gamma delta epsilon"),
                extra_headers={"x-chorus-fault": f"cut(after={after});ok"},
            ) as s:
                async for text in s.text_stream:
                    seen.append(text)
        assert info.value.partial.text == "".join(seen)
        assert len(r.attempts()) == 1  # never retried blindly after escape
        assert isinstance(info.value.__cause__, Exception)


WEATHER = {  # a tool the simulator calls when asked about the weather
    "name": "get_weather",
    "description": "weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_f6_cut_mid_tool_json_never_yields_a_callable_tool(make_rig) -> None:
    async with make_rig() as r:
        with pytest.raises(IncompleteResponseError) as info:
            async with r.claude.messages.stream(
                model=MODEL,
                max_tokens=64,
                tools=[WEATHER],
                messages=user("weather in Rome"),
                extra_headers={"x-chorus-fault": "cut(after=12);ok"},
            ) as s:
                async for _ in s:
                    pass
        partial = info.value.partial
        assert partial.content[-1].type == "tool_use"
        assert partial.stop_reason is None  # never a tool_use stop: nothing may run


async def _events_of(make_rig, **request: Any) -> list[str]:
    """The event types of a reply streamed whole: where each event of it sits."""
    async with (
        make_rig() as r,
        r.claude.messages.stream(model=MODEL, max_tokens=64, **request) as s,
    ):
        return [e.type async for e in s]


async def test_f6_a_tool_call_cut_after_its_stop_reason_is_whole_and_callable(make_rig) -> None:
    request = {"tools": [WEATHER], "messages": user("weather in Rome")}
    ended = (await _events_of(make_rig, **request)).index("message_delta") + 1
    async with make_rig() as r:
        async with r.claude.messages.stream(
            model=MODEL,
            max_tokens=64,
            extra_headers={"x-chorus-fault": f"cut(after={ended});ok"},
            **request,
        ) as s:
            seen = [e.type async for e in s]
        final = await s.get_final_message()
        assert len(r.attempts()) == 1
    assert seen[-2:] == ["message_delta", "message_stop"]  # the stop the server owed
    assert final.stop_reason == "tool_use"
    assert final.content[-1].type == "tool_use" and final.content[-1].input == {"city": "Rome"}


_ENDED_REPLY = (  # a short reply's events, all but message_stop
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
    b'"type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"all here"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"output_tokens":2}}\n\n'
)


class _StallsAtTheEnd:
    """A transport whose one reply stops after message_delta the way a real one does when
    the call's deadline comes: its body's next read raises DeadlineExceededError."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, method: str, url: str, **kw: Any) -> Any:
        self.sent += 1
        return self

    status = 200
    headers: dict[str, str] = {}

    async def read(self) -> bytes:
        raise AssertionError("a stream is read in chunks")

    async def chunks(self) -> Any:
        from chorus.errors import DeadlineExceededError

        yield _ENDED_REPLY
        raise DeadlineExceededError("the call's deadline passed")

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize("how", ["events", "text", "final"])
async def test_f6_a_reply_stalled_after_its_stop_reason_is_whole_at_the_deadline(
    how: str,
) -> None:
    """Nothing but message_stop is missing when the call's deadline comes: the reply is
    whole, not a deadline error, and not asked again, however it is read."""
    from chorus.client import Claude

    transport = _StallsAtTheEnd()
    claude = Claude(api_key="sk-test", transport=transport)
    try:
        async with claude.messages.stream(model=MODEL, max_tokens=64, messages=user("hi")) as s:
            if how == "events":
                assert [e.type async for e in s][-2:] == ["message_delta", "message_stop"]
            elif how == "text":
                assert [t async for t in s.text_stream] == ["all here"]
            final = await s.get_final_message()
    finally:
        await claude.aclose()
    assert final.text == "all here" and final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 2 and transport.sent == 1


async def test_f6_continuation_stitches_text(make_rig) -> None:
    async with make_rig({"faults": {"*": "cut(after=6)"}}, continue_interrupted=True) as r:
        async with r.claude.messages.stream(
            model=MODEL, max_tokens=64, messages=user("f6 a b c d e f g h")
        ) as s:
            texts = [t async for t in s.text_stream]
        final = await s.get_final_message()
        assert "".join(texts) == final.text == "f6 a b c d e f g h"
        prefill = r.sim.ledger[-1]
        assert prefill.outcome == "ok" and len(r.attempts()) == 2


async def test_f6_a_continuation_cut_after_its_stop_reason_ends_the_reply_whole(
    make_rig,
) -> None:
    """The continuation of a cut reply is itself cut after its message_delta: nothing of it
    was lost either, so the stitched reply is whole, with no third request."""
    prompt = "f6 a b c d e f g h"
    async with make_rig({"faults": {"*": "cut(after=6)"}}, continue_interrupted=True) as r:
        async with r.claude.messages.stream(model=MODEL, max_tokens=64, messages=user(prompt)) as s:
            [t async for t in s.text_stream]
        continued = r.attempts()[-1].events_sent  # the continuation's events, all sent
    plan = {"faults": {"*": f"cut(after=6);cut(after={continued - 1})"}}  # all but its stop
    async with make_rig(plan, continue_interrupted=True) as r:
        async with r.claude.messages.stream(model=MODEL, max_tokens=64, messages=user(prompt)) as s:
            texts = [t async for t in s.text_stream]
        final = await s.get_final_message()
        assert len(r.attempts()) == 2
        assert r.attempts()[-1].events_sent == continued - 1  # (it was cut where meant)
    assert "".join(texts) == final.text == prompt
    assert final.stop_reason == "end_turn"


# -- fault 7: event: error inside a 200 stream ----------------------------------------------


async def test_f7_sse_error_before_escape_is_retried_and_counts_as_overload(make_rig) -> None:
    async with make_rig() as r:
        async with r.claude.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=user("f7 a b"),
            extra_headers={"x-chorus-fault": "sse_error(after=2);ok"},
        ) as s:
            assert (await s.get_final_text()) == "f7 a b"
        assert r.sample("chorus_model_requests_total", model=MODEL, outcome="stream_error") == 1
        throttle = r.claude.model_state(MODEL).throttle
        assert throttle.requests == 2 and throttle.accepts == 1


async def test_f7_sse_error_after_escape_is_incomplete(make_rig) -> None:
    async with make_rig() as r:
        seen = []
        with pytest.raises(IncompleteResponseError) as info:
            async with r.claude.messages.stream(
                model=MODEL,
                max_tokens=64,
                messages=user("f7 one two three four"),
                extra_headers={"x-chorus-fault": "sse_error(after=5);ok"},
            ) as s:
                async for text in s.text_stream:
                    seen.append(text)
        assert isinstance(info.value.__cause__, StreamError)
        assert info.value.__cause__.type == "overloaded_error"
        assert info.value.partial.text == "".join(seen) == "f7 one"


async def test_f7_sse_error_mid_stream_is_retried_when_nobody_read(make_rig) -> None:
    async with make_rig() as r:
        async with r.claude.messages.stream(
            model=MODEL,
            max_tokens=64,
            messages=user("f7 one two three four"),
            extra_headers={"x-chorus-fault": "sse_error(after=5);ok"},
        ) as s:
            await s.until_done()
        assert (await s.get_final_message()).text == "f7 one two three four"
        assert s.attempts == 2


# -- fault 15: 401 / 403 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthenticationError), (403, PermissionDeniedError)]
)
async def test_f15_auth_failures_fail_fast(make_rig, status: int, error: type) -> None:
    async with make_rig() as r:
        with pytest.raises(error) as info:
            await r.create(f"f15 {status}", fault=f"{status};ok")
        assert len(r.attempts()) == 1
        assert "sk-test" not in str(info.value)


async def test_f15_wrong_key() -> None:
    from chorus.sim import Simulator, config_from_dict

    async with Simulator(config_from_dict({"api_keys": ["sk-right"]})) as sim:
        claude = Claude(api_key="sk-wrong", base_url=sim.base_url)
        with pytest.raises(AuthenticationError) as info:
            await claude.messages.create(model=MODEL, max_tokens=5, messages=user("x"))
        await claude.aclose()
    assert "sk-wrong" not in str(info.value) and len(sim.ledger) == 1


# -- fault 16: 413 request_too_large --------------------------------------------------------


async def test_f16_oversized_request_is_refused_locally(make_rig) -> None:
    async with make_rig(max_request_bytes=10_000) as r:
        with pytest.raises(RequestTooLargeError, match="at most 10,000"):
            await r.create("x" * 20_000)
        assert r.attempts() == []


async def _continued_after_cut(make_rig, after: int) -> tuple[list[str], Any, int]:
    """Stream "seam one two" with the first response cut after event ``after`` and
    continue_interrupted on: the texts read, the final message, the attempts made."""
    plan = {"faults": {"*": f"cut(after={after})"}}  # the first request only
    async with make_rig(plan, continue_interrupted=True) as r:
        async with r.claude.messages.stream(
            model=MODEL, max_tokens=64, messages=user("seam one two")
        ) as s:
            texts = [t async for t in s.text_stream]
        final = await s.get_final_message()
        attempts = len(r.attempts())
    return texts, final, attempts


@pytest.mark.parametrize("after", [3, 4, 5, 6])
async def test_f6_continuation_seam_adds_and_loses_nothing(make_rig, after: int) -> None:
    """Cut after each delta in turn, the last one included (the prefill is then the whole
    reply): the stitched text is exactly the reply, with no doubled or extra whitespace."""
    texts, final, _ = await _continued_after_cut(make_rig, after)
    assert "".join(texts) == final.text == "seam one two"


async def test_f6_a_cut_after_the_text_block_closed_is_continued_to_the_reply_end(
    make_rig,
) -> None:
    """Cut after content_block_stop: the text the caller has is whole; the continuation only
    brings the reply's end (its stop reason and usage), nothing repeated, no block reopened."""
    texts, final, attempts = await _continued_after_cut(make_rig, 7)
    assert "".join(texts) == final.text == "seam one two"
    assert final.stop_reason == "end_turn" and attempts == 2


async def test_f6_a_cut_after_the_stop_reason_ends_the_reply_whole(make_rig) -> None:
    """Cut after message_delta: the stop reason and the final usage came, every block is
    closed, and message_stop carries nothing more. The reply is whole: not asked again
    (that could only add to a finished reply), not failed either."""
    async with make_rig({"faults": {"*": "cut(after=8)"}}, continue_interrupted=True) as r:
        async with r.claude.messages.stream(
            model=MODEL, max_tokens=64, messages=user("seam one two")
        ) as s:
            texts = [t async for t in s.text_stream]
        final = await s.get_final_message()
        assert len(r.attempts()) == 1
    assert "".join(texts) == final.text == "seam one two"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0


@pytest.mark.parametrize(
    ("shown", "continuation", "expected"),
    [
        ("Hello.\n", ["\nNext."], "Hello.\nNext."),  # the newline was shown already
        ("Hello.\n", ["\n\nNext."], "Hello.\n\nNext."),  # one was shown, one is new
        ("Hello.\n\n", ["\n", "\nNext."], "Hello.\n\nNext."),  # the seam across two deltas
        ("Hello.\n\n", ["\n\nNext."], "Hello.\n\nNext."),
        ("one two ", ["three"], "one two three"),  # the continuation did not repeat it
        ("one two ", [" three"], "one two three"),
        ("one two", [" three"], "one two three"),  # no seam at all
    ],
)
def test_f6_the_seam_shows_whitespace_once(
    shown: str, continuation: list[str], expected: str
) -> None:
    from chorus.protocol.continuation import Continuation
    from chorus.protocol.types import ContentBlockDeltaEvent, TextDelta

    stitch = Continuation(0, shown)
    assert stitch.request({"messages": []})["messages"][-1]["content"] == shown.rstrip()
    text = shown
    for part in continuation:
        event = stitch.remap(ContentBlockDeltaEvent(index=0, delta=TextDelta(text=part)))
        if event is not None:
            text += event.delta.text
    assert text == expected


def test_f6_a_continuation_after_a_closed_block_adds_new_blocks_only() -> None:
    from chorus.protocol.continuation import Continuation
    from chorus.protocol.types import (
        ContentBlockDeltaEvent,
        ContentBlockStartEvent,
        ContentBlockStopEvent,
        MessageStopEvent,
        TextBlock,
        TextDelta,
    )

    def reply(*texts: str) -> list:
        events: list = []
        for i, text in enumerate(texts):
            events.append(ContentBlockStartEvent(index=i, content_block=TextBlock(text="")))
            if text:
                events.append(ContentBlockDeltaEvent(index=i, delta=TextDelta(text=text)))
            events.append(ContentBlockStopEvent(index=i))
        return [*events, MessageStopEvent()]

    nothing_more = Continuation(2, "Hello.\n", closed=True).remap_all(reply("", "Next."))
    assert [type(e).__name__ for e in nothing_more] == [
        "ContentBlockStartEvent",
        "ContentBlockDeltaEvent",
        "ContentBlockStopEvent",
        "MessageStopEvent",
    ]
    assert {e.index for e in nothing_more if hasattr(e, "index")} == {3}  # after block 2
    seam_only = Continuation(0, "Hello.\n", closed=True).remap_all(reply("\n"))
    assert seam_only == [MessageStopEvent()]  # the newline was shown already
    from chorus.protocol.types import InputJSONDelta, ToolUseBlock

    tool = [
        ContentBlockStartEvent(
            index=0, content_block=ToolUseBlock(id="t1", name="get_weather", input={})
        ),
        ContentBlockDeltaEvent(index=0, delta=InputJSONDelta(partial_json='{"city":"Lyon"}')),
        ContentBlockStopEvent(index=0),
        MessageStopEvent(),
    ]
    called = Continuation(0, "Let me check.", closed=True).remap_all(tool)
    assert [(type(e).__name__, getattr(e, "index", None)) for e in called] == [
        ("ContentBlockStartEvent", 1),
        ("ContentBlockDeltaEvent", 1),
        ("ContentBlockStopEvent", 1),
        ("MessageStopEvent", None),
    ]
    assert isinstance(called[0].content_block, ToolUseBlock)  # a tool call stays one
    assert isinstance(called[1].delta, InputJSONDelta)
    more = Continuation(0, "Hello.", closed=True).remap_all(reply(" More.", "And."))
    assert [(type(e).__name__, getattr(e, "index", None)) for e in more] == [
        ("ContentBlockStartEvent", 1),
        ("ContentBlockDeltaEvent", 1),
        ("ContentBlockStopEvent", 1),
        ("ContentBlockStartEvent", 2),
        ("ContentBlockDeltaEvent", 2),
        ("ContentBlockStopEvent", 2),
        ("MessageStopEvent", None),
    ]
