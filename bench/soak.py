"""Soak the chorus client under the fault mix from the client issue, against `chorus sim`.

Fault mix per attempt (seeded, stochastic): 10% 429 with retry-after 1 s, 5% 529,
1% stream cut before anything escaped, 1% stream cut after output escaped, 1%
connection reset before headers; plus a 5-second burst of 529s every 60 s.

Open-loop load: calls start at a fixed rate whatever happens to earlier ones
(no coordinated omission), each streamed, each with its own deadline. The run
stops by itself; every call must end by its deadline plus a small margin, or it
counts as hung.

    .venv/bin/python bench/soak.py --rate 200 --seconds 90

Writes bench/results/soak.json and bench/results/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from chorus.client import Claude
from chorus.errors import ChorusError
from chorus.observe import Metrics

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import start_sim  # noqa: E402 - the bench folder is not a package

RESULTS = ROOT / "results"

SIM_CONFIG = {
    "seed": 11,
    "latency": {"ttft": 0.05, "tokens_per_second": 400},
    "stochastic": {
        "rates": {
            "429(retry_after=1)": 0.10,
            "529": 0.05,
            "cut(after=2)": 0.01,
            "cut(after=6)": 0.01,
            "reset": 0.01,
        },
        "bursts": [{"fault": "529", "start": 20, "duration": 5, "every": 60}],
    },
}


async def run(args: argparse.Namespace, base_url: str) -> dict[str, object]:
    metrics = Metrics()
    claude = Claude(
        api_key="sk-soak",
        base_url=base_url,
        observers=[metrics],
        max_retries=args.max_retries,
        retry_budget_ratio=args.budget_ratio,
        timeout=args.deadline,
        continue_interrupted=True,
    )
    outcomes: Counter[str] = Counter()
    mismatches: list[dict[str, object]] = []  # the first few replies that were not the text
    failures: list[str] = []  # the first few failed calls, as the caller saw them
    latencies: list[float] = []
    late: list[float] = []
    words = "the quick brown fox jumps over the lazy dog again and again".split()

    async def one(i: int) -> None:
        text = " ".join(words[: 4 + i % 8]) + f" #{i}"
        start = time.monotonic()
        try:
            async with claude.messages.stream(
                model="claude-sonnet-4-5",
                max_tokens=128,
                messages=[{"role": "user", "content": text}],
            ) as stream:
                final = await stream.get_final_message()
            if final.text != text:
                outcomes["wrong_text"] += 1
                if len(mismatches) < 5:
                    mismatches.append(
                        {"sent": text, "got": final.text, "attempts": stream.attempts}
                    )
            else:
                outcomes["ok"] += 1
        except ChorusError as exc:
            outcomes[type(exc).__name__] += 1
            if len(failures) < 5:
                failures.append(f"{type(exc).__name__}: {exc} (cause: {exc.__cause__!r})")
        elapsed = time.monotonic() - start
        latencies.append(elapsed)
        if elapsed > args.deadline + 1.0:
            late.append(elapsed)

    tasks = []
    interval = 1.0 / args.rate
    began = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    n = int(args.rate * args.seconds)
    for i in range(n):
        due = began + i * interval
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    _, pending = await asyncio.wait(tasks, timeout=args.deadline + 5.0)
    for task in pending:
        task.cancel()
    wall = time.monotonic() - began
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    await claude.aclose()
    ok = outcomes["ok"]
    budget = claude.budget
    lat = sorted(latencies)
    registry = metrics.registry
    attempts = sum(
        s.value
        for metric in registry.collect()
        if metric.name == "chorus_model_requests"
        for s in metric.samples
        if s.name.endswith("_total")
    )
    return {
        "calls": n,
        "ok": ok,
        "success_ratio": ok / n,
        "outcomes": dict(outcomes),
        "mismatches": mismatches,
        "failures": failures,
        "hung": len(pending) + len(late),
        "attempts": attempts,
        "attempts_per_call": attempts / n,
        "retries": budget.retries,
        "retry_budget_refusals": budget.refused,
        "retry_budget_allowance": budget.initial + budget.ratio * budget.first_attempts,
        "breaker_opened": sum(s.breaker.opened for s in claude._models.values() if s.breaker),
        "p50_s": statistics.median(lat) if lat else None,
        "p99_s": lat[int(len(lat) * 0.99) - 1] if len(lat) >= 100 else None,
        "max_s": lat[-1] if lat else None,
        "wall_s": wall,
        "client_cpu_us_per_call": (
            (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / n * 1e6
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="calls started per second")
    parser.add_argument("--seconds", type=float, default=90.0, help="how long calls are started")
    parser.add_argument("--deadline", type=float, default=60.0, help="each call's deadline (s)")
    parser.add_argument("--max-retries", type=int, default=8)
    parser.add_argument("--budget-ratio", type=float, default=0.3)
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--sim-core", default="1")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(args.client_core)})
    config = Path(tempfile.mkdtemp()) / "soak-sim.json"
    config.write_text(json.dumps(SIM_CONFIG))
    sim = start_sim("--config", str(config), core=args.sim_core)
    base_url = sim.url
    try:
        try:
            import uvloop

            result = uvloop.run(run(args, base_url))
        except ImportError:
            result = asyncio.run(run(args, base_url))
    finally:
        sim.stop()
    command = "python bench/soak.py " + " ".join(sys.argv[1:])
    record = {
        "command": command.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "settings": vars(args),
        "fault_mix": SIM_CONFIG["stochastic"],
        "result": result,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(record, indent=2))
    r = result
    table = [
        "| calls | succeeded | success | hung | attempts/call | retries (allowance) "
        "| budget refusals | breaker opened | p50 | p99 | max |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {r['calls']} | {r['ok']} | {r['success_ratio']:.4%} | {r['hung']} | "
        f"{r['attempts_per_call']:.3f} | {r['retries']} ({r['retry_budget_allowance']:.0f}) | "
        f"{r['retry_budget_refusals']} | {r['breaker_opened']} | {r['p50_s']:.2f} s | "
        f"{r['p99_s']:.2f} s | {r['max_s']:.2f} s |",
        "",
        f"Failures by type: {r['outcomes']}",
        *(f"Reply not the text sent: {m}" for m in r["mismatches"]),
        *(f"Failed call: {f}" for f in r["failures"]),
    ]
    (RESULTS / "soak.md").write_text(
        f"Command: `{record['command']}`\n\n" + "\n".join(table) + "\n"
    )
    print("\n".join(table))


if __name__ == "__main__":
    main()
