"""The simulator's CPU per streamed 10-delta response, beside minimal servers, one core each.

Each server runs pinned to one core; the load generator (raw aiohttp, closed
loop, C concurrent streaming calls) runs pinned to the other. Server CPU comes
from /proc/PID/stat before and after the measured requests, so it is the
server's alone. Every response is checked: complete, 10 text deltas, ending
with message_stop.

Servers: `chorus sim` (the real command, defaults: no latency, no faults, no
limits), a bare asyncio.Protocol server and a minimal aiohttp.web handler
replaying the same bytes (bench/floor_servers.py): the floor and what aiohttp
itself costs.

    .venv/bin/python bench/sim_cpu.py                 # C = 1, 50, 200; ~1 minute
    .venv/bin/python bench/sim_cpu.py --concurrency 50 --requests 20000

Writes bench/results/sim_cpu.json and bench/results/sim_cpu.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import msgspec

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
TICK = os.sysconf("SC_CLK_TCK")
BODY = msgspec.json.encode(
    {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "stream": True,
        "messages": [
            {"role": "user", "content": "one two three four five six seven eight nine ten"}
        ],
    }
)
HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01", "content-type": "application/json"}
SERVERS = {
    "chorus sim": [sys.executable, "-m", "chorus", "sim", "--port", "0", "--quiet"],
    "aiohttp minimal": [sys.executable, str(ROOT / "floor_servers.py"), "aiohttp", "0"],
    "asyncio floor": [sys.executable, str(ROOT / "floor_servers.py"), "asyncio", "0"],
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


async def load(url: str, concurrency: int, requests: int) -> tuple[int, int, list[float]]:
    ok = errors = 0
    latencies: list[float] = []
    remaining = requests
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency), headers=HEADERS
    ) as session:

        async def caller() -> None:
            nonlocal ok, errors, remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                try:
                    async with session.post(url + "/v1/messages", data=BODY) as resp:
                        body = await resp.read()
                    deltas = body.count(b'"text_delta"')
                    if (
                        resp.status == 200
                        and deltas == 10
                        and body.endswith(b'{"type":"message_stop"}\n\n')
                    ):
                        ok += 1
                        latencies.append(time.perf_counter() - start)
                    else:
                        errors += 1
                except aiohttp.ClientError:
                    errors += 1

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    return ok, errors, latencies


def measure(name: str, args: argparse.Namespace, concurrency: int) -> dict[str, object]:
    cmd = ["taskset", "-c", args.server_core, *SERVERS[name]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        url = line.rsplit(" ", 1)[1]
        run = asyncio.run
        run(load(url, concurrency, max(200, args.requests // 10)))  # warm-up
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.perf_counter()
        ok, errors, lat = run(load(url, concurrency, args.requests))
        wall = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    lat.sort()
    return {
        "server": name,
        "concurrency": concurrency,
        "responses": ok,
        "errors": errors,
        "server_cpu_us_per_response": cpu / ok * 1e6 if ok else None,
        "responses_per_s": ok / wall,
        "p50_ms": lat[len(lat) // 2] * 1e3 if lat else None,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1e3 if len(lat) >= 100 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,50,200")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--server-core", default="1")
    parser.add_argument("--client-core", default="0")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(args.client_core)})
    rows = []
    for c in [int(x) for x in args.concurrency.split(",")]:
        for name in SERVERS:
            row = measure(name, args, c)
            rows.append(row)
            print(json.dumps(row), flush=True)
    lines = [
        "| server | C | server CPU µs/response | vs asyncio floor | responses/s "
        "| p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        floor = next(
            r["server_cpu_us_per_response"]
            for r in rows
            if r["server"] == "asyncio floor" and r["concurrency"] == row["concurrency"]
        )
        cpu = row["server_cpu_us_per_response"]
        ratio = (
            f"{cpu / floor:.2f}x" if isinstance(cpu, float) and isinstance(floor, float) else "—"
        )
        p99 = row["p99_ms"]
        lines.append(
            f"| {row['server']} | {row['concurrency']} | {cpu:.0f} | {ratio} | "
            f"{row['responses_per_s']:,.0f} | {row['p50_ms']:.2f} | "
            f"{p99 if p99 is None else format(p99, '.2f')} | {row['errors']} |"
        )
    command = "python bench/sim_cpu.py " + " ".join(sys.argv[1:])
    record = {
        "command": command.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_cpu.json").write_text(json.dumps(record, indent=2))
    md = f"Command: `{record['command']}`  \nMachine: {record['cpu']}\n\n" + "\n".join(lines) + "\n"
    (RESULTS / "sim_cpu.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
