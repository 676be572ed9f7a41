"""What laying out one model call costs in Python as a session's history grows.

A session held in memory makes each call of a turn from its history: the context manager
lays the window out (``ContextManager.prepare``), prompt caching places its breakpoints
(``with_cache_breakpoints``) and the client encodes the body (``Engine.encode_body``).
Each call sends the whole window, so the body grows with it; the Python work around it
should not. This times the three steps, in this process (no server, no network), for
histories of one-tool turns of 100 to 4,000 messages: each call after the first of a
session, whose first call measures the history once.

    .venv/bin/python bench/call_layout.py               # a few seconds
    PYTHONPATH=/path/to/older/checkout/src .venv/bin/python bench/call_layout.py  # before

Writes bench/results/call_layout.json (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from chorus.client import Claude
from chorus.context.cache import with_cache_breakpoints
from chorus.context.compaction import ContextState
from chorus.context.history import Extended, History
from chorus.context.manager import ContextManager
from chorus.context.policy import ContextPolicy

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "claude-sonnet-4-5"
SYSTEM = "Use the tools when they help."
TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city right now.",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


def one_tool_turn(i: int) -> list[dict[str, Any]]:
    tid = f"toolu_{i:08d}"
    return [
        {"role": "user", "content": f"what is the weather in Lyon, number {i}?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": tid, "name": "get_weather", "input": {"city": "Lyon"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tid, "content": "12 C and clear"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "12 C and clear in Lyon."}]},
    ]


async def measure(messages: int, calls: int) -> dict[str, Any]:
    engine = Claude(api_key="sk-bench", base_url="http://127.0.0.1:9").engine
    history = History([m for i in range(messages // 4) for m in one_tool_turn(i)])
    manager = ContextManager(ContextPolicy(recall=0))
    state = ContextState()

    async def summarize(request: dict[str, Any]) -> str:
        raise AssertionError("no compaction at these lengths")

    times: dict[str, list[float]] = {"prepare": [], "breakpoints": [], "encode": []}
    size = 0
    for k in range(calls + 1):
        run = Extended(history, [{"role": "user", "content": "and the weather in Lyon?"}])
        a = time.perf_counter()
        layout = await manager.prepare(
            run,
            state,
            model=MODEL,
            max_tokens=64,
            prompt_index=len(history),
            summarize=summarize,
            system=SYSTEM,
            tools=TOOLS,
        )
        b = time.perf_counter()
        request = with_cache_breakpoints(
            {"model": MODEL, "max_tokens": 64, "messages": layout.messages, "tools": TOOLS}
        )
        c = time.perf_counter()
        size = len(engine.encode_body(request))
        d = time.perf_counter()
        if k:  # (the first call measures the history once)
            times["prepare"].append(b - a)
            times["breakpoints"].append(c - b)
            times["encode"].append(d - c)
    row: dict[str, Any] = {"messages": messages, "body_bytes": size}
    for name, values in times.items():
        row[f"{name}_us"] = statistics.median(values) * 1e6
    row["call_us"] = row["prepare_us"] + row["breakpoints_us"] + row["encode_us"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[100, 1000, 4000])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS / "call_layout.json")
    args = parser.parse_args()
    rows = []
    for messages in args.messages:
        row = asyncio.run(measure(messages, args.calls))
        rows.append(row)
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}))
    report = {
        "command": "python bench/call_layout.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "rows": rows,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
