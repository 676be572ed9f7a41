"""How a session's turn costs grow with its length: one long session against `chorus sim`.

One ``Session(agent, ..., store=SQLiteStore(...))`` with ``ContextPolicy(budget=8000)``,
short turns (a sentence each way), driven to ``--turns`` turns. The client's CPU per turn
(this process's user + system time) is reported over windows of ``--window`` turns at the
checkpoints, with SQLite bytes per turn; the simulator runs in its own process on the other
core. A turn's cost should depend on the window the model is sent, not on the history.

    .venv/bin/python bench/sessions.py --turns 4000 --checkpoints 500,2000,4000

Writes bench/results/sessions.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
        context=ContextPolicy(budget=8000),
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


def _db_bytes(db: Path) -> int:
    """The database's size on disk, its write-ahead log included."""
    wal = Path(str(db) + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=4000)
    parser.add_argument("--checkpoints", default="500,2000,4000")
    parser.add_argument("--window", type=int, default=100, help="turns averaged per checkpoint")
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--sim-core", default="1")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(args.client_core)})
    sim = start_sim("--ttft", "0", core=args.sim_core)
    db = Path(tempfile.mkdtemp()) / "sessions.db"
    try:
        rows = asyncio.run(drive(sim.url, args, db))
    finally:
        sim.stop()
    first = rows[0]["cpu_ms_per_turn"] if rows else 0
    lines = [
        "| turn | client CPU per turn | vs first checkpoint | SQLite bytes per turn |",
        "|---|---|---|---|",
        *(
            f"| {r['turn']:,} | {r['cpu_ms_per_turn']:.2f} ms | "
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


if __name__ == "__main__":
    main()
