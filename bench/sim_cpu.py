"""The simulator's server CPU per streamed 10-delta response, beside a bare floor, same run.

Question: what does `chorus sim` itself cost per streamed response, and how far
is that from what any Python server must spend? The simulator is the load
target of every client benchmark, so its cost bounds how much load one core
of it can offer (goal: <= 150 µs per response).

Peers, each started fresh per setting, pinned to ``--server-core`` (1), under
the same load from this process pinned to ``--client-core`` (0):

* ``chorus sim``: the real command, ``python -m chorus sim --quiet`` with its
  defaults (no latency, no faults, no rate limits; uvloop if installed).
* ``aiohttp minimal``: the smallest aiohttp.web handler replaying a fixed
  pre-rendered 10-delta stream (bench/floor_servers.py): what aiohttp costs.
* ``aiohttp decode`` (``--servers``): the same handler decoding the request's JSON with
  msgspec, for ``--history``: what reading a long session's body costs any server.
* ``asyncio floor``: a bare asyncio.Protocol HTTP/1.1 server replaying the same
  bytes in one write (bench/floor_servers.py): the floor every ratio is taken
  against. Both replay 1,927 bytes where the simulator sends 2,129 (its usage
  objects are longer); ``body_bytes`` in the JSON records each peer's size.

Load: one aiohttp ClientSession with TCPConnector(limit=C), C closed-loop
callers, each a streaming POST /v1/messages of a 10-word user message read to
the end; bounded by ``--requests`` and ``--seconds``, whichever comes first.
Every response must be a 200 with exactly 10 text_delta events ending in
message_stop, or it counts as an error. Server CPU is read from /proc around
the measured window only (bench/harness.py).

    .venv/bin/python bench/sim_cpu.py                     # C = 1, 50, 200, 3 rounds; ~80 s
    .venv/bin/python bench/sim_cpu.py --concurrency 50 --requests 50000 --rounds 3
    .venv/bin/python bench/sim_cpu.py --history 200 --concurrency 20 --name sim_history_200 \
        --servers "chorus sim,aiohttp decode,asyncio floor"     # a long session's calls

Writes bench/results/sim_cpu.json and bench/results/sim_cpu.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

import harness
from harness import Column, Row, ServerProcess

HERE = Path(__file__).resolve().parent
TEXT = "one two three four five six seven eight nine ten"
DELTAS = len(TEXT.split())
TOOLS = [
    {
        "name": "get_weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def request(history: int) -> bytes:
    """The call's body, after ``history`` earlier exchanges of an agent's one-tool turn
    (a question, a tool call, its result, the answer): what a long session sends."""
    messages: list[dict[str, Any]] = []
    for i in range(history):
        call = f"toolu_{i:020d}"
        messages += [
            {"role": "user", "content": "what is the weather in Lyon?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": call,
                        "name": "get_weather",
                        "input": {"city": "Lyon"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call, "content": "Sunny, 21 C."}
                ],
            },
            {"role": "assistant", "content": "It is sunny and 21 C in Lyon today."},
        ]
    messages.append({"role": "user", "content": TEXT})
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": True}
    if history:
        body["tools"] = TOOLS
    return msgspec.json.encode({**body, "messages": messages})


HEADERS = {
    "x-api-key": "sk-bench",
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
}
TEXT_DELTA = b'"type":"text_delta"'
END = b'data: {"type":"message_stop"}\n\n'
FLOOR = "asyncio floor"
PEERS = ["chorus sim", "aiohttp minimal", "aiohttp decode", FLOOR]


class BadResponse(Exception):
    """A response that is not a complete 10-delta stream: counted as an error."""


def servers(args: argparse.Namespace) -> dict[str, list[str]]:
    sim = [sys.executable, "-m", "chorus", "sim", "--host", "127.0.0.1", "--port", "0"]
    sim.append("--quiet")
    if args.ttft is not None:
        sim += ["--ttft", str(args.ttft)]
    if args.tps is not None:
        sim += ["--tps", str(args.tps)]
    floors = str(HERE / "floor_servers.py")
    return {
        "chorus sim": sim,
        "aiohttp minimal": [sys.executable, floors, "aiohttp", "0"],
        "aiohttp decode": [sys.executable, floors, "aiohttp-decode", "0"],
        FLOOR: [sys.executable, floors, "asyncio", "0"],
    }


def check(status: int, body: bytes) -> None:
    """A complete stream: 200, exactly DELTAS text deltas, message_stop last."""
    if status != 200:
        raise BadResponse(f"status {status}: {body[:200]!r}")
    deltas = body.count(TEXT_DELTA)
    if deltas != DELTAS:
        raise BadResponse(f"{deltas} text deltas, expected {DELTAS}")
    if not body.endswith(END):
        raise BadResponse(f"does not end with message_stop: {body[-80:]!r}")


async def run_one(
    server: ServerProcess, concurrency: int, args: argparse.Namespace
) -> tuple[Row, int]:
    url = server.url + "/v1/messages"
    sent = request(args.history)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        connector=connector, headers=HEADERS, timeout=timeout
    ) as session:

        async def call() -> None:
            async with session.post(url, data=sent) as resp:
                body = await resp.read()
            check(resp.status, body)

        # One checked response first: it proves the peer speaks, and records its size.
        async with session.post(url, data=sent) as resp:
            sample = await resp.read()
        check(resp.status, sample)
        row = await harness.measure_load(
            server.name,
            {"concurrency": concurrency},
            call,
            concurrency=concurrency,
            requests=args.requests,
            seconds=args.seconds,
            warmup_requests=args.warmup_requests,
            warmup_seconds=args.warmup_seconds,
            server=server,
        )
    return row, len(sample)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,50,200", help="comma-separated C values")
    parser.add_argument("--requests", type=int, default=20_000, help="per run, at most")
    parser.add_argument("--seconds", type=float, default=6.0, help="per run, at most")
    parser.add_argument("--warmup-requests", type=int, default=1_000)
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="repeat; keep the median run")
    parser.add_argument(
        "--servers",
        default="chorus sim,aiohttp minimal,asyncio floor",
        help=f"comma-separated, of: {', '.join(PEERS)}",
    )
    parser.add_argument(
        "--history", type=int, default=0, help="earlier one-tool exchanges in each request"
    )
    parser.add_argument("--ttft", type=float, help="pass --ttft to chorus sim (default: none)")
    parser.add_argument("--tps", type=float, help="pass --tps to chorus sim (default: none)")
    parser.add_argument("--server-core", default="1")
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--name", default="sim_cpu", help="results file stem")
    args = parser.parse_args()

    table = servers(args)
    chosen = [s.strip() for s in args.servers.split(",") if s.strip()] or list(table)
    unknown = set(chosen) - set(table)
    if unknown:
        raise SystemExit(f"unknown server(s) {sorted(unknown)}; known: {list(table)}")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    harness.pin_self(args.client_core)

    rows: list[Row] = []
    for round_no in range(args.rounds):
        for c in concurrencies:
            for name in chosen:
                with harness.start_server(name, table[name], core=args.server_core) as server:
                    row, size = harness.run_async(run_one(server, c, args))
                    if not server.alive():
                        row.extra["server_died"] = server.stderr_tail()
                row.extra["body_bytes"] = size
                row.extra["round"] = round_no
                rows.append(row)
                print(
                    json.dumps(
                        {
                            "server": name,
                            "C": c,
                            "round": round_no,
                            "us/resp": round(row.server_cpu_us_per_req or 0, 1),
                            "rps": round(row.rps),
                            "errors": row.errors,
                            "stopped_by": row.stopped_by,
                        }
                    ),
                    flush=True,
                )

    if args.rounds > 1:
        rows = harness.pick_median(rows, "server_cpu_us_per_req")
    order = {name: i for i, name in enumerate(chosen)}
    rows.sort(key=lambda r: (r.params["concurrency"], order[r.name]))
    columns = [
        Column("server", "name", "s"),
        Column("C", "concurrency", "d"),
        Column("server CPU µs/response", "server_cpu_us_per_req", ",.1f", ratio=True),
        Column("responses/s", "rps", ",.0f"),
        Column("p50 ms", "p50_ms", ".2f"),
        Column("p99 ms", "p99_ms", ".2f"),
        Column("client CPU µs/response", "client_cpu_us_per_req", ",.0f"),
        Column("server peak RSS MB", "server_peak_rss_mb", ".1f"),
        Column("responses", "completed", ",d"),
        Column("errors", "errors", "d"),
        Column("other load %", "foreign_cpu_pct", ".0f"),
    ]
    goal = [
        f"C={r.params['concurrency']}: {r.server_cpu_us_per_req:.0f} µs "
        f"({'meets' if r.server_cpu_us_per_req <= 150 else 'misses'} the 150 µs goal)"
        for r in rows
        if r.name == "chorus sim" and r.server_cpu_us_per_req is not None
    ]
    notes = (
        "Server CPU: on-CPU time of the server process over the measured window "
        "(/proc/PID/task/*/schedstat; utime+stime ticks are in the JSON), divided by "
        "complete responses. chorus sim: " + "; ".join(goal) + "."
        if goal
        else ""
    )
    noisy = [r for r in rows if (r.foreign_cpu_pct or 0.0) > 5.0]
    if noisy:
        notes += (
            f"\n\nWarning: {len(noisy)} row(s) ran while something else used more than 5% "
            "of a core (the 'other load %' column); rerun on a quiet machine."
        )
    settings: dict[str, Any] = dict(vars(args))
    settings["servers"] = {name: table[name] for name in chosen}
    _, md_path, text = harness.write_results(
        args.name,
        rows,
        columns=columns,
        baseline=FLOOR,
        group_by=["concurrency"],
        settings=settings,
        title="Simulator CPU per streamed 10-delta response"
        + (f", after {args.history} earlier exchanges" if args.history else ""),
        notes=notes,
    )
    print()
    print(text)
    print(f"written: {md_path} and {md_path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
