"""Where `chorus sim` spends its CPU under the sim_cpu load: py-spy samples, summarised.

Starts the real ``chorus sim`` pinned to ``--server-core``, drives the same
streamed 10-delta load as bench/sim_cpu.py from this process (pinned to
``--client-core``), and samples the simulator with py-spy (also on the client
core, so sampling does not steal the server's core). Only on-CPU samples count
(py-spy drops idle ones), so the shares are shares of the simulator's CPU.

Prints, and writes to bench/results/<name>.txt: the share of samples by
package (aiohttp, chorus, asyncio, msgspec, multidict/yarl, ...) of the leaf
frame, the top functions by self time, and the chorus functions by inclusive
time. Keep the flamegraph with ``--svg``. Needs py-spy (pip install py-spy)
and permission to ptrace (root, or kernel.yama.ptrace_scope=0).

Which mode to trust: py-spy's default stops the process for each sample, and
on a VM those stops land mostly at system calls, so frames that write to a
socket are over-counted (one getpid per request showed as 8.5% of samples with
``--native``). ``--nonblocking`` reads the stacks without stopping the process
and has no such bias, but some stacks come out torn, which makes the inclusive
shares too low. Compare self-time shares in ``--nonblocking`` mode, and confirm
a suspected saving with an A/B run of bench/sim_cpu.py.

    .venv/bin/python bench/sim_profile.py                    # C=50, 15 s of samples
    .venv/bin/python bench/sim_profile.py --concurrency 1 --native --svg /tmp/sim.svg
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

import harness
from sim_cpu import HEADERS, REQUEST, check

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")
CATEGORIES = (
    ("chorus", "/chorus/"),
    ("aiohttp", "/aiohttp/"),
    ("multidict/yarl/propcache", "/multidict/"),
    ("multidict/yarl/propcache", "/yarl/"),
    ("multidict/yarl/propcache", "/propcache/"),
    ("msgspec", "msgspec"),
    ("uvloop", "uvloop"),
    ("asyncio", "/asyncio/"),
)


def category(file: str) -> str:
    for name, marker in CATEGORIES:
        if marker in file:
            return name
    if file.startswith("<") or "/lib/python3" in file or file.endswith(".py"):
        return "stdlib/other python"
    return "native (kernel, libc, CPython)"


def short(file: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def parse_raw(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy raw (collapsed) stacks: 'frame;frame;... count', root first."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            m = _FRAME.match(raw)
            if m:
                frames.append((m.group("func"), m.group("file")))
        if frames:
            stacks.append((frames, int(count)))
    return stacks


def summarise(stacks: list[tuple[list[tuple[str, str]], int]], top: int) -> str:
    total = sum(n for _, n in stacks) or 1
    by_cat: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[tuple[str, str]] = collections.Counter()
    inclusive: collections.Counter[tuple[str, str]] = collections.Counter()
    # Time under chorus code vs outside it: the first chorus frame from the root down.
    under_chorus = 0
    for frames, n in stacks:
        func, file = frames[-1]
        by_cat[category(file)] += n
        self_time[(func, short(file))] += n
        for frame in {(f, short(p)) for f, p in frames}:
            inclusive[frame] += n
        if any("/chorus/" in p and not p.endswith(("cli.py", "__main__.py")) for _, p in frames):
            under_chorus += n

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out = [f"samples: {total}", "", "Leaf frame by package (self time):"]
    out += [f"  {pct(n)}  {name}" for name, n in by_cat.most_common()]
    out += [
        "",
        f"Samples with a chorus.sim frame on the stack (handler code and what it calls): "
        f"{pct(under_chorus)}",
        "",
        f"Top {top} functions by self time:",
    ]
    out += [f"  {pct(n)}  {func}  ({file})" for (func, file), n in self_time.most_common(top)]
    out += ["", "chorus functions by inclusive time:"]
    chorus = [(k, n) for k, n in inclusive.most_common() if k[1].startswith("chorus/")]
    out += [f"  {pct(n)}  {func}  ({file})" for (func, file), n in chorus[:top]]
    out += ["", "aiohttp functions by inclusive time:"]
    aio = [(k, n) for k, n in inclusive.most_common() if k[1].startswith("aiohttp/")]
    out += [f"  {pct(n)}  {func}  ({file})" for (func, file), n in aio[:top]]
    return "\n".join(out)


async def load(url: str, concurrency: int, seconds: float, requests: int) -> harness.LoadResult:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        headers=HEADERS,
        timeout=aiohttp.ClientTimeout(total=30),
    ) as session:

        async def call() -> None:
            async with session.post(url + "/v1/messages", data=REQUEST) as resp:
                body = await resp.read()
            check(resp.status, body)

        return await harness.closed_loop(
            call, concurrency=concurrency, requests=requests, seconds=seconds
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="sampling time")
    parser.add_argument("--requests", type=int, default=1_000_000, help="cap on requests")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="py-spy --native")
    parser.add_argument(
        "--nonblocking",
        action="store_true",
        help="py-spy --nonblocking: read stacks without stopping the process",
    )
    parser.add_argument("--svg", help="also write a flamegraph here")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--server-core", default="1")
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--name", default="sim_profile")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")
    harness.pin_self(args.client_core)
    argv = [sys.executable, "-m", "chorus", "sim", "--host", "127.0.0.1", "--port", "0", "--quiet"]
    raw = Path(f"/tmp/{args.name}.raw")
    with harness.start_server("chorus sim", argv, core=args.server_core) as server:
        # Warm up before sampling starts.
        harness.run_async(load(server.url, args.concurrency, 2.0, 2_000))
        spy_cmd = [spy, "record", "--pid", str(server.pid), "--rate", str(args.rate)]
        spy_cmd += ["--duration", str(int(args.seconds)), "--format", "raw", "-o", str(raw)]
        spy_cmd += ["--full-filenames"] + (["--native"] if args.native else [])
        spy_cmd += ["--nonblocking"] if args.nonblocking else []
        with subprocess.Popen(
            ["taskset", "-c", args.client_core, *spy_cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        ) as sampler:
            time.sleep(0.5)  # let py-spy attach
            result = harness.run_async(
                load(server.url, args.concurrency, args.seconds + 1.0, args.requests)
            )
            _, err = sampler.communicate(timeout=args.seconds + 60)
        if sampler.returncode != 0:
            raise SystemExit(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        if args.svg:
            # A second, shorter sampling for the picture (py-spy writes one format per run).
            svg_cmd = [spy, "record", "--pid", str(server.pid), "--rate", str(args.rate)]
            svg_cmd += ["--duration", "5", "-o", args.svg] + (["--native"] if args.native else [])
            with subprocess.Popen(
                ["taskset", "-c", args.client_core, *svg_cmd],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ) as pic:
                time.sleep(0.5)
                harness.run_async(load(server.url, args.concurrency, 6.0, args.requests))
                pic.wait(timeout=60)
    head = (
        f"chorus sim under C={args.concurrency}: {result.completed} responses, "
        f"{result.errors} errors, {result.completed / result.wall_s:,.0f}/s while sampled "
        f"at {args.rate} Hz{' (native)' if args.native else ''}"
        f"{' (nonblocking)' if args.nonblocking else ''}"
    )
    text = head + "\n" + summarise(parse_raw(raw), args.top) + "\n"
    harness.RESULTS.mkdir(exist_ok=True)
    (harness.RESULTS / f"{args.name}.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
