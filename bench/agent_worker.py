"""One agent stack running tool-using turns in its own process: the measured side of bench/agent.py.

A turn is: the model is asked "What is the weather in Paris?", calls
``get_weather`` (the simulator's tool behaviour), the tool answers, and the
model replies from the result. ``concurrency`` closed-loop callers run turns
for ``seconds`` after a warm-up; the process prints one JSON line with turns,
errors, CPU time per turn and latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Awaitable, Callable
from typing import Any

MODEL = "claude-sonnet-4-5"
PROMPT = "What is the weather in Paris?"
WEATHER_SCHEMA = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def weather(city: str) -> str:
    return f"18 C and sunny in {city}"


def make_turn(peer: str, url: str, concurrency: int) -> Callable[[], Awaitable[str]]:
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
        encode, decode = msgspec.json.encode, msgspec.json.decode

        async def call(messages: list[Any]) -> Any:
            body = encode(
                {"model": MODEL, "max_tokens": 512, "tools": [WEATHER_SCHEMA], "messages": messages}
            )
            async with session.post(url + "/v1/messages", data=body) as resp:
                return decode(await resp.read())

        async def raw() -> str:
            messages: list[Any] = [{"role": "user", "content": PROMPT}]
            while True:
                reply = await call(messages)
                messages.append({"role": "assistant", "content": reply["content"]})
                uses = [b for b in reply["content"] if b["type"] == "tool_use"]
                if not uses:
                    return "".join(b.get("text", "") for b in reply["content"])
                messages.append(
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": u["id"],
                                "content": weather(**u["input"]),
                            }
                            for u in uses
                        ],
                    }
                )

        return raw

    if peer == "chorus":
        from chorus import Agent, Claude, tool

        @tool
        def get_weather(city: str) -> str:
            """Current weather for a city."""
            return weather(city)

        agent = Agent(
            model=MODEL,
            tools=[get_weather],
            client=Claude(api_key="k", base_url=url),
            max_tokens=512,
        )

        async def chorus_turn() -> str:
            return str((await agent.run(PROMPT)).output)

        return chorus_turn

    if peer == "pydantic-ai":
        from pydantic_ai import Agent as PAgent
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        pagent = PAgent(
            AnthropicModel(MODEL, provider=AnthropicProvider(base_url=url, api_key="k"))
        )

        @pagent.tool_plain
        def get_weather(city: str) -> str:
            """Current weather for a city."""
            return weather(city)

        async def pai() -> str:
            return str((await pagent.run(PROMPT)).output)

        return pai

    if peer == "langchain":
        from langchain.agents import create_agent
        from langchain_anthropic import ChatAnthropic
        from langchain_core.tools import tool as lc_tool

        @lc_tool
        def get_weather(city: str) -> str:
            """Current weather for a city."""
            return weather(city)

        graph = create_agent(
            ChatAnthropic(model=MODEL, base_url=url, api_key="k", max_tokens=512), [get_weather]
        )

        async def lc() -> str:
            state = await graph.ainvoke({"messages": [{"role": "user", "content": PROMPT}]})
            return str(state["messages"][-1].content)

        return lc

    if peer == "anthropic-tool-runner":
        import anthropic
        from anthropic import beta_async_tool

        client = anthropic.AsyncAnthropic(base_url=url, api_key="k")

        @beta_async_tool
        async def get_weather(city: str) -> str:
            """Current weather for a city."""
            return weather(city)

        async def runner() -> str:
            final = await client.beta.messages.tool_runner(
                model=MODEL,
                max_tokens=512,
                tools=[get_weather],
                messages=[{"role": "user", "content": PROMPT}],
                thread=False,  # no server-side message thread: a plain Messages API loop
            ).until_done()
            return "".join(getattr(b, "text", "") for b in final.content)

        return runner

    raise SystemExit(f"unknown peer {peer!r}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    turn = make_turn(args.peer, args.url, args.concurrency)
    latencies: list[float] = []
    errors = 0
    counting = False
    stop_at = 0.0
    last_error = ""

    async def caller() -> None:
        nonlocal errors, last_error
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                text = await turn()
                if "18 C and sunny in Paris" not in text:
                    raise RuntimeError(f"unexpected answer: {text[:80]!r}")
            except Exception as exc:
                if counting:
                    errors += 1
                    last_error = f"{type(exc).__name__}: {exc}"[:200]
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
    return {
        "peer": args.peer,
        "concurrency": args.concurrency,
        "turns": n,
        "errors": errors,
        "last_error": last_error,
        "turns_per_s": n / wall if wall else 0.0,
        "cpu_us_per_turn": cpu / n * 1e6 if n else None,
        "p50_ms": latencies[n // 2] * 1e3 if n else None,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1e3 if n else None,
        "peak_rss_mb": r1.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:
        result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
