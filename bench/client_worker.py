"""One client stack under load, in its own process: the measured side of bench/client.py.

Runs ``concurrency`` closed-loop callers against the simulator for ``seconds``
(after a warm-up), then prints one JSON line: completed calls, errors, wall
time, this process's CPU time, latency percentiles and peak RSS. Each peer
makes the same call: a 10-word user message echoed back by the simulator as 10
text deltas, streamed or not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

MODEL = "claude-sonnet-4-5"
TEXT = "one two three four five six seven eight nine ten"
MESSAGES = [{"role": "user", "content": TEXT}]


def make_call(peer: str, mode: str, url: str, concurrency: int) -> Callable[[], Awaitable[Any]]:
    stream = mode == "stream"
    if peer == "raw":
        import aiohttp
        import msgspec

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            headers={
                "x-api-key": "k",
                "anthropic-version": "2023-06-01",
                "content-type": "application/json",
            },
        )
        body = msgspec.json.encode(
            {"model": MODEL, "max_tokens": 256, "messages": MESSAGES, "stream": stream}
        )
        decode = msgspec.json.decode

        async def close_raw() -> None:
            await session.close()

        async def raw() -> Any:
            async with session.post(url + "/v1/messages", data=body) as resp:
                if resp.status != 200:
                    raise RuntimeError(resp.status)
                if not stream:
                    return decode(await resp.read())
                buf = b""
                text = []
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    *frames, buf = buf.split(b"\n\n")
                    for frame in frames:
                        _, _, data = frame.partition(b"\ndata: ")
                        event = decode(data)
                        if event["type"] == "content_block_delta":
                            text.append(event["delta"].get("text", ""))
                return "".join(text)

        raw.aclose = close_raw  # type: ignore[attr-defined]
        return raw

    if peer == "chorus":
        from chorus.client import Claude

        claude = Claude(api_key="k", base_url=url)

        async def chorus_call() -> Any:
            if not stream:
                return await claude.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
            async with claude.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as s:
                return await s.get_final_message()

        chorus_call.aclose = claude.aclose  # type: ignore[attr-defined]
        return chorus_call

    if peer in ("anthropic", "anthropic-aiohttp"):
        import anthropic

        kwargs: dict[str, Any] = {"base_url": url, "api_key": "k"}
        if peer == "anthropic-aiohttp":
            kwargs["http_client"] = anthropic.DefaultAioHttpClient()
        client = anthropic.AsyncAnthropic(**kwargs)

        async def sdk() -> Any:
            if not stream:
                return await client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES)
            async with client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as s:
                return await s.get_final_message()

        return sdk

    if peer == "langchain":
        from langchain_anthropic import ChatAnthropic

        chat = ChatAnthropic(model=MODEL, base_url=url, api_key="k", max_tokens=256)

        async def lc() -> Any:
            if not stream:
                return await chat.ainvoke(TEXT)
            parts = [chunk async for chunk in chat.astream(TEXT)]
            return parts

        return lc

    if peer == "pydantic-ai":
        from pydantic_ai import Agent
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        model = AnthropicModel(MODEL, provider=AnthropicProvider(base_url=url, api_key="k"))
        agent = Agent(model)

        async def pai() -> Any:
            if not stream:
                return await agent.run(TEXT)
            async with agent.run_stream(TEXT) as result:
                return [t async for t in result.stream_text(delta=True)]

        return pai

    raise SystemExit(f"unknown peer {peer!r}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    call = make_call(args.peer, args.mode, args.url, args.concurrency)
    latencies: list[float] = []
    errors = 0
    counting = False
    stop_at = 0.0

    async def caller() -> None:
        nonlocal errors
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                await call()
            except Exception:
                if counting:
                    errors += 1
                continue
            if counting:
                latencies.append(time.perf_counter() - start)

    stop_at = time.monotonic() + args.warmup
    await asyncio.gather(*(caller() for _ in range(args.concurrency)))
    counting = True
    stop_at = time.monotonic() + args.seconds
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(args.concurrency)))
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    latencies.sort()
    n = len(latencies)
    closer = getattr(call, "aclose", None)
    if closer is not None:
        await closer()

    def pct(q: float) -> float | None:
        return latencies[min(n - 1, int(q * n))] if n else None

    return {
        "peer": args.peer,
        "mode": args.mode,
        "concurrency": args.concurrency,
        "completed": n,
        "errors": errors,
        "wall_s": wall,
        "rps": n / wall if wall else 0.0,
        "cpu_us_per_request": cpu / n * 1e6 if n else None,
        "p50_ms": pct(0.5) * 1e3 if n else None,
        "p99_ms": pct(0.99) * 1e3 if n else None,
        "peak_rss_mb": r1.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", required=True)
    parser.add_argument("--mode", choices=("stream", "create"), default="stream")
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
