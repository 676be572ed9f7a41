"""Shared machinery for chorus benchmarks: pinned processes, bounded load, CPU accounting, results.

Why one harness: DESIGN.md's budgets are ratios ("a chorus streamed call costs
at most 1.3x the floor"), and a ratio is only honest when both sides were
measured the same way, on the same machine, in the same run. Every benchmark
therefore goes through the same few pieces:

* ``start_server`` runs a server as its own process pinned to one core
  (``taskset -c``), so its CPU time is its alone and it never competes with
  the load generator for a core.
* ``pin_self`` pins the load generator (this process) to the other core.
* ``closed_loop`` / ``measure_load`` drive C concurrent callers for a fixed
  number of requests *and* a time limit, whichever comes first: a benchmark
  always stops by itself, even against a server that hangs.
* ``CpuSnapshot`` reads a process's CPU time: ``/proc/PID/stat`` utime+stime
  (clock ticks, the classic source) and, where the kernel has it, the
  nanosecond ``/proc/PID/task/*/schedstat``, which is what the tables use:
  a floor server spends 6-35 ms of CPU per 1,000 responses and one clock tick
  is 10 ms, so tick counts alone would make the floor (the denominator of
  every ratio) the noisiest number in the table. For this process
  ``resource.getrusage`` gives microseconds directly.
* ``Row`` is one measured run; ``write_results`` writes it as JSON (with the
  exact command line, date, Python, CPU model and git commit, so a number can
  always be traced back to how it was made) and as a markdown table with
  ratios against a named baseline row of the same group.

Client benchmarks reuse the same pieces from the other side: the simulator
goes in ``start_server``, each client stack runs ``closed_loop`` in a worker
process started by ``run_pinned`` and reports its own ``Row``-shaped JSON.

Everything here talks only to 127.0.0.1 and never runs unbounded.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as _dt
import json
import math
import os
import platform
import re
import resource
import select
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "RESULTS",
    "Column",
    "CpuSnapshot",
    "LoadResult",
    "Row",
    "ServerProcess",
    "SystemCpu",
    "WorkerRun",
    "closed_loop",
    "machine_info",
    "make_row",
    "measure_load",
    "percentile",
    "pick_median",
    "pin_self",
    "proc_peak_rss_mb",
    "run_async",
    "run_pinned",
    "self_peak_rss_mb",
    "start_server",
    "write_results",
]

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
TICK = os.sysconf("SC_CLK_TCK")
_URL = re.compile(r"https?://[^\s\"']+")
T = TypeVar("T")


# --------------------------------------------------------------------------- CPU and memory


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU time consumed so far by one process, from two sources.

    ``ticks_s`` is utime+stime from /proc/PID/stat (all threads, 1/SC_CLK_TCK
    resolution). ``precise_s`` sums the on-CPU nanoseconds of every live
    thread from /proc/PID/task/*/schedstat, or is None where the kernel lacks
    schedstat. Subtract two snapshots of the same process with ``-``.
    """

    ticks_s: float
    precise_s: float | None

    @classmethod
    def of_pid(cls, pid: int) -> CpuSnapshot:
        """Snapshot another process (a server) by pid."""
        # The command name may contain spaces or parentheses: split after the last ')'.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = (int(fields[11]) + int(fields[12])) / TICK
        precise: float | None = 0.0
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                with open(f"{task.path}/schedstat") as f:
                    precise += int(f.read().split()[0]) / 1e9  # type: ignore[operator]
        except (OSError, ValueError, IndexError):
            precise = None
        return cls(ticks, precise)

    @classmethod
    def of_self(cls) -> CpuSnapshot:
        """Snapshot this process (the in-process load generator): getrusage is µs-precise."""
        ru = resource.getrusage(resource.RUSAGE_SELF)
        total = ru.ru_utime + ru.ru_stime
        return cls(total, total)

    def __sub__(self, other: CpuSnapshot) -> CpuSnapshot:
        precise = (
            self.precise_s - other.precise_s
            if self.precise_s is not None and other.precise_s is not None
            else None
        )
        return CpuSnapshot(self.ticks_s - other.ticks_s, precise)

    @property
    def seconds(self) -> float:
        """The best available figure: precise if known, else ticks."""
        return self.precise_s if self.precise_s is not None else self.ticks_s


@dataclass(frozen=True, slots=True)
class SystemCpu:
    """Whole-machine CPU seconds from /proc/stat (all cores), to catch a contaminated run.

    ``busy_s`` is user+nice+system+irq+softirq+steal; ``softirq_s`` is kept
    apart because, with IRQ time accounting (the usual case), the loopback
    network stack's softirq work is charged to no process: it is in neither
    the server's nor the client's CPU figure. Whatever is busy beyond the
    server, the client and softirq is someone else on the machine.
    """

    busy_s: float
    softirq_s: float
    irq_s: float

    @classmethod
    def now(cls) -> SystemCpu:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
        busy = user + nice + system + irq + softirq + steal
        return cls(busy / TICK, softirq / TICK, irq / TICK)

    def __sub__(self, other: SystemCpu) -> SystemCpu:
        return SystemCpu(
            self.busy_s - other.busy_s, self.softirq_s - other.softirq_s, self.irq_s - other.irq_s
        )


def proc_peak_rss_mb(pid: int) -> float | None:
    """Peak resident set (VmHWM) of a live process, in MiB; None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def self_peak_rss_mb() -> float:
    """Peak resident set of this process, in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pin_self(core: int | str) -> None:
    """Pin this process (the load generator) to one core, so it never shares the server's."""
    os.sched_setaffinity(0, {int(core)})


# --------------------------------------------------------------------------- processes


@dataclass
class ServerProcess:
    """A server started by ``start_server``: its pid, the URL it printed, and how to stop it.

    taskset execs the server, so ``pid`` is the server itself and its
    /proc entry is what the CPU and RSS figures read.
    """

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    url: str
    stderr_path: str
    _tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=20))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> CpuSnapshot:
        return CpuSnapshot.of_pid(self.pid)

    def peak_rss_mb(self) -> float | None:
        return proc_peak_rss_mb(self.pid)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, lines: int = 10) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(Path(self.stderr_path).read_text().splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; only this pid."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        with contextlib.suppress(OSError):
            os.unlink(self.stderr_path)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    core: int | str,
    ready_timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """Start ``argv`` pinned to ``core`` and wait for the first line naming its URL.

    The server must print a line containing ``http://host:port`` once it
    accepts connections (``chorus sim`` prints ``chorus sim listening on
    http://127.0.0.1:PORT``); starting on port 0 and reading the URL back
    avoids port clashes between runs. Its later stdout is drained in a thread
    so a chatty server can never block on a full pipe.
    """
    slug = re.sub(r"\W+", "-", name)
    fd, stderr_path = tempfile.mkstemp(prefix=f"bench-{slug}-", suffix=".err")
    cmd = ["taskset", "-c", str(core), *argv]
    with os.fdopen(fd, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + ready_timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    first = line.decode(errors="replace").splitlines()[0] if line else ""
    match = _URL.search(first)
    if match is None:
        proc.kill()
        proc.wait()
        tail = Path(stderr_path).read_text(errors="replace")[-2000:]
        os.unlink(stderr_path)
        raise RuntimeError(f"{name} did not start: first line {first!r}; stderr: {tail}")
    server = ServerProcess(name, list(cmd), proc, match.group(0).rstrip("/"), stderr_path)

    def drain() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            server._tail.append(raw.decode(errors="replace"))

    threading.Thread(target=drain, daemon=True).start()
    return server


def start_sim(*args: str, core: int | str = 1) -> ServerProcess:
    """`chorus sim` on a free port, pinned to ``core``, with extra command-line ``args``."""
    argv = [sys.executable, "-m", "chorus", "sim", "--port", "0", "--quiet", *args]
    return start_server("chorus sim", argv, core=core)


@dataclass
class WorkerRun:
    """A finished pinned subprocess: exit status, output, and its whole-life resource use.

    ``cpu_s`` and ``peak_rss_mb`` come from wait4's rusage, so they cover the
    whole process including interpreter start and imports; a worker that
    wants steady-state CPU per request measures its own window with
    ``closed_loop`` and prints it (``last_json``).
    """

    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float | None
    peak_rss_mb: float | None
    timed_out: bool

    @property
    def last_json(self) -> dict[str, Any] | None:
        """The last stdout line that parses as a JSON object: the worker's report."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    value = json.loads(line)
                    if isinstance(value, dict):
                        return value
        return None


def run_pinned(argv: Sequence[str], *, core: int | str, timeout: float) -> WorkerRun:
    """Run ``argv`` to completion pinned to ``core``; killed (only it) after ``timeout`` s."""
    cmd = ["taskset", "-c", str(core), *argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        timed_out = False
        status: int | None = None
        usage = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                timed_out = True
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return WorkerRun(
            argv=cmd,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime if usage else None,
            peak_rss_mb=usage.ru_maxrss / 1024 if usage else None,
            timed_out=timed_out,
        )


def run_async(coro: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """Run ``coro`` on uvloop when it is installed (the load generator should not be the
    bottleneck it measures), else on the stock asyncio loop."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


def uvloop_version() -> str | None:
    try:
        import uvloop
    except ImportError:
        return None
    return str(uvloop.__version__)


# --------------------------------------------------------------------------- load


@dataclass
class LoadResult:
    """What one bounded closed-loop run did, measured on this process's side."""

    completed: int
    errors: int
    wall_s: float
    latencies_s: list[float]
    client_cpu: CpuSnapshot
    stopped_by: str  # "requests", "seconds" or "timeout"
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)


async def closed_loop(
    call: Callable[[], Awaitable[object]],
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    grace: float = 30.0,
) -> LoadResult:
    """``concurrency`` callers, each calling ``call()`` back to back, until ``requests``
    calls were started or ``seconds`` have passed, whichever comes first.

    A call succeeds when it returns; any exception is one error (counted by
    type, first few messages kept). Only successful calls have latencies. A
    closed loop is the honest load for CPU per request: the server is never
    asked for more than it can do, so its CPU is spent on responses, not on
    queueing. If the callers have not all finished ``grace`` seconds after the
    time limit (a hung server), they are cancelled and ``stopped_by`` is
    "timeout".
    """
    if concurrency < 1 or requests < 1 or seconds <= 0:
        raise ValueError("concurrency and requests must be >= 1 and seconds > 0")
    latencies: list[float] = []
    kinds: collections.Counter[str] = collections.Counter()
    samples: list[str] = []
    started = 0
    errors = 0
    clock = time.perf_counter
    t0 = clock()
    deadline = t0 + seconds
    stopped_by = "requests"

    async def caller() -> None:
        nonlocal started, errors, stopped_by
        while started < requests:
            start = clock()
            if start >= deadline:
                stopped_by = "seconds"
                return
            started += 1
            try:
                await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                errors += 1
                kinds[type(exc).__name__] += 1
                if len(samples) < 5:
                    samples.append(f"{type(exc).__name__}: {exc}"[:300])
            else:
                latencies.append(clock() - start)

    cpu0 = CpuSnapshot.of_self()
    tasks = [asyncio.ensure_future(caller()) for _ in range(concurrency)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + grace)
    if pending:
        stopped_by = "timeout"
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    wall = clock() - t0
    cpu = CpuSnapshot.of_self() - cpu0
    return LoadResult(
        completed=len(latencies),
        errors=errors,
        wall_s=wall,
        latencies_s=latencies,
        client_cpu=cpu,
        stopped_by=stopped_by,
        error_kinds=dict(kinds),
        error_samples=samples,
    )


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (q in 0..1); None if empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Row:
    """One measured run of one peer under one setting: the unit of every results table.

    ``name`` is the peer ("chorus sim", "asyncio floor"), ``params`` the
    setting that groups peers for ratios (e.g. ``{"concurrency": 50}``). CPU
    per request divides the measured window's CPU by completed requests.
    """

    name: str
    params: dict[str, Any]
    completed: int
    errors: int
    wall_s: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    server_cpu_us_per_req: float | None = None
    server_cpu_ticks_us_per_req: float | None = None
    client_cpu_us_per_req: float | None = None
    server_peak_rss_mb: float | None = None
    client_peak_rss_mb: float | None = None
    softirq_us_per_req: float | None = None
    foreign_cpu_pct: float | None = None
    stopped_by: str = ""
    error_kinds: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        """A field, a param or an extra by name (for table columns)."""
        if key in self.params:
            return self.params[key]
        if key in self.extra:
            return self.extra[key]
        return getattr(self, key, None)


def make_row(
    name: str,
    params: dict[str, Any],
    load: LoadResult,
    *,
    server_cpu: CpuSnapshot | None = None,
    server_peak_rss_mb: float | None = None,
    client_peak_rss_mb: float | None = None,
    system_cpu: SystemCpu | None = None,
    extra: dict[str, Any] | None = None,
) -> Row:
    """Turn a LoadResult (and the server's and machine's CPU over the same window) into a Row.

    ``foreign_cpu_pct`` (percent of one core) is machine busy time not
    explained by the server, this process or softirq: above a few percent,
    something else ran during the measurement and the row is suspect.
    """
    n = load.completed
    lat = sorted(load.latencies_s)

    def per_req(seconds: float | None) -> float | None:
        return seconds / n * 1e6 if n and seconds is not None else None

    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    foreign = None
    # /proc/stat counts in 10 ms ticks per core: under a second the estimate is noise.
    if system_cpu is not None and load.wall_s >= 1.0:
        ours = load.client_cpu.ticks_s + (server_cpu.ticks_s if server_cpu else 0.0)
        other = system_cpu.busy_s - system_cpu.softirq_s - system_cpu.irq_s - ours
        foreign = max(0.0, other) / load.wall_s * 100
    return Row(
        name=name,
        params=dict(params),
        completed=n,
        errors=load.errors,
        wall_s=load.wall_s,
        rps=n / load.wall_s if load.wall_s > 0 else 0.0,
        p50_ms=p50 * 1e3 if p50 is not None else None,
        p99_ms=p99 * 1e3 if p99 is not None else None,
        mean_ms=sum(lat) / n * 1e3 if n else None,
        server_cpu_us_per_req=per_req(server_cpu.seconds) if server_cpu else None,
        server_cpu_ticks_us_per_req=per_req(server_cpu.ticks_s) if server_cpu else None,
        client_cpu_us_per_req=per_req(load.client_cpu.seconds),
        server_peak_rss_mb=server_peak_rss_mb,
        client_peak_rss_mb=client_peak_rss_mb,
        softirq_us_per_req=per_req(system_cpu.softirq_s) if system_cpu else None,
        foreign_cpu_pct=foreign,
        stopped_by=load.stopped_by,
        error_kinds=load.error_kinds,
        error_samples=load.error_samples,
        extra=dict(extra or {}),
    )


async def measure_load(
    name: str,
    params: dict[str, Any],
    call: Callable[[], Awaitable[object]],
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    warmup_requests: int = 0,
    warmup_seconds: float = 2.0,
    server: ServerProcess | None = None,
) -> Row:
    """Warm up, then measure one closed-loop run; the server's CPU is read around the
    measured window only, so start-up, imports and warm-up never count.

    Warm-up and measurement use the same ``call`` (and so the same session and
    pooled connections): connection set-up is paid before the window opens.
    """
    if warmup_requests > 0:
        await closed_loop(
            call, concurrency=concurrency, requests=warmup_requests, seconds=warmup_seconds
        )
    before = server.cpu() if server else None
    machine0 = SystemCpu.now()
    load = await closed_loop(call, concurrency=concurrency, requests=requests, seconds=seconds)
    machine = SystemCpu.now() - machine0
    server_cpu = server.cpu() - before if server and before else None
    return make_row(
        name,
        params,
        load,
        server_cpu=server_cpu,
        server_peak_rss_mb=server.peak_rss_mb() if server else None,
        client_peak_rss_mb=self_peak_rss_mb(),
        system_cpu=machine,
    )


def pick_median(rows: Iterable[Row], key: str) -> list[Row]:
    """Of repeated rounds, keep per (name, params) the row with the median ``key``.

    A whole row is kept rather than a per-column median, so every number in a
    table row comes from one real run.
    """
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        ident = (row.name, json.dumps(row.params, sort_keys=True))
        groups.setdefault(ident, []).append(row)
    out = []
    for group in groups.values():
        ranked = sorted(group, key=lambda r: (r.get(key) is None, r.get(key) or 0.0))
        chosen = ranked[(len(ranked) - 1) // 2]
        chosen.extra["rounds"] = len(group)
        chosen.extra[f"{key}_all_rounds"] = [r.get(key) for r in group]
        out.append(chosen)
    return out


# --------------------------------------------------------------------------- results


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return (head + ("-dirty" if dirty else "")) or None
    return None


def machine_info() -> dict[str, Any]:
    """Where and how a number was made: enough to reproduce it or to distrust it."""
    versions: dict[str, str | None] = {}
    for mod in ("aiohttp", "msgspec"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    versions["uvloop"] = uvloop_version()
    return {
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "cwd": os.getcwd(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "git": _git_commit(),
        "versions": versions,
    }


@dataclass(frozen=True)
class Column:
    """One markdown column: a Row field/param/extra, its format, and whether a
    "vs <baseline>" ratio column follows it."""

    title: str
    key: str
    fmt: str = ",.0f"
    ratio: bool = False


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return format(value, spec)


def markdown_table(
    rows: Sequence[Row], columns: Sequence[Column], *, baseline: str, group_by: Sequence[str]
) -> str:
    """A markdown table; each ratio column divides by the row named ``baseline`` that
    has the same values of ``group_by`` params (e.g. the floor at the same concurrency)."""
    head: list[str] = []
    for col in columns:
        head.append(col.title)
        if col.ratio:
            head.append(f"vs {baseline}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        ident = tuple(row.params.get(k) for k in group_by)
        base = next(
            (
                r
                for r in rows
                if r.name == baseline and tuple(r.params.get(k) for k in group_by) == ident
            ),
            None,
        )
        cells: list[str] = []
        for col in columns:
            value = row.get(col.key)
            cells.append(_fmt(value, col.fmt))
            if col.ratio:
                ref = base.get(col.key) if base else None
                ok = isinstance(value, int | float) and isinstance(ref, int | float) and ref
                cells.append(f"{value / ref:.2f}x" if ok else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(
    name: str,
    rows: Sequence[Row],
    *,
    columns: Sequence[Column],
    baseline: str,
    group_by: Sequence[str],
    settings: dict[str, Any] | None = None,
    title: str | None = None,
    notes: str = "",
    directory: Path = RESULTS,
) -> tuple[Path, Path, str]:
    """Write ``<name>.json`` (machine info, settings, every row) and ``<name>.md``.

    Returns both paths and the markdown text (for printing or pasting into docs).
    """
    info = machine_info()
    record = {
        "name": name,
        **info,
        "settings": settings or {},
        "baseline": baseline,
        "rows": [asdict(r) for r in rows],
    }
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    md = [
        f"## {title or name}",
        "",
        f"Command: `{info['command']}`  ",
        f"Date: {info['date']}, git {info['git']}  ",
        f"Machine: {info['cpu']}, {info['cores']} cores, Linux {info['kernel']}  ",
        f"Python: {info['python']} ({versions})",
        "",
        markdown_table(rows, columns, baseline=baseline, group_by=group_by),
        "",
    ]
    if notes:
        md += [notes.strip(), ""]
    text = "\n".join(md)
    md_path = directory / f"{name}.md"
    md_path.write_text(text)
    return json_path, md_path, text
