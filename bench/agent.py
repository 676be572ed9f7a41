"""One tool-using agent turn, stack by stack, against `chorus sim`; plus session memory and disk.

Peers in the same run: a hand-written raw aiohttp + msgspec loop (the floor),
chorus `Agent`, Pydantic AI `Agent`, LangChain `create_agent`, and the official
SDK's tool runner. A turn is model call, tool, model call; the simulator runs
pinned to one core, each peer's load in its own process on the other.

Then, in this process: bytes of RAM per idle session (20 turns held in memory)
for chorus's stored form (plain dicts) vs LangChain message objects, and bytes
on disk per turn in the SQLite store.

    .venv/bin/python bench/agent.py                       # ~3 minutes
    .venv/bin/python bench/agent.py --concurrency 50 --seconds 4

Writes bench/results/agent.json and bench/results/agent.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import start_sim  # noqa: E402 - the bench folder is not a package

RESULTS = ROOT / "results"
PEERS = ("raw", "chorus", "pydantic-ai", "langchain", "anthropic-tool-runner")


def run_peer(args: argparse.Namespace, url: str, peer: str) -> dict[str, Any]:
    cmd = ["taskset", "-c", args.client_core, sys.executable, str(ROOT / "agent_worker.py")]
    cmd += ["--peer", peer, "--url", url, "--concurrency", str(args.concurrency)]
    cmd += ["--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds * 5 + 120)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"peer": peer, "failed": tail[:200]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def conversation(turns: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i in range(turns):
        messages.append({"role": "user", "content": f"Question {i}: " + "what about this? " * 20})
        messages.append(
            {
                "role": "assistant",
                "content": [{"type": "text", "text": f"Answer {i}: " + "here it is. " * 60}],
            }
        )
    return messages


def memory_per_session(sessions: int, turns: int) -> dict[str, float]:
    """Bytes of RAM per idle conversation: chorus's stored form vs LangChain messages."""
    from langchain_core.messages import AIMessage, HumanMessage

    def measure(build: Any) -> float:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        held = [build(i) for i in range(sessions)]
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        del held
        return used / sessions

    def chorus_session(i: int) -> Any:
        # What MemoryStore keeps per session: the wire-shape dicts, decoded from JSON.
        import msgspec

        return msgspec.json.decode(msgspec.json.encode(conversation(turns)))

    def langchain_session(i: int) -> Any:
        out = []
        for m in conversation(turns):
            text = m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
            out.append(HumanMessage(text) if m["role"] == "user" else AIMessage(text))
        return out

    return {"chorus": measure(chorus_session), "langchain": measure(langchain_session)}


def _size_of(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


async def disk_per_turn(turns: int) -> float:
    from chorus.store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        store = SQLiteStore(path)
        messages = conversation(turns)
        for s in range(20):
            lease = await store.acquire(f"s{s}", "bench", 60)
            for t in range(turns):
                await store.commit(lease, 2 * t, messages[2 * t : 2 * t + 2])
            await store.release(lease)
        await store.close()
        size = await asyncio.to_thread(_size_of, path)
    return size / (20 * turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--ttft", type=float, default=0.1)
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--sim-core", default="1")
    args = parser.parse_args()
    sim = start_sim("--ttft", str(args.ttft), core=args.sim_core)
    url = sim.url
    rows = []
    try:
        for peer in args.peers.split(","):
            row = run_peer(args, url, peer)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        sim.stop()
    memory = memory_per_session(sessions=500, turns=20)
    disk = asyncio.run(disk_per_turn(turns=20))
    raw = next((r for r in rows if r["peer"] == "raw" and "failed" not in r), None)
    pai = next((r for r in rows if r["peer"] == "pydantic-ai" and "failed" not in r), None)
    lines = [
        f"Command: `python bench/agent.py {' '.join(sys.argv[1:])}`".replace("  ", " "),
        "",
        "| peer | C | turns/s | client CPU µs/turn | vs raw loop | Pydantic AI / this "
        "| p50 ms | p99 ms | errors | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "failed" in r or not r.get("turns"):
            why = r.get("failed") or r.get("last_error") or "no turn completed"
            lines.append(f"| {r['peer']} | failed: {why} |||||||||")
            continue
        cpu = r["cpu_us_per_turn"]
        vs_raw = f"{cpu / raw['cpu_us_per_turn']:.2f}x" if raw and cpu else "—"
        vs_pai = f"{pai['cpu_us_per_turn'] / cpu:.1f}x" if pai and cpu else "—"
        lines.append(
            f"| {r['peer']} | {r['concurrency']} | {r['turns_per_s']:,.0f} | {cpu:,.0f} "
            f"| {vs_raw} | {vs_pai} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['errors']} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        "| held in memory, 20-turn conversation | bytes per idle session |",
        "|---|---|",
        f"| chorus (wire-shape dicts, as MemoryStore keeps them) | {memory['chorus']:,.0f} |",
        f"| LangChain message objects | {memory['langchain']:,.0f} |",
        "",
        f"SQLite store on disk: {disk:,.0f} bytes per turn (a user and an assistant message, "
        "WAL included).",
    ]
    md = "\n".join(lines) + "\n"
    record = {
        "command": lines[0],
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "rows": rows,
        "memory_bytes_per_session": memory,
        "disk_bytes_per_turn": disk,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "agent.json").write_text(json.dumps(record, indent=2))
    (RESULTS / "agent.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
