"""``POST /v1/messages`` with ``stream: true`` for an agent without tools: the reply comes
as the model writes it, and a failure after it began is an ``error`` event."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.serve.conftest import served

SLOW = {"latency": {"ttft": 0.0, "tokens_per_second": 150}}
LONG = "please repeat after me: " + " ".join(f"word{i}" for i in range(60))


async def _read(s: Any, body: dict[str, Any], **headers: str) -> list[tuple[float, str, str]]:
    """(seconds since the request, event, data) for each event of the stream."""
    started = time.monotonic()
    got: list[tuple[float, str, str]] = []
    async with s.http.post(s.url + "/v1/messages", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        kind = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                got.append((time.monotonic() - started, kind, line[6:]))
    return got


def ask(text: str) -> dict[str, Any]:
    return {
        "model": "writer",
        "max_tokens": 1024,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }


async def test_the_text_arrives_as_it_is_written_not_at_the_end() -> None:
    async with served(sim=SLOW) as s:
        for headers in ({}, {"x-chorus-session": "live"}):
            events = await _read(s, ask(LONG), **headers)
            kinds = [k for _, k, _ in events]
            assert kinds[:3] == ["message_start", "content_block_start", "ping"]
            assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
            deltas = [t for t, k, _ in events if k == "content_block_delta"]
            assert len(deltas) > 20
            assert deltas[0] < 0.5 * events[-1][0]  # the first words came well before the end


async def test_a_failure_after_the_first_words_is_an_error_event() -> None:
    async with served(sim={**SLOW, "faults": {"*": "cut(after=8)*9"}}) as s:
        events = await _read(s, ask(LONG))
    kinds = [k for _, k, _ in events]
    assert "content_block_delta" in kinds and kinds[-1] == "error"
    assert "message_stop" not in kinds


async def test_a_tenant_without_room_is_refused_before_the_stream_begins() -> None:
    from tests.serve.conftest import config

    keys = [{"key": "sk-poor", "tenant": "poor"}]
    async with served(config(keys=keys, tenants={"poor": {"tokens_per_minute": 50}})) as s:
        status, body, headers = await s.post("/v1/messages", ask("hi"), **{"x-api-key": "sk-poor"})
        assert status == 429 and headers["Retry-After"]
        assert body["error"]["type"] == "rate_limit_error"
        assert s.service._stateless == 0


async def test_a_refusal_keeps_its_stop_reason_when_streamed() -> None:
    async with served(sim={"faults": {"*": "stop(reason=refusal)"}}) as s:
        events = await _read(s, ask("hello"))
    deltas = [d for _, k, d in events if k == "message_delta"]
    assert len(deltas) == 1 and '"stop_reason":"refusal"' in deltas[0]


async def test_a_reader_that_leaves_mid_stream_is_charged_what_the_run_reserved() -> None:
    from tests.serve.conftest import config

    keys = [{"key": "sk-t", "tenant": "t"}]
    async with served(
        config(keys=keys, tenants={"t": {"tokens_per_minute": 100_000}}), sim=SLOW
    ) as s:
        async with s.http.post(
            s.url + "/v1/messages", json=ask(LONG), headers={"x-api-key": "sk-t"}
        ) as r:
            seen = 0
            async for raw in r.content:
                seen += raw.startswith(b"event: content_block_delta")
                if seen >= 5:
                    break  # the reader leaves after a few words
        for _ in range(100):
            if s.service._stateless == 0:
                break
            await asyncio.sleep(0.02)
        allowance = s.service._allowance("t")
        used, _ = allowance.used(s.service._clock())
        assert allowance.running == 0 and s.service._stateless == 0
        assert used > 0  # not written off as free
