"""Client stacks side by side against `chorus sim`: CPU per request, throughput, latency, memory.

Peers, all in the same run and under the same load: raw aiohttp + msgspec (the
floor), chorus, the official SDK (httpx and aiohttp backends), LangChain
`ChatAnthropic` and Pydantic AI. The simulator runs pinned to one core, each
peer's load in its own process pinned to the other, so CPU per request is the
client's alone. Every call is a 10-word message echoed back as 10 text deltas
after `--ttft` seconds.

The machine's noise is larger than the gaps under test (the floor itself moves by
a quarter between runs), so raw and chorus run ``--repeats`` times at each point,
alternating, and the CPU ratio reported is the median of the run-by-run ratios,
with its range.

    .venv/bin/python bench/client.py                     # full matrix (~15 minutes)
    .venv/bin/python bench/client.py --concurrency 50 --peers raw,chorus --name quick

Writes bench/results/client.json, bench/results/client.md and docs/client-cpu.png
(with --name NAME: bench/results/NAME.json and .md only).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import start_sim  # noqa: E402 - the bench folder is not a package

RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs"
PEERS = ("raw", "chorus", "anthropic", "anthropic-aiohttp", "langchain", "pydantic-ai")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_worker(
    args: argparse.Namespace, url: str, peer: str, mode: str, c: int
) -> dict[str, object]:
    cmd = ["taskset", "-c", args.client_core, sys.executable, str(ROOT / "client_worker.py")]
    cmd += ["--peer", peer, "--mode", mode, "--url", url, "--concurrency", str(c)]
    cmd += ["--seconds", str(args.seconds), "--warmup", str(args.warmup)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds * 4 + 120)
    except subprocess.TimeoutExpired:
        return {"peer": peer, "mode": mode, "concurrency": c, "failed": "timed out"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"peer": peer, "mode": mode, "concurrency": c, "failed": tail[:200]}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def schedule(peers: list[str], repeats: int) -> list[tuple[str, int]]:
    """The runs at one point: raw and chorus ``repeats`` times in alternating order
    (so drift in the machine hits both alike), then every other peer once."""
    paired = [p for p in PAIRED if p in peers]
    runs: list[tuple[str, int]] = []
    for i in range(repeats):
        order = paired if i % 2 == 0 else paired[::-1]
        runs += [(p, i) for p in order]
    return runs + [(p, 0) for p in peers if p not in PAIRED]


def fmt(value: object, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "—"


PAIRED = ("raw", "chorus")  # run --repeats times each, alternating: the ratio under test


def median(values: list[float]) -> float:
    return statistics.median(values)


def collapse(rows: list[dict[str, object]], mode: str, c: int) -> dict[str, dict[str, object]]:
    """One row per peer at a point: a repeated peer's run with the median CPU per request,
    plus ``ratios`` (chorus over raw, repeat by repeat)."""
    at: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        if r["mode"] == mode and r["concurrency"] == c:
            at.setdefault(str(r["peer"]), []).append(r)
    out: dict[str, dict[str, object]] = {}
    for peer, runs in at.items():
        ok = [r for r in runs if isinstance(r.get("cpu_us_per_request"), float)]
        if not ok:
            out[peer] = runs[0]
            continue
        ok.sort(key=lambda r: r["cpu_us_per_request"])  # type: ignore[arg-type, return-value]
        out[peer] = dict(ok[(len(ok) - 1) // 2], runs=len(ok))
    raw = {r.get("repeat"): r.get("cpu_us_per_request") for r in at.get("raw", [])}
    ratios = [
        r["cpu_us_per_request"] / raw[r.get("repeat")]  # type: ignore[operator]
        for r in at.get("chorus", [])
        if isinstance(r.get("cpu_us_per_request"), float)
        and isinstance(raw.get(r.get("repeat")), float)
    ]
    if ratios and "chorus" in out:
        out["chorus"]["ratios"] = ratios
    return out


def table(rows: list[dict[str, object]], mode: str, concurrencies: list[int]) -> str:
    lines = [
        f"### {mode}",
        "",
        "| peer | C | req/s | client CPU µs/req | CPU vs raw | req/s vs official SDK "
        "| p50 ms | p99 ms | errors | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in concurrencies:
        at = collapse(rows, mode, c)
        raw_cpu = at.get("raw", {}).get("cpu_us_per_request")
        sdk_rps = at.get("anthropic", {}).get("rps")
        for peer in PEERS:
            r = at.get(peer)
            if r is None:
                continue
            if "failed" in r:
                lines.append(f"| {peer} | {c} | failed: {r['failed']} |||||||| ")
                continue
            cpu = r.get("cpu_us_per_request")
            ratios = r.get("ratios")
            if isinstance(ratios, list) and len(ratios) > 1:
                ratio_cell = (
                    f"{median(ratios):.2f}x ({min(ratios):.2f} to {max(ratios):.2f}, "
                    f"{len(ratios)} runs)"
                )
            else:
                ratio = (
                    cpu / raw_cpu if isinstance(cpu, float) and isinstance(raw_cpu, float) else None
                )
                ratio_cell = f"{fmt(ratio, '.2f')}x"
            vs_sdk = r["rps"] / sdk_rps if isinstance(sdk_rps, float) and sdk_rps else None
            lines.append(
                f"| {peer} | {c} | {fmt(r['rps'], ',.0f')} | {fmt(cpu, ',.0f')} | "
                f"{ratio_cell} | {fmt(vs_sdk, '.1f')}x | {fmt(r.get('p50_ms'), '.0f')} | "
                f"{fmt(r.get('p99_ms'), '.0f')} | {r['errors']} | "
                f"{fmt(r.get('peak_rss_mb'), '.0f')} |"
            )
    return "\n".join(lines)


def plot(rows: list[dict[str, object]], concurrencies: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, mode in zip(axes, ("stream", "create"), strict=True):
        points = {c: collapse(rows, mode, c) for c in concurrencies}
        for peer in PEERS:
            pts = [
                (c, at[peer]["cpu_us_per_request"])
                for c, at in points.items()
                if isinstance(at.get(peer, {}).get("cpu_us_per_request"), float)
            ]
            if pts:
                pts.sort()
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=peer)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
        ax.set_xlabel("concurrent calls")
        ax.set_ylabel("client CPU µs per request (log)")
        ax.set_title(f"{'streamed' if mode == 'stream' else 'non-streamed'} calls")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Client CPU per request against chorus sim (lower is better)")
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--modes", default="stream,create")
    parser.add_argument("--concurrency", default="1,50,200,1000")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--ttft", type=float, default=0.1)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of raw and of chorus at each point, alternating; the CPU ratio is "
        "their median (other peers run once)",
    )
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--sim-core", default="1")
    parser.add_argument(
        "--name",
        default="client",
        help="results go to bench/results/NAME.{json,md}; only the default name also "
        "redraws docs/client-cpu.png",
    )
    args = parser.parse_args()
    if args.repeats < 1:
        raise SystemExit("--repeats must be 1 or more")
    if not args.name or "/" in args.name:
        raise SystemExit("--name must be a plain file name, e.g. client-c200")
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise SystemExit(
            f"unknown peer(s): {', '.join(sorted(unknown))}; known: {', '.join(PEERS)}"
        )
    modes = [m for m in args.modes.split(",") if m]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    sim = start_sim("--ttft", str(args.ttft), core=args.sim_core)
    url = sim.url
    rows: list[dict[str, object]] = []
    try:
        for mode in modes:
            for c in concurrencies:
                for peer, repeat in schedule(peers, args.repeats):
                    result = run_worker(args, url, peer, mode, c)
                    result["repeat"] = repeat
                    rows.append(result)
                    print(json.dumps(result), flush=True)
    finally:
        sim.stop()
    command = "python bench/client.py " + " ".join(sys.argv[1:])
    record = {
        "command": command.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "settings": vars(args),
        "rows": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(record, indent=2))
    md = [
        f"Command: `{record['command']}`  ",
        f"Machine: {record['cpu']}, Python {record['python']}",
        "",
    ]
    md += [table(rows, mode, concurrencies) + "\n" for mode in modes]
    (RESULTS / f"{args.name}.md").write_text("\n".join(md))
    print("\n".join(md))
    if args.name != "client":
        return  # a partial or repeated run does not replace the published plot
    try:
        plot(rows, concurrencies, DOCS / "client-cpu.png")
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")


if __name__ == "__main__":
    main()
