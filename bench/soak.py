"""Soak: chorus with its defaults against the official SDK with its own, under faults.

Every client runs exactly as a new user writes it: ``Claude(api_key=..., base_url=...)``
and ``anthropic.AsyncAnthropic(api_key=..., base_url=...)``, nothing else. Each
run gets a fresh server with the same seed, pinned to its own core.

Two servers:

* ``fault``: ``bench/fault_server.py``, written apart from ``chorus.sim``: per
  attempt 10% 429 (``retry-after: 1``, no rate-limit headers), 5% 529, 2% cut
  after a random number of events, 1% reset before headers, 1% ``event: error``
  after a random number of events; every request 529 for 5 s in every 30 s.
* ``sim``: ``chorus sim`` with the same mix in its own fault grammar.

Three ways to consume a stream: ``final`` (only ``await s.get_final_message()``),
``text`` (iterate ``s.text_stream``, then the final message), each checked against
the text sent. Closed loop: ``--calls`` calls, ``--concurrency`` at a time.
``--repeats N`` runs it all N times, the stacks' order reversed every other time, and
reports medians and ranges; each ratio pairs runs of the same repeat.

``--outage``: one total outage instead (every request 529 for 60 s, after 10 s of
normal traffic), open-loop arrivals at ``--rate`` per second for ``--seconds``:
attempts per call, how long failing calls took, and how soon traffic was back.

    .venv/bin/python bench/soak.py                  # both servers, final and text
    .venv/bin/python bench/soak.py --repeats 3      # what docs/benchmarks.md reports
    .venv/bin/python bench/soak.py --outage

Writes bench/results/soak.json and .md (or soak-outage.*).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import ServerProcess, start_server, start_sim  # noqa: E402 - bench is not a package

RESULTS = ROOT / "results"
MODEL = "claude-sonnet-4-5"
WORDS = "the quick brown fox jumps over the lazy dog again and again".split()

SIM_CONFIG = {
    "seed": 11,
    "latency": {"ttft": 0.1, "tokens_per_second": 120},
    "stochastic": {
        "rates": {
            "429(retry_after=1)": 0.10,
            "529": 0.05,
            "cut(after=2)": 0.005,
            "cut(after=4)": 0.005,
            "cut(after=6)": 0.005,
            "cut(after=9)": 0.005,
            "reset": 0.01,
            "sse_error(after=3)": 0.005,
            "sse_error(after=7)": 0.005,
        },
        "bursts": [{"fault": "529", "start": 10, "duration": 5, "every": 30}],
    },
}

Call = Callable[[str, str], Awaitable[tuple[str, int | None]]]


def prompt(i: int) -> str:
    return " ".join(WORDS[: 4 + i % 8]) + f" #{i}"


# -- the clients, as a new user writes them ------------------------------------------------


def chorus_client(base_url: str, **options: Any) -> tuple[Any, Call]:
    from chorus import Claude, IncompleteResponseError

    claude = Claude(api_key="sk-soak", base_url=base_url, **options)

    async def call(text: str, how: str) -> tuple[str, int | None]:
        async with claude.messages.stream(
            model=MODEL, max_tokens=128, messages=[{"role": "user", "content": text}]
        ) as s:
            if how == "text":
                parts: list[str] = []
                try:
                    async for piece in s.text_stream:
                        parts.append(piece)
                except IncompleteResponseError as exc:
                    # The partial message must be exactly what the caller saw, and a prefix
                    # of the reply; anything else is a wrong answer, not an honest failure.
                    seen = "".join(parts)
                    if exc.partial is None or exc.partial.text != seen or not text.startswith(seen):
                        return "<partial message differs from what the caller saw>", s.attempts
                    raise
                final = await s.get_final_message()
                if "".join(parts) != final.text:
                    return "<text stream and final message differ>", s.attempts
            else:
                final = await s.get_final_message()
        return final.text, s.attempts

    return claude, call


def sdk_client(base_url: str) -> tuple[Any, Call]:
    import anthropic

    client = anthropic.AsyncAnthropic(api_key="sk-soak", base_url=base_url)

    async def call(text: str, how: str) -> tuple[str, int | None]:
        async with client.messages.stream(
            model=MODEL, max_tokens=128, messages=[{"role": "user", "content": text}]
        ) as s:
            if how == "text":
                parts = [t async for t in s.text_stream]
                final = await s.get_final_message()
                got = "".join(b.text for b in final.content if b.type == "text")
                if "".join(parts) != got:
                    return "<text stream and final message differ>", None
            else:
                final = await s.get_final_message()
        return "".join(b.text for b in final.content if b.type == "text"), None

    return client, call


STACKS: dict[str, Callable[[str], tuple[Any, Call]]] = {
    "chorus": chorus_client,
    "anthropic-sdk": sdk_client,
    # Only for the outage run, after the defaults: a call deadline shorter than the outage.
    "chorus-timeout-20": lambda url: chorus_client(url, timeout=20.0),
}
MIX_STACKS = ["chorus", "anthropic-sdk"]


async def close(client: Any) -> None:
    closer = getattr(client, "aclose", None) or getattr(client, "close", None)
    if closer is not None:
        await closer()


# -- load ----------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []
        self.calls: list[tuple[float, float, str]] = []  # (start, end, outcome) since t0
        self.attempts: list[int] = []

    def record(self, start: float, end: float, outcome: str, note: str = "") -> None:
        self.outcomes[outcome] += 1
        self.calls.append((start, end, outcome))
        if note and len(self.failures) < 5:
            self.failures.append(note)


async def one(
    call: Call,
    i: int,
    how: str,
    tally: Tally,
    t0: float,
    deadline: float,
    scheduled: float | None = None,
) -> None:
    """``scheduled``: when an open-loop arrival was due; its latency counts from then,
    so a client too busy to start it on time is charged for the wait."""
    text = prompt(i)
    start = time.monotonic() if scheduled is None else scheduled
    try:
        got, attempts = await asyncio.wait_for(call(text, how), deadline)
    except Exception as exc:  # the soak reports every kind of failure, by type
        note = f"{type(exc).__name__}: {str(exc)[:160]}"
        tally.record(start - t0, time.monotonic() - t0, type(exc).__name__, note)
        return
    if attempts is not None:
        tally.attempts.append(attempts)
    outcome = "ok" if got == text else "wrong_text"
    note = "" if outcome == "ok" else f"wrong text: sent {text!r}, got {got!r}"
    tally.record(start - t0, time.monotonic() - t0, outcome, note)


async def closed_loop(call: Call, how: str, calls: int, concurrency: int, limit: float) -> Tally:
    tally = Tally()
    t0 = time.monotonic()
    counter = iter(range(calls))

    async def worker() -> None:
        for i in counter:
            if time.monotonic() - t0 > limit:
                return
            await one(call, i, how, tally, t0, deadline=limit)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tally


async def open_loop(call: Call, rate: float, seconds: float, limit: float) -> Tally:
    tally = Tally()
    t0 = time.monotonic()
    tasks = []
    for i in range(int(rate * seconds)):
        delay = t0 + i / rate - time.monotonic()  # (late: it is started at once)
        if delay > 0:
            await asyncio.sleep(delay)
        due = t0 + i / rate
        tasks.append(asyncio.create_task(one(call, i, "final", tally, t0, limit, due)))
    await asyncio.wait(tasks, timeout=limit + 5)
    return tally


# -- servers -------------------------------------------------------------------------------


def fault_server(core: str, *extra: str) -> ServerProcess:
    argv = [sys.executable, str(ROOT / "fault_server.py"), "--port", "0", *extra]
    return start_server("fault server", argv, core=core)


def server_counts(server: ServerProcess) -> dict[str, Any]:
    """Stop the fault server and read back its closing JSON line."""
    server.proc.terminate()
    server.proc.wait(timeout=10)
    for _ in range(50):
        for line in reversed(list(server._tail)):
            if line.startswith("{"):
                server.stop()
                return dict(json.loads(line))
        time.sleep(0.05)
    server.stop()
    return {}


def sim_server(core: str) -> ServerProcess:
    config = Path(tempfile.mkdtemp()) / "soak-sim.json"
    config.write_text(json.dumps(SIM_CONFIG))
    return start_sim("--config", str(config), core=core)


# -- the runs ------------------------------------------------------------------------------


def summarize(tally: Tally, wall: float, calls: int) -> dict[str, Any]:
    ok = tally.outcomes["ok"]
    durations = sorted(end - start for start, end, _ in tally.calls)
    return {
        "calls": calls,
        "ok": ok,
        "success_ratio": ok / calls if calls else 0.0,
        "outcomes": dict(tally.outcomes),
        "failures": tally.failures,
        "wall_s": wall,
        "p50_s": statistics.median(durations) if durations else None,
        "p99_s": durations[int(len(durations) * 0.99) - 1] if len(durations) >= 100 else None,
        "attempts_per_call": (
            sum(tally.attempts) / len(tally.attempts) if tally.attempts else None
        ),
        # When each successful call ended: the time to the k-th success compares stacks
        # doing the same useful work, where the wall time rewards failing fast.
        "ok_end_s": sorted(end for _, end, outcome in tally.calls if outcome == "ok"),
    }


def mix_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every server, mode and stack, ``--repeats`` times; the stacks' order is reversed
    on every other repeat, so a drift of the machine's speed does not favour one."""
    rows = []
    for repeat in range(args.repeats):
        order = args.stacks if repeat % 2 == 0 else args.stacks[::-1]
        rows += [
            row
            for server_kind in args.servers
            for how in args.modes
            for row in (mix_run(args, server_kind, how, stack, repeat) for stack in order)
        ]
    return rows


def mix_run(
    args: argparse.Namespace, server_kind: str, how: str, stack: str, repeat: int
) -> dict[str, Any]:
    if server_kind == "fault":
        server = fault_server(args.server_core, "--seed", str(args.seed))
    else:
        server = sim_server(args.server_core)
    client, call = STACKS[stack](server.url)
    started, cpu = time.monotonic(), time.process_time()

    async def go(call: Call = call, how: str = how, client: Any = client) -> Tally:
        try:
            return await closed_loop(call, how, args.calls, args.concurrency, args.limit)
        finally:
            await close(client)

    tally = asyncio.run(go())
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    counts = server_counts(server) if server_kind == "fault" else {}
    server.stop()
    row = {"server": server_kind, "stack": stack, "consume": how, "repeat": repeat}
    row.update(summarize(tally, wall, args.calls))
    # The client's own CPU (this process, every thread): on one core, a client
    # that needs much of it waits for itself.
    row["client_cpu_ms_per_call"] = cpu * 1000 / args.calls
    if counts:
        row["server_attempts"] = sum(counts["counts"].values())
    print(json.dumps({k: v for k, v in row.items() if k != "ok_end_s"}), flush=True)
    return row


def outage_runs(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    at, length = 10.0, args.outage_seconds
    for stack in args.stacks:
        server = fault_server(
            args.server_core,
            "--seed",
            str(args.seed),
            *("--p429", "0", "--p529", "0", "--pcut", "0", "--preset", "0", "--perror", "0"),
            *("--burst-seconds", "0", "--outage-at", str(at), "--outage-seconds", str(length)),
        )
        client, call = STACKS[stack](server.url)
        started = time.monotonic()

        async def go(call: Call = call, client: Any = client) -> Tally:
            try:
                return await open_loop(call, args.rate, args.seconds, args.limit)
            finally:
                await close(client)

        tally = asyncio.run(go())
        wall = time.monotonic() - started
        counts = server_counts(server)
        # The server counts from its first request, which the first call sent at once.
        per_second = {int(k): v for k, v in counts.get("per_second", {}).items()}
        end = at + length
        during = [c for c in tally.calls if at <= c[0] < end]
        failed = [c for c in tally.calls if c[2] != "ok"]
        sent_during = sum(v for s, v in per_second.items() if at <= s < end)
        ok_after = sorted(c[1] for c in tally.calls if c[2] == "ok" and c[1] >= end)
        # Back to normal: from the start of the first half-second bin after the outage
        # from which on every call (counted from its scheduled arrival) succeeds with a
        # normal latency, to the end of the run.
        normal = [c[1] - c[0] for c in tally.calls if c[2] == "ok" and c[0] < at]
        typical = statistics.median(normal) if normal else 0.3
        recovered_at = end
        for step in range(int((args.seconds - end) * 2)):
            lo = end + step / 2
            fresh = [c for c in tally.calls if lo <= c[0] < lo + 0.5]
            if not all(c[2] == "ok" and c[1] - c[0] <= 2 * typical + 0.5 for c in fresh):
                recovered_at = lo + 0.5
        # Each half second after the outage: the slowest call started in it (None: one failed).
        bins = [
            max(
                (
                    c[1] - c[0] if c[2] == "ok" else math.inf
                    for c in tally.calls
                    if end + step / 2 <= c[0] < end + (step + 1) / 2
                ),
                default=-1.0,  # none started in it
            )
            for step in range(20)
        ]
        row = {
            "stack": stack,
            "rate": args.rate,
            "outage_s": length,
            "slowest_per_half_second_after": [round(b, 3) if b < math.inf else None for b in bins],
            "calls": len(tally.calls),
            "outcomes": dict(tally.outcomes),
            "calls_started_in_outage": len(during),
            "attempts_sent_in_outage": sent_during,
            "attempts_per_call_in_outage": sent_during / len(during) if during else None,
            "attempts_per_call_overall": (
                sum(per_second.values()) / len(tally.calls) if tally.calls else None
            ),
            "fail_time_p50_s": statistics.median([e - s for s, e, _ in failed]) if failed else None,
            "fail_time_max_s": max((e - s for s, e, _ in failed), default=None),
            "first_success_after_outage_s": ok_after[0] - end if ok_after else None,
            "back_to_normal_after_s": recovered_at - end,
            "wall_s": wall,
            "attempts_per_second": per_second,
            "failures": tally.failures,
        }
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "attempts_per_second"}), flush=True)
    return rows


def write(name: str, args: argparse.Namespace, rows: list[dict[str, Any]], table: str) -> None:
    record: dict[str, Any] = {
        "command": "python bench/soak.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "settings": vars(args),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    # (one line: the runs carry every success's end time)
    (RESULTS / f"{name}.json").write_text(json.dumps(record) + "\n")
    (RESULTS / f"{name}.md").write_text(f"Command: `{record['command'].strip()}`\n\n{table}\n")
    print(table)


def mix_table(rows: list[dict[str, Any]]) -> str:
    """One line per server, mode and stack: medians over the repeats, ranges in brackets.
    Each ratio pairs a run with the SDK's run of the same repeat."""
    lines = [
        "| server | consume | stack | success (lowest) | wall | ratio to SDK wall "
        "| time to the pair's k-th success, ratio to SDK | p50 | p99 | client CPU per call "
        "| failures by type (all repeats) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = dict.fromkeys((r["server"], r["consume"], r["stack"]) for r in rows)
    for server, consume, stack in keys:
        mine = [
            r for r in rows if (r["server"], r["consume"], r["stack"]) == (server, consume, stack)
        ]
        walls, k_ratios = [], []
        for r in mine:
            sdk = next(
                x
                for x in rows
                if (x["server"], x["consume"], x["repeat"]) == (server, consume, r["repeat"])
                and x["stack"] == "anthropic-sdk"
            )
            walls.append(r["wall_s"] / sdk["wall_s"])
            k = min(r["ok"], sdk["ok"])
            if k:
                k_ratios.append(r["ok_end_s"][k - 1] / sdk["ok_end_s"][k - 1])
        fails: Counter[str] = Counter()
        for r in mine:
            fails.update({key: v for key, v in r["outcomes"].items() if key != "ok"})
        lowest = min(mine, key=lambda r: r["ok"])
        lines.append(
            f"| {server} | {consume} | {stack} | {lowest['success_ratio']:.2%} "
            f"({lowest['ok']}/{lowest['calls']}) | {spread([r['wall_s'] for r in mine], ' s')} | "
            f"{spread(walls, 'x')} | {spread(k_ratios, 'x')} | "
            f"{spread([r['p50_s'] for r in mine], ' s')} | "
            f"{spread([r['p99_s'] for r in mine], ' s')} | "
            f"{spread([r['client_cpu_ms_per_call'] for r in mine], ' ms')} | {dict(fails) or '-'} |"
        )
    return "\n".join(lines)


def spread(values: list[float], unit: str) -> str:
    """The median, and the range when there is more than one value."""
    if not values:
        return "-"
    middle = f"{statistics.median(values):.2f}{unit}"
    if len(values) == 1:
        return middle
    return f"{middle} ({min(values):.2f}-{max(values):.2f})"


def outage_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| stack | calls | outcomes | attempts/call in outage | attempts/call overall "
        "| failing call took (p50 / max) | first success after | back to normal after |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def s(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    for r in rows:
        lines.append(
            f"| {r['stack']} | {r['calls']} | {r['outcomes']} | "
            f"{s(r['attempts_per_call_in_outage'])} | {s(r['attempts_per_call_overall'])} | "
            f"{s(r['fail_time_p50_s'])} / {s(r['fail_time_max_s'])} s | "
            f"{s(r['first_success_after_outage_s'])} s | {s(r['back_to_normal_after_s'])} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", default=["fault", "sim"], choices=["fault", "sim"])
    parser.add_argument(
        "--stacks",
        nargs="+",
        choices=list(STACKS),
        help="default: chorus and the SDK (and chorus with timeout=20 for --outage)",
    )
    parser.add_argument("--modes", nargs="+", default=["final", "text"], choices=["final", "text"])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=1, help="the mix runs, this many times")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds a run may take")
    parser.add_argument("--outage", action="store_true", help="the total-outage run instead")
    parser.add_argument("--outage-seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=50.0, help="outage run: calls per second")
    parser.add_argument("--seconds", type=float, default=100.0, help="outage run: how long")
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--server-core", default="1")
    args = parser.parse_args()
    if args.stacks is None:
        args.stacks = list(STACKS) if args.outage else MIX_STACKS
    os.sched_setaffinity(0, {int(args.client_core)})
    if args.outage:
        rows = outage_runs(args)
        write("soak-outage", args, rows, outage_table(rows))
    else:
        rows = mix_runs(args)
        write("soak", args, rows, mix_table(rows))


if __name__ == "__main__":
    main()
