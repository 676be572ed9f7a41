"""chorus serve under open-loop load: durable turns/s, server overhead, overload, memory, faults.

``chorus serve`` runs pinned to core 0 with its sessions in SQLite (group commit, synchronous
FULL); the simulator and this load generator share core 1. The simulator answers every model
call after a fixed 50 ms (no spread), so a turn's *server overhead* is its latency minus
50 ms per model call: a text turn makes one call, a one-tool turn two.

Load is open loop: arrivals are scheduled at a fixed rate and each latency is measured from
the arrival's scheduled time, so a server that falls behind is charged for the wait (no
coordinated omission). Each arrival is a turn of one of ``sessions_for(rate)`` sessions in
turn (two seconds of arrivals, at least 1,000 and at most 2,000; each had one turn before
the run: a session's first turn, which reads the store, is measured apart), so sessions grow
by a few turns and a session's turns are 0.8 s or more apart. The load generator speaks HTTP/1.1
itself on kept-alive connections (a general client would spend the generator's core before
the server's).

* **sweep**: offered loads from ``--rates``, each for ``--seconds``: completed turns/s,
  p50/p99 overhead, errors, shed (503), server CPU per turn; for a text turn and a one-tool
  turn. Capacity: the highest offered load served with p99 overhead <= 20 ms and < 0.5%
  errors. Each row also counts the store's transactions in the step and those that took
  over 20 and over 100 ms (the server's ``chorus_store_commit_seconds``): a stalled
  disk's share of a missed p99.
* **floor**: the same text-turn sweep against ``bench/turn_floor.py`` (an aiohttp handler
  that makes the turn's one model call and answers; no agent, no store), pinned the same
  way: the share of a turn's CPU that is chorus's own, and the p99 this machine allows.
* **durable floor**: the floor again, but each turn's reply is appended to a file on the
  store's disk and made durable (``fdatasync``, many turns to a sync) before it is
  answered: the least a server that acknowledges only durable turns must wait, so the p99
  that this machine's disk allows such a server.
* **disk**: a write and ``fdatasync`` every 5 ms on the store's disk for 20 s, nothing else
  running: the disk's own tail, and the share of the time a sync takes over 20 ms.
* **shedding**: the server set to shed every turn (``shed_busy`` near 0) at 1,000
  requests/s: how fast a shed is answered when nothing else runs, and its CPU.
* **overload**: twice the text-turn capacity: goodput (turns completed per second) as a
  share of capacity, and how fast a shed request is answered.
* **sessions**: ``--sessions`` sessions of one turn each, then the server's RSS per idle
  session (the store's file not counted).
* **peers**: the same one-tool agent served by ``chorus serve``, by LangGraph's API
  server (``langgraph dev``, in memory, 10 runs at once) and by a FastAPI + Pydantic AI
  app (bench/peers/, in ``.venv-peers``), each pinned to core 0 in turn: average response
  at one turn at a time, turns/s with 64 and with 256 sessions, each sending turns as
  fast as they come back (a refused one at once), server CPU per turn, memory. chorus
  keeps its sessions in SQLite, durable; the peers keep theirs in memory.
* **faults**: the client's fault mix from the simulator (429 with retry-after, 529, cuts
  and resets, error events, and a 529 burst): the share of turns that fail, as JSON
  turns and as streamed ones (a streamed turn that ends in an ``error`` event, or whose
  text is not whole, fails).

    .venv/bin/python bench/server.py                 # about 15 minutes

Writes bench/results/server.json and docs/server-latency.png; docs/benchmarks.md has the
tables.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import percentile, pin_self, start_server, start_sim  # noqa: E402
from soak import SIM_CONFIG as SOAK_CONFIG  # noqa: E402

RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs"
MODEL_SECONDS = 0.05
SESSIONS = 1000  # at least; a session gets a turn every sessions_for(rate) / rate seconds


def sessions_for(rate: float) -> int:
    """Sessions a run at ``rate`` spreads its turns over: two seconds of arrivals, so a turn
    is not sent while its session's last one still runs (a 409), between 1,000 and 2,000
    (the server's default ``live_sessions`` is 2,048: a run measures turns of sessions held
    in memory, and past 1,000/s a session's turns are 2 s / (rate / 1,000) apart)."""
    return min(2 * SESSIONS, max(SESSIONS, int(rate * 2)))


CONFIG = """
agents:
  - name: writer
    system: Be brief.
    max_tokens: 64
  - name: assistant
    system: Use the tools when they help.
    tools: ["chorus.serve.demo:get_weather"]
    max_tokens: 64
store: {{path: {db}}}
"""
TURNS = {
    "text": ("writer", "hello there, how are you today?", 1),
    "one tool": ("assistant", "what is the weather in Lyon?", 2),
}


class Client:
    """HTTP/1.1 POSTs on kept-alive connections, as cheap for this core as it gets."""

    def __init__(self, host: str, port: int, most: int = 1024) -> None:
        self.host, self.port, self.most = host, port, most
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.freed = asyncio.Event()

    async def post(
        self, path: str, body: bytes, retry_after: list[float] | None = None
    ) -> tuple[int, bytes]:
        """``retry_after``: a list the response's ``Retry-After`` seconds are appended to."""
        while not self.idle and self.open >= self.most:  # (the wait counts: open loop)
            self.freed.clear()
            await self.freed.wait()
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            self.open += 1
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.open -= 1
                return -1, b""
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            chunked = False
            for line in head.split(b"\r\n"):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line[15:])
                elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                    chunked = True
                elif retry_after is not None and lower.startswith(b"retry-after:"):
                    with contextlib.suppress(ValueError):  # (an HTTP date: not from chorus)
                        retry_after.append(float(line[12:]))
            if chunked:  # (one of the peers answers in chunks)
                parts = []
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    parts.append(await reader.readexactly(size + 2))
                await reader.readuntil(b"\r\n")
                payload = b"".join(part[:-2] for part in parts)
            else:
                payload = await reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            self.open -= 1
            self.freed.set()
            return -1, b""
        self.idle.append((reader, writer))
        self.freed.set()
        return status, payload

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def open_loop(
    client: Client,
    kind: str,
    rate: float,
    seconds: float,
    *,
    first_session: int = 0,
    stream: bool = False,
) -> dict[str, Any]:
    """``stream``: each turn streamed (SSE); one that ends in an ``error`` event, or whose
    streamed text is not its reply, counts as an error.

    The generator's own collector is off while it measures: a pass in this process (tens
    of ms on a slow host) would hold replies unread and be charged to the server."""
    gc.collect()
    gc.disable()
    try:
        return await _open_loop(
            client, kind, rate, seconds, first_session=first_session, stream=stream
        )
    finally:
        gc.enable()


async def _open_loop(
    client: Client,
    kind: str,
    rate: float,
    seconds: float,
    *,
    first_session: int,
    stream: bool,
) -> dict[str, Any]:
    agent, message, calls = TURNS[kind]
    sessions = sessions_for(rate)
    body = json.dumps({"message": message, "stream": stream}).encode()
    results: list[tuple[float, int, float]] = []  # (overhead or latency, status, latency)
    start = time.perf_counter() + 0.05
    count = int(rate * seconds)
    tasks = []

    async def one(i: int, scheduled: float) -> None:
        session = first_session + i % sessions
        status, payload = await client.post(f"/v1/agents/{agent}/sessions/b{session}/turns", body)
        latency = time.perf_counter() - scheduled
        if stream and status == 200 and not streamed_whole(payload):
            status = -2  # it ended in an error event, or its text was not whole
        results.append((latency - calls * MODEL_SECONDS, status, latency))

    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = max(time.perf_counter() - start, seconds)
    ok = sorted(r[0] for r in results if r[1] == 200)
    shed = sorted(r[2] for r in results if r[1] == 503)
    errors = sum(1 for r in results if r[1] not in (200, 503))
    return {
        "kind": kind,
        "offered_per_s": rate,
        "turns_per_s": len(ok) / elapsed,
        "completed": len(ok),
        "shed": len(shed),
        "errors": errors,
        "overhead_p50_ms": (percentile(ok, 0.5) or 0) * 1000,
        "overhead_p99_ms": (percentile(ok, 0.99) or 0) * 1000,
        "shed_p50_ms": (percentile(shed, 0.5) or 0) * 1000 if shed else None,
        "shed_p99_ms": (percentile(shed, 0.99) or 0) * 1000 if shed else None,
        "statuses": dict(collections.Counter(r[1] for r in results)),
    }


def streamed_whole(payload: bytes) -> bool:
    """The SSE of a turn ended in ``done``, and its text events add up to its output."""
    kinds, data = [], []
    for line in payload.decode().split("\n"):
        if line.startswith("event: "):
            kinds.append(line[7:])
        elif line.startswith("data: "):
            data.append(json.loads(line[6:]))
    if not kinds or kinds[-1] != "done":
        return False
    text = "".join(d["text"] for k, d in zip(kinds, data, strict=True) if k == "text")
    return text == data[-1].get("output")


def serve(config: Path, sim_url: str, *, faults: bool = False) -> Any:
    env = {**os.environ, "ANTHROPIC_BASE_URL": sim_url, "ANTHROPIC_API_KEY": "sk-bench"}
    argv = [sys.executable, "-m", "chorus", "serve", "--config", str(config), "--port", "0"]
    return start_server("chorus serve", [*argv, "--quiet"], core=0, env=env)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sim_config(folder: Path, *, faults: bool) -> Path:
    config: dict[str, Any] = {
        "latency": {"ttft": MODEL_SECONDS, "ttft_sigma": 0, "tokens_per_second": 0}
    }
    if faults:  # the client's fault mix (bench/soak.py), at random points of the stream
        config["seed"] = 11
        config["latency"]["tokens_per_second"] = 400
        config["stochastic"] = SOAK_CONFIG["stochastic"]  # the same mix, one definition
    path = folder / ("sim-faults.json" if faults else "sim.json")
    path.write_text(json.dumps(config))
    return path


async def sweep(
    url: str, kinds: list[str], rates: list[float], seconds: float, pid: int
) -> list[dict[str, Any]]:
    from harness import CpuSnapshot

    host, port = url.removeprefix("http://").split(":")
    client = Client(host, int(port))
    rows = []
    session = 0
    for kind in kinds:
        for rate in rates:
            await warm(client, kind, session, sessions_for(rate))
            commits = store_commits(url)
            before = CpuSnapshot.of_pid(pid)
            row = await open_loop(client, kind, rate, seconds, first_session=session)
            cpu = (CpuSnapshot.of_pid(pid) - before).seconds
            row["server_cpu_ms_per_turn"] = cpu / max(1, row["completed"]) * 1000
            after = store_commits(url)
            if commits is not None and after is not None:  # (the disk's stalls in this step)
                row["commits"] = after[0] - commits[0]
                row["commits_over_20ms"] = after[1] - commits[1]
                row["commits_over_100ms"] = after[2] - commits[2]
            session += sessions_for(rate)
            rows.append(row)
            print(json.dumps(row), flush=True)
            await asyncio.sleep(1.0)
    client.close()
    return rows


def store_commits(url: str) -> tuple[float, float, float] | None:
    """The server's store transactions so far, and how many of them took over 20 ms and
    over 100 ms (from ``chorus_store_commit_seconds`` on its /metrics); None for a server
    without them."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except (OSError, ValueError):
        return None
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "chorus_store_commit_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count"):
                found["count"] = sample.value
            elif sample.name.endswith("_bucket") and sample.labels["le"] in ("0.02", "0.1"):
                found[sample.labels["le"]] = sample.value
    if len(found) < 3:
        return None
    count = found["count"]
    return count, count - found["0.02"], count - found["0.1"]


async def warm(client: Client, kind: str, first: int, count: int = SESSIONS) -> None:
    """One turn in each session the next run uses, unmeasured."""
    agent, message, _ = TURNS[kind]
    body = json.dumps({"message": message}).encode()
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with gate:
            await client.post(f"/v1/agents/{agent}/sessions/b{first + i}/turns", body)

    await asyncio.gather(*(one(i) for i in range(count)))


def capacity(rows: list[dict[str, Any]], kind: str) -> float:
    good = [
        r["turns_per_s"]
        for r in rows
        if r["kind"] == kind
        and r["overhead_p99_ms"] <= 20
        and (r["errors"] + r["shed"]) <= 0.005 * (r["completed"] + r["errors"] + r["shed"])
    ]
    return max(good, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[100, 200, 400, 600, 800, 1000, 1400, 1800, 2400]
    )
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        help="parts to skip: sweep floor durable disk shedding overload sessions peers "
        "impatient faults",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="where the store and the durable floor's file go (default: a new temporary "
        "folder; /dev/shm puts them in memory, to tell the disk's share apart)",
    )
    parser.add_argument(
        "--repeat",
        action="store_true",
        help="add this run's sweeps to the results' repeats instead of replacing the sweeps",
    )
    parser.add_argument(
        "--overload-at",
        type=float,
        default=None,
        help="offered turns/s for the overload part (default: twice this run's text capacity)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "server.json",
        help="results file (default bench/results/server.json; the plot is redrawn only then)",
    )
    args = parser.parse_args()
    pin_self(1)
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-", dir=args.folder))
    config = folder / "serve.yaml"
    config.write_text(CONFIG.format(db=folder / "chorus.db"))
    report: dict[str, Any] = {"command": "python bench/server.py " + " ".join(sys.argv[1:])}
    sim = start_sim("--config", str(sim_config(folder, faults=False)), core=1)
    try:
        if "sweep" not in args.skip:
            server = serve(config, sim.url)
            try:
                rows = asyncio.run(
                    sweep(server.url, list(TURNS), args.rates, args.seconds, server.pid)
                )
            finally:
                server.stop()
            report["sweep"] = rows
            report["capacity"] = {k: capacity(rows, k) for k in TURNS}
            print(json.dumps(report["capacity"]), flush=True)
        for part, kind, log in (
            ("floor", "floor", None),
            ("durable", "durable floor", folder / "floor.log"),
        ):
            if part in args.skip:
                continue
            env = {**os.environ, "ANTHROPIC_BASE_URL": sim.url, "ANTHROPIC_API_KEY": "sk-bench"}
            if log is not None:
                env["TURN_FLOOR_LOG"] = str(log)
            argv = [sys.executable, str(ROOT / "turn_floor.py")]
            floor = start_server(f"turn {kind}", argv, core=0, env=env)
            try:
                rows = asyncio.run(sweep(floor.url, ["text"], args.rates, args.seconds, floor.pid))
            finally:
                floor.stop()
            for row in rows:
                row["kind"] = kind
            slug = kind.replace(" ", "_")
            report[f"{slug}_sweep"] = rows
            report[f"{slug}_capacity"] = capacity(rows, kind)
            print(json.dumps({kind: report[f"{slug}_capacity"]}), flush=True)
        if "disk" not in args.skip:
            report["disk"] = disk_syncs(folder / "syncs.bin")
            print(json.dumps({"disk": report["disk"]}), flush=True)
        if "shedding" not in args.skip:
            report["shedding"] = shed_only(folder, sim.url)
        if "overload" not in args.skip:
            cap = (
                args.overload_at / 2
                if args.overload_at
                else report.get("capacity", {}).get("text") or 1000.0
            )
            (folder / "chorus.db").unlink(missing_ok=True)
            server = serve(config, sim.url)
            try:
                rows = asyncio.run(sweep(server.url, ["text"], [2 * cap], args.seconds, server.pid))
            finally:
                server.stop()
            row = rows[0]
            row["capacity_per_s"] = cap
            row["goodput_share"] = row["turns_per_s"] / cap
            report["overload"] = row
        if "sessions" not in args.skip:
            report["sessions"] = asyncio.run(memory(config, sim.url, args.sessions))
        if "peers" not in args.skip:
            report["peers"] = peers(config, sim.url)
        if "impatient" not in args.skip:
            report["impatient"] = impatient(config, sim.url)
    finally:
        sim.stop()
    if "faults" not in args.skip:
        sim = start_sim("--config", str(sim_config(folder, faults=True)), core=1)
        try:
            report["faults"] = asyncio.run(fault_run(config, sim.url))
        finally:
            sim.stop()
    shutil.rmtree(folder, ignore_errors=True)  # (with --folder /dev/shm: memory given back)
    RESULTS.mkdir(exist_ok=True)
    out = args.out
    previous = json.loads(out.read_text()) if out.exists() else {}
    if args.repeat:  # this run's sweeps join the repeats; the first run's stay the sweeps
        for part, repeats in (
            ("sweep", "repeats"),
            ("floor_sweep", "floor_repeats"),
            ("durable_floor_sweep", "durable_floor_repeats"),
        ):
            if part in report:
                previous.setdefault(repeats, []).append(report.pop(part))
        for key in ("capacity", "floor_capacity", "durable_floor_capacity"):
            report.pop(key, None)
    previous.update(report)
    previous["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    out.write_text(json.dumps(previous, indent=2))
    drawn = out.resolve() == (RESULTS / "server.json").resolve()
    if drawn and "sweep" in previous:
        floors = [  # (each floor drawn only beside the sweep of its own run)
            row
            for key in ("floor_sweep", "durable_floor_sweep")
            if key in report or "sweep" not in report
            for row in previous.get(key, [])
        ]
        plot(previous["sweep"], DOCS / "server-latency.png", floors)
    print(f"wrote {out}")


def disk_syncs(path: Path, seconds: float = 20.0, every: float = 0.005) -> dict[str, Any]:
    """A 12 KB write and an ``fdatasync`` every ``every`` seconds, as a store's log makes
    them: how long the syncs take, and the share of the time spent in syncs over 20 ms
    (a durable acknowledgement cannot be sooner than the sync it waits for)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    took: list[float] = []
    began = time.perf_counter()
    try:
        while time.perf_counter() - began < seconds:
            os.write(fd, os.urandom(12 * 1024))
            start = time.perf_counter()
            os.fdatasync(fd)
            took.append(time.perf_counter() - start)
            time.sleep(every)
    finally:
        os.close(fd)
        path.unlink()
    elapsed = time.perf_counter() - began
    took.sort()
    return {
        "syncs": len(took),
        "p50_ms": (percentile(took, 0.5) or 0) * 1000,
        "p99_ms": (percentile(took, 0.99) or 0) * 1000,
        "p999_ms": (percentile(took, 0.999) or 0) * 1000,
        "max_ms": took[-1] * 1000,
        "over_20ms": sum(1 for t in took if t > 0.02),
        "share_of_time_over_20ms": sum(t for t in took if t > 0.02) / elapsed,
    }


def shed_only(folder: Path, sim_url: str, rate: float = 1000, seconds: float = 5) -> dict[str, Any]:
    """Every turn shed (the busy line set near 0, and no line to wait in): the cost and
    speed of a 503 alone. (With a line, an open stream at many times what is served looks
    like clients retrying at once, and some of it waits ``shed_wait`` for a place.)"""
    config = folder / "shed-all.yaml"
    limits = "limits: {shed_busy: 0.00001, shed_wait: 0.000001}\n"
    config.write_text(CONFIG.format(db=folder / "shed.db") + limits)
    server = serve(config, sim_url)
    try:
        host, port = server.url.removeprefix("http://").split(":")

        async def run() -> dict[str, Any]:
            from harness import CpuSnapshot

            client = Client(host, int(port))
            before = CpuSnapshot.of_pid(server.pid)
            row = await open_loop(client, "text", rate, seconds)
            cpu = (CpuSnapshot.of_pid(server.pid) - before).seconds
            client.close()
            row["server_cpu_ms_per_shed"] = cpu / max(1, row["shed"]) * 1000
            return row

        row = asyncio.run(run())
        print(json.dumps(row), flush=True)
        return row
    finally:
        server.stop()


async def memory(config: Path, sim_url: str, sessions: int) -> dict[str, Any]:
    server = serve(config, sim_url)
    try:
        host, port = server.url.removeprefix("http://").split(":")
        client = Client(host, int(port), most=256)
        body = json.dumps({"message": "hi"}).encode()
        await client.post("/v1/agents/writer/sessions/warm/turns", body)
        await asyncio.sleep(0.5)
        before = rss_kb(server.pid)
        sem = asyncio.Semaphore(200)
        failed = shed = 0

        async def one(i: int) -> None:
            """One session's first turn; refused as the server sheds this flood, it is sent
            again after the ``Retry-After`` the server gave, as an SDK would."""
            nonlocal failed, shed
            async with sem:
                for _ in range(30):
                    wait: list[float] = []
                    status, _ = await client.post(
                        f"/v1/agents/writer/sessions/m{i}/turns", body, wait
                    )
                    if status != 503:
                        break
                    shed += 1
                    await asyncio.sleep(wait[0] if wait else 1.0)
                failed += status != 200

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(sessions)))
        took = time.perf_counter() - started
        await asyncio.sleep(1.0)
        after = rss_kb(server.pid)
        client.close()
        row = {
            "sessions": sessions,
            "failed": failed,
            "shed_then_sent_again": shed,
            "rss_before_kb": before,
            "rss_after_kb": after,
            "rss_per_idle_session_bytes": (after - before) * 1024 / sessions,
            "seconds": took,
        }
        print(json.dumps(row), flush=True)
        return row
    finally:
        server.stop()


async def fault_run(
    config: Path, sim_url: str, turns: int = 3000, rate: float = 100
) -> dict[str, Any]:
    server = serve(config, sim_url)
    try:
        host, port = server.url.removeprefix("http://").split(":")
        client = Client(host, int(port))
        row = await open_loop(client, "text", rate, turns / rate)
        total = row["completed"] + row["errors"] + row["shed"]
        row["failed_share"] = (row["errors"] + row["shed"]) / max(1, total)
        print(json.dumps(row), flush=True)
        # The same, each turn streamed (in sessions of their own: a turn still running
        # through a 529 burst would make the next turn of its session a 409).
        streamed = await open_loop(
            client, "text", rate, turns / rate, first_session=SESSIONS, stream=True
        )
        client.close()
        total = streamed["completed"] + streamed["errors"] + streamed["shed"]
        streamed["failed_share"] = (streamed["errors"] + streamed["shed"]) / max(1, total)
        streamed["kind"] = "text, streamed"
        print(json.dumps(streamed), flush=True)
        return {**row, "streamed": streamed}
    finally:
        server.stop()


PEERS = ROOT.parent / ".venv-peers" / "bin" / "python"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peer_process(name: str, sim_url: str, config: Path) -> Any:
    env = {**os.environ, "SIM_URL": sim_url, "ANTHROPIC_BASE_URL": sim_url}
    env["ANTHROPIC_API_KEY"] = "sk-bench"
    if name == "chorus serve":
        (config.parent / "chorus.db").unlink(missing_ok=True)
        return serve(config, sim_url)
    port = str(free_port())
    if name == "LangGraph (langgraph dev)":
        argv = [str(PEERS), str(ROOT / "peers" / "langgraph_serve.py"), "--port", port]
        argv += ["--memory-only", "--allow-blocking"]
    else:
        argv = [str(PEERS), str(ROOT / "peers" / "pydantic_ai_app.py"), "--port", port]
    return start_server(name, argv, core=0, env=env, ready_timeout=60)


def peer_turn(name: str, session: int) -> tuple[str, bytes]:
    text = "what is the weather in Lyon?"
    if name.startswith("LangGraph"):
        import uuid

        thread = uuid.uuid5(uuid.NAMESPACE_URL, f"chorus-bench-{session}")
        body = {
            "assistant_id": "agent",
            "if_not_exists": "create",
            "input": {"messages": [{"role": "user", "content": text}]},
        }
        return f"/threads/{thread}/runs/wait", json.dumps(body).encode()
    return (
        f"/v1/agents/assistant/sessions/p{session}/turns",
        json.dumps({"message": text}).encode(),
    )


async def peer_load(
    url: str, name: str, pid: int, seconds: float, users: int = 64
) -> dict[str, Any]:
    from harness import CpuSnapshot

    host, port = url.removeprefix("http://").split(":")
    client = Client(host, int(port))
    single = []
    for i in range(20):  # one turn at a time: the response time when nothing waits
        path, body = peer_turn(name, 10_000 + i % 5)
        began = time.perf_counter()
        status, _ = await client.post(path, body)
        single.append(time.perf_counter() - began)
        assert status == 200, (name, status)
    done = failed = 0
    stop = time.perf_counter() + seconds
    before = CpuSnapshot.of_pid(pid)
    began = time.perf_counter()

    async def user(i: int) -> None:
        nonlocal done, failed
        while time.perf_counter() < stop:
            path, body = peer_turn(name, i)
            status, _ = await client.post(path, body)
            if status == 200:
                done += 1
            else:
                failed += 1

    await asyncio.gather(*(user(i) for i in range(users)))
    elapsed = time.perf_counter() - began
    cpu = (CpuSnapshot.of_pid(pid) - before).seconds
    client.close()
    return {
        "stack": name,
        "avg_response_ms": sum(single) / len(single) * 1000,
        "turns_per_s": done / elapsed,
        "failed": failed,
        "server_cpu_ms_per_turn": cpu / max(1, done) * 1000,
        "turns_per_cpu_s": done / max(cpu, 1e-9),
        "rss_mb": rss_kb(pid) / 1024,
    }


async def closed_group(
    url: str, pid: int, users: int, seconds: float, *, patient: bool
) -> dict[str, Any]:
    """``users`` clients in a closed loop of one-tool turns, a new session each turn. A
    refused turn is sent again at once (impatient: load testers' virtual users, scripts
    without backoff) or after its ``Retry-After`` (patient: what the official SDKs do)."""
    from harness import CpuSnapshot

    host, port = url.removeprefix("http://").split(":")
    client = Client(host, int(port))
    done = refused = 0
    stop = time.perf_counter() + seconds
    before, began = CpuSnapshot.of_pid(pid), time.perf_counter()

    async def user(i: int) -> None:
        nonlocal done, refused
        k = 0
        while time.perf_counter() < stop:
            k += 1
            path, body = peer_turn("chorus serve", i * 1_000_000 + k)
            after: list[float] = []
            status, _ = await client.post(path, body, after)
            if status == 200:
                done += 1
            else:
                refused += 1
                if patient:
                    await asyncio.sleep(after[0] if after else 1.0)

    await asyncio.gather(*(user(i) for i in range(users)))
    elapsed = time.perf_counter() - began
    cpu = (CpuSnapshot.of_pid(pid) - before).seconds
    client.close()
    return {
        "users": users,
        "clients": "patient" if patient else "impatient",
        "turns_per_s": done / elapsed,
        "refused_per_s": refused / elapsed,
        "server_cpu_ms_per_turn": cpu / max(1, done) * 1000,
    }


def impatient(config: Path, sim_url: str, seconds: float = 10.0) -> list[dict[str, Any]]:
    """Goodput under clients that retry refusals at once, against the same clients
    honoring Retry-After, each on a fresh server, alternating."""
    rows = []
    for users in (64, 400):
        for patient in (False, True, False, True):
            (config.parent / "chorus.db").unlink(missing_ok=True)
            server = serve(config, sim_url)
            try:
                row = asyncio.run(
                    closed_group(server.url, server.pid, users, seconds, patient=patient)
                )
            finally:
                server.stop()
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def peers(config: Path, sim_url: str, seconds: float = 15.0) -> list[dict[str, Any]]:
    """Each stack with 64 clients, then 256 (each on a fresh server): turns/s at
    saturation is the higher of the two, since 64 leave one stack's core idle part of
    the time and another's queue long."""
    rows = []
    names = ["chorus serve", "LangGraph (langgraph dev)", "FastAPI + Pydantic AI"]
    if not PEERS.exists():
        print("no .venv-peers: see bench/peers/README.md; peers skipped", flush=True)
        names = names[:1]
    for users in (64, 256):
        for name in names:
            server = peer_process(name, sim_url, config)
            try:
                row = asyncio.run(peer_load(server.url, name, server.pid, seconds, users))
            finally:
                server.stop()
            row["users"] = users
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def plot(
    rows: list[dict[str, Any]], path: Path, floor_rows: list[dict[str, Any]] | None = None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for kind, colour in (("text", "tab:blue"), ("one tool", "tab:orange")):
        mine = [r for r in rows if r["kind"] == kind]
        xs = [r["offered_per_s"] for r in mine]
        ax.plot(xs, [r["overhead_p50_ms"] for r in mine], "o--", color=colour, label=f"{kind}: p50")
        ax.plot(xs, [r["overhead_p99_ms"] for r in mine], "o-", color=colour, label=f"{kind}: p99")
    for kind, style in (("floor", "s:"), ("durable floor", "d-.")):
        floor = [r for r in floor_rows or [] if r["kind"] == kind]
        if floor:
            xs = [r["offered_per_s"] for r in floor]
            ys = [r["overhead_p99_ms"] for r in floor]
            ax.plot(xs, ys, style, color="grey", label=f"{kind}: p99")
    ax.axhline(20, color="grey", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (turns/s, open loop)")
    ax.set_ylabel("server overhead per turn (ms, log)")
    ax.set_title("chorus serve on one core: durable turns (SQLite)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
