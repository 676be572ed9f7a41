"""How a session's turn costs grow with its length: one long session against `chorus sim`.

One ``Session(agent, ..., store=SQLiteStore(...))`` with ``ContextPolicy(max_input_tokens=8000)``,
short turns (a sentence each way), driven to ``--turns`` turns. The client's CPU per turn
(this process's user + system time) is reported over windows of ``--window`` turns at the
checkpoints, with SQLite bytes per turn; the simulator runs in its own process on the other
core. A turn's cost should depend on the window the model is sent, not on the history.

``--memory``: ``--sessions`` sessions of ``--session-turns`` turns each (prompts of about
430 characters, echoed back: about 17 KB of text per conversation), all held in memory and
idle at the end; the Python heap they hold (tracemalloc, after a full collection) per
session, against the bytes of the text in each conversation and against the same
conversations kept as plain dicts.

    .venv/bin/python bench/sessions.py --turns 20000 --checkpoints 500,5000,20000
    .venv/bin/python bench/sessions.py --memory

Writes bench/results/sessions.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import start_sim  # noqa: E402 - the bench folder is not a package

RESULTS = ROOT / "results"
FACT = "the ferry leaves pier {n} at {h}:{m:02d} and the fare is {f} crowns"


async def drive(url: str, args: argparse.Namespace, db: Path) -> list[dict[str, Any]]:
    from chorus import Agent, Claude, ContextPolicy, Session, SQLiteStore

    claude = Claude(api_key="sk-bench", base_url=url)
    agent = Agent(
        model="claude-sonnet-4-5",
        system="Be brief.",
        client=claude,
        max_tokens=128,
        context=ContextPolicy(max_input_tokens=8000),
    )
    store = SQLiteStore(db)
    session = Session(agent, "long", store=store)
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    rows: list[dict[str, Any]] = []
    window: list[float] = []
    started = time.monotonic()
    try:
        for turn in range(1, args.turns + 1):
            prompt = f"Note {turn}: " + FACT.format(
                n=turn % 40, h=turn % 24, m=turn % 60, f=turn % 90 + 10
            )
            cpu = time.process_time()
            await session.send(prompt)
            window.append(time.process_time() - cpu)
            window = window[-args.window :]
            if turn in checkpoints:
                size = _db_bytes(db)
                row = {
                    "turn": turn,
                    "cpu_ms_per_turn": 1000 * sum(window) / len(window),
                    "sqlite_bytes_per_turn": size / turn,
                    "elapsed_s": time.monotonic() - started,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        await store.close()
        await claude.aclose()
    return rows


PARAGRAPH = (
    "Order {n} for the harbour office: two crates of rope, one of lamp oil and a spare "
    "rudder pin, to be loaded on the morning boat at pier {p} and signed for by the "
    "night clerk. The invoice goes to the co-operative, not to the skipper, and the "
    "fare for the porter is {f} crowns. If the boat is late, hold the crates in the shed "
    "by the weighbridge. Please confirm the order and the pier number."
)


async def memory(url: str, args: argparse.Namespace, db: Path) -> dict[str, Any]:
    import gc
    import tracemalloc

    import msgspec

    from chorus import Agent, Claude, ContextPolicy, Session, SQLiteStore

    claude = Claude(api_key="sk-bench", base_url=url)
    agent = Agent(
        model="claude-sonnet-4-5",
        system="Be brief.",
        client=claude,
        max_tokens=256,
        context=ContextPolicy(max_input_tokens=8000),
    )
    store = SQLiteStore(db)
    try:
        warm = Session(agent, "warm-up", store=store)
        await warm.send("hello")  # imports, pools and caches that any process has once
        del warm
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        sessions = [Session(agent, f"user-{i}", store=store) for i in range(args.sessions)]

        async def converse(session: Session, i: int) -> None:
            for t in range(args.session_turns):
                await session.send(PARAGRAPH.format(n=i * 100 + t, p=t % 40, f=t + 10))

        for start in range(0, len(sessions), 50):
            batch = sessions[start : start + 50]
            await asyncio.gather(*(converse(s, start + k) for k, s in enumerate(batch)))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        histories = [await s.history() for s in sessions[:100]]
        text = sum(_text_bytes(h) for h in histories) / len(histories)
        encoded = sum(len(msgspec.json.encode(h)) for h in histories) / len(histories)
        tracemalloc.start()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        plain = [msgspec.json.decode(msgspec.json.encode(h)) for h in histories]
        as_dicts = (tracemalloc.get_traced_memory()[0] - before) / len(plain)
        tracemalloc.stop()
        del plain
        row = {
            "sessions": args.sessions,
            "turns_each": args.session_turns,
            "text_bytes_per_session": text,
            "json_bytes_per_session": encoded,
            "held_bytes_per_session": held / args.sessions,
            "ratio_to_text": held / args.sessions / text,
            "plain_dicts_bytes_per_session": as_dicts,
            "plain_dicts_ratio_to_text": as_dicts / text,
        }
        print(json.dumps(row), flush=True)
        return row
    finally:
        await store.close()
        await claude.aclose()


def _text_bytes(messages: list[dict[str, Any]]) -> int:
    """UTF-8 bytes of the words of a conversation: prompt strings and text blocks."""
    total = 0
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            total += len(content.encode())
            continue
        for block in content:
            if block.get("type") == "text":
                total += len(block["text"].encode())
    return total


def _db_bytes(db: Path) -> int:
    """The database's size on disk, its write-ahead log included."""
    wal = Path(str(db) + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=4000)
    parser.add_argument("--checkpoints", default="500,2000,4000")
    parser.add_argument("--window", type=int, default=500, help="turns averaged per checkpoint")
    parser.add_argument("--repeats", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--memory", action="store_true", help="the memory run instead")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--session-turns", type=int, default=20)
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--sim-core", default="1")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(args.client_core)})
    sim = start_sim("--ttft", "0", core=args.sim_core)
    db = Path(tempfile.mkdtemp()) / "sessions.db"
    if args.memory:
        try:
            row = asyncio.run(memory(sim.url, args, db))
        finally:
            sim.stop()
        write_memory(row)
        return
    runs: list[list[dict[str, Any]]] = []
    try:
        for repeat in range(args.repeats):
            if repeat:  # a fresh simulator and database for every run
                sim.stop()
                sim = start_sim("--ttft", "0", core=args.sim_core)
                db = Path(tempfile.mkdtemp()) / "sessions.db"
            runs.append(asyncio.run(drive(sim.url, args, db)))
    finally:
        sim.stop()
    rows = []
    for at in zip(*runs, strict=True):
        cpu = sorted(r["cpu_ms_per_turn"] for r in at)
        rows.append(
            {
                "turn": at[0]["turn"],
                "cpu_ms_per_turn": statistics.median(cpu),
                "cpu_ms_range": [cpu[0], cpu[-1]],
                "sqlite_bytes_per_turn": statistics.median(r["sqlite_bytes_per_turn"] for r in at),
                "runs": list(at),
            }
        )
    first = rows[0]["cpu_ms_per_turn"] if rows else 0
    lines = [
        f"Median of {args.repeats} runs (range in brackets); CPU averaged over the "
        f"{args.window} turns before each checkpoint.",
        "",
        "| turn | client CPU per turn | vs first checkpoint | SQLite bytes per turn |",
        "|---|---|---|---|",
        *(
            f"| {r['turn']:,} | {r['cpu_ms_per_turn']:.2f} ms "
            f"({r['cpu_ms_range'][0]:.2f}-{r['cpu_ms_range'][1]:.2f}) | "
            f"{r['cpu_ms_per_turn'] / first:.2f}x | {r['sqlite_bytes_per_turn']:,.0f} |"
            for r in rows
        ),
    ]
    command = "python bench/sessions.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sessions.json").write_text(
        json.dumps(
            {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, indent=2
        )
    )
    (RESULTS / "sessions.md").write_text(f"Command: `{command}`\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


def write_memory(row: dict[str, Any]) -> None:
    command = "python bench/sessions.py " + " ".join(sys.argv[1:])
    lines = [
        "| sessions x turns | text per session | held per idle session | vs text "
        "| as plain dicts | vs text |",
        "|---|---|---|---|---|---|",
        f"| {row['sessions']:,} x {row['turns_each']} "
        f"| {row['text_bytes_per_session'] / 1000:.1f} KB "
        f"| {row['held_bytes_per_session'] / 1000:.1f} KB | {row['ratio_to_text']:.2f}x "
        f"| {row['plain_dicts_bytes_per_session'] / 1000:.1f} KB "
        f"| {row['plain_dicts_ratio_to_text']:.2f}x |",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sessions-memory.json").write_text(
        json.dumps(
            {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "row": row}, indent=2
        )
    )
    (RESULTS / "sessions-memory.md").write_text(
        f"Command: `{command}`\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
