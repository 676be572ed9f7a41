"""Context strategies side by side against `chorus sim`: fidelity, cache efficiency, estimates.

Three measurements, each over loopback against an in-process simulator (no
CPU is measured here, so no pinning):

1. Long-dialogue fidelity. Scripted 500-turn conversations plant facts early
   ("The locker code for the Kestrel team is 4821.") among filler, and ask for
   them much later. Every strategy gets an 8k-token input budget and the
   simulator's recall behaviour, which answers only from what it was sent;
   its summaries are lossy and bounded, as real ones are. Strategies: a naive
   sliding window, a plain summarizer (one running summary, re-summarised
   each time the window overflows), chorus without recall, and chorus.
2. Cache efficiency over a 200-turn session: the share of input tokens read
   from the prompt cache and the simulated cost per turn, chorus against a
   window that slides every turn (both place cache breakpoints).
3. The token estimate against the simulator's counts (count_tokens), before
   and after calibration from usage.

    .venv/bin/python bench/context.py                  # all three, ~1 minute
    .venv/bin/python bench/context.py --dialogues 1    # quicker

Writes bench/results/context.json, bench/results/context.md and docs/context.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chorus import Agent, Claude
from chorus.agent.session import Session
from chorus.context import ContextPolicy, TokenEstimator, estimate_message, fit
from chorus.context.compaction import summary_request
from chorus.protocol.models import price
from chorus.protocol.types import Usage
from chorus.sim import Simulator, config_from_dict
from chorus.store.memory import MemoryStore

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs"
MODEL = "claude-sonnet-4-5"
SYSTEM = "You are a helpful assistant. Answer from what you were told."
BUDGET = 8_000
MAX_TOKENS = 256

TEAMS = """Kestrel Marlow Quillon Brannock Tessaly Orvane Halcyon Pellworth Dunmore Ashgrove
Caverly Rendell Whitcombe Fenwright Isolde Larkspur Mirefield Norcastle Ostrava Prescott
Ravenholt Sablewood Thornbury Underhill Vantage Westmarch Yarrowby Zephyra Albury Brightwater
Coldharbour Drakemoor Elmstead Foxhollow Greywater Hartwell Ironbridge Juniper Kingsmere
Lowther""".split()
FACTS = (
    ("The locker code for the {t} team is {n}.", "What is the locker code for the {t} team?"),
    ("The {t} project budget was approved at {n} dollars.", "What budget was approved for {t}?"),
    ("Our contact at {t} has phone extension {n}.", "Which phone extension does {t} have?"),
    ("The {t} shipment is due on day {n}.", "On which day is the {t} shipment due?"),
    ("The {t} server room is on floor {n}.", "Which floor is the {t} server room on?"),
)
FILLER = (
    "I spent the afternoon reading about {topic} and it was more interesting than I expected.",
    "Yesterday the weather was mild, so we walked along the river and talked about {topic}.",
    "A colleague recommended a long article on {topic}; I saved it for the weekend.",
    "We had a slow morning, mostly emails, and a short meeting about {topic} that ran late.",
    "My neighbour keeps asking me about {topic}, which I know very little about honestly.",
)
TOPICS = """gardening sourdough astronomy chess cycling pottery jazz birdwatching origami
sailing climbing knitting photography woodworking calligraphy beekeeping""".split()


# --------------------------------------------------------------------------- dialogues


@dataclass
class Dialogue:
    turns: list[str]
    answers: dict[int, str]  # turn index of a question -> the value its answer must contain


def make_dialogue(seed: int, turns: int = 500, facts: int = 30) -> Dialogue:
    """Facts planted in the first 30% of the dialogue, asked about in the last 60%."""
    rng = random.Random(seed)
    teams = rng.sample(TEAMS, facts)
    planted: list[tuple[str, str, str]] = []
    for team in teams:
        statement, question = rng.choice(FACTS)
        value = str(rng.randint(100, 9999))
        planted.append((statement.format(t=team, n=value), question.format(t=team), value))
    out = [rng.choice(FILLER).format(topic=rng.choice(TOPICS)) for _ in range(turns)]
    plant_at = sorted(rng.sample(range(2, int(turns * 0.3)), facts))
    ask_at = sorted(rng.sample(range(int(turns * 0.4), turns), facts))
    answers = {}
    order = list(range(facts))
    rng.shuffle(order)
    for at, (statement, _, _) in zip(plant_at, planted, strict=True):
        out[at] = f"Please note this. {statement}"
    for at, k in zip(ask_at, order, strict=True):
        _, question, value = planted[k]
        out[at] = question
        answers[at] = value
    return Dialogue(out, answers)


# --------------------------------------------------------------------------- strategies


@dataclass
class Tally:
    correct: int = 0
    asked: int = 0
    calls: int = 0
    usage: list[Usage] = field(default_factory=list)  # one per turn, side calls included
    recalled: int = 0  # exchanges recalled into a window
    summaries: int = 0  # compactions
    seconds: float = 0.0


async def run_agent(claude: Claude, dialogue: Dialogue, policy: ContextPolicy) -> Tally:
    agent = Agent(model=MODEL, system=SYSTEM, client=claude, max_tokens=MAX_TOKENS, context=policy)
    session = Session(agent, "bench", store=MemoryStore())
    tally = Tally()
    started = time.perf_counter()
    for i, text in enumerate(dialogue.turns):
        result = await session.send(text)
        tally.usage.append(result.usage)
        tally.recalled += sum(len(v) for v in result.context.recalls.values())
        tally.summaries = len(result.context.summaries)
        if i in dialogue.answers:
            tally.asked += 1
            tally.correct += dialogue.answers[i] in result.text
    tally.seconds = time.perf_counter() - started
    return tally


async def run_plain_summarizer(claude: Claude, dialogue: Dialogue, words: int = 200) -> Tally:
    """One running summary: when the window passes 75% of the budget, everything but the
    latest turns is folded, with the previous summary, into a new summary."""
    summary = ""
    kept: list[dict[str, Any]] = []
    tally = Tally()
    started = time.perf_counter()
    for i, text in enumerate(dialogue.turns):
        kept.append({"role": "user", "content": text})
        turn = Usage()
        if _tokens(kept) + _tokens([{"role": "user", "content": summary}]) > 0.75 * BUDGET:
            cut = _cut_point(kept, keep=int(0.4 * BUDGET))
            old = kept[:cut]
            if summary:
                old = [{"role": "user", "content": f"Summary so far: {summary}"}, *old]
            reply = await claude.messages.create(**summary_request(old, model=MODEL, words=words))
            _add(turn, reply.usage)
            summary = "".join(getattr(b, "text", "") for b in reply.content)
            kept = kept[cut:]
        system = SYSTEM + (
            f"\n\nSummary of the earlier conversation:\n{summary}" if summary else ""
        )
        window = fit(kept, budget=BUDGET - MAX_TOKENS, fixed=_tokens([{"content": system}]))
        reply = await claude.messages.create(
            model=MODEL, max_tokens=MAX_TOKENS, system=system, messages=window.messages
        )
        _add(turn, reply.usage)
        answer = "".join(getattr(b, "text", "") for b in reply.content)
        kept.append({"role": "assistant", "content": answer or "(no reply)"})
        tally.usage.append(turn)
        if i in dialogue.answers:
            tally.asked += 1
            tally.correct += dialogue.answers[i] in answer
    tally.seconds = time.perf_counter() - started
    return tally


def _tokens(messages: Sequence[dict[str, Any]]) -> int:
    return sum(estimate_message(m) for m in messages)


def _cut_point(messages: list[dict[str, Any]], keep: int) -> int:
    """Index from which the latest user-started messages within ``keep`` tokens are kept."""
    total = 0
    for i in range(len(messages) - 1, -1, -1):
        total += estimate_message(messages[i])
        if total > keep:
            j = i + 1
            while j < len(messages) and messages[j]["role"] != "user":
                j += 1
            return min(j, len(messages) - 1)
    return 0


def _add(total: Usage, u: Usage) -> None:
    total.input_tokens += u.input_tokens
    total.output_tokens += u.output_tokens
    total.cache_read_input_tokens += u.cache_read_input_tokens
    total.cache_creation_input_tokens += u.cache_creation_input_tokens


STRATEGIES: dict[str, Callable[[Claude, Dialogue], Any]] = {
    "sliding window": lambda c, d: run_agent(
        c, d, ContextPolicy(max_input_tokens=BUDGET, compaction=False, recall=0)
    ),
    "plain summarizer": run_plain_summarizer,
    "chorus, no recall": lambda c, d: run_agent(
        c, d, ContextPolicy(max_input_tokens=BUDGET, recall=0)
    ),
    "chorus": lambda c, d: run_agent(c, d, ContextPolicy(max_input_tokens=BUDGET)),
}


# --------------------------------------------------------------------------- cache


def cache_figures(usages: Sequence[Usage]) -> dict[str, Any]:
    read = sum(u.cache_read_input_tokens for u in usages)
    total = sum(
        u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens for u in usages
    )
    costs = [price(MODEL, u) for u in usages]
    per_turn = [
        u.cache_read_input_tokens
        / max(1, u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens)
        for u in usages
    ]
    return {
        "turns": len(usages),
        "input_tokens": total,
        "cache_read_tokens": read,
        "cache_share": read / total if total else 0.0,
        "cost_per_turn": statistics.fmean(costs),
        "cost_total": sum(costs),
        "per_turn_share": per_turn,
    }


def long_turns(seed: int, turns: int) -> Dialogue:
    """A 200-turn session whose turns are long enough to overflow the budget many times."""
    rng = random.Random(seed)
    out = []
    for _ in range(turns):
        parts = [rng.choice(FILLER).format(topic=rng.choice(TOPICS)) for _ in range(3)]
        out.append(" ".join(parts))
    return Dialogue(out, {})


# --------------------------------------------------------------------------- estimates


def estimate_samples(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    words = [*TOPICS, *(t.lower() for t in TEAMS), "the", "and", "of", "to", "is", "for"]
    samples: list[dict[str, Any]] = []
    for n in (5, 20, 80, 300, 1200):
        samples.append({"role": "user", "content": " ".join(rng.choices(words, k=n)) + "."})
    code = "def f(x):\n    return [i * x for i in range(10) if i % 2]\n" * 20
    samples.append({"role": "user", "content": code})
    record = {"id": 17, "name": "Kestrel", "tags": ["a", "b"], "score": 0.93, "ok": True}
    samples.append({"role": "user", "content": json.dumps([record] * 40)})
    samples.append({"role": "user", "content": "Größe, café, naïve — 東京 と 大阪 " * 30})
    samples.append(
        {"role": "user", "content": " ".join(str(rng.randint(0, 99999)) for _ in range(400))}
    )
    return samples


async def measure_estimates(claude: Claude, seed: int) -> dict[str, Any]:
    estimator = TokenEstimator()
    rows = []
    samples = estimate_samples(seed)
    counted = []
    for message in samples:
        result = await claude.messages.count_tokens(model=MODEL, messages=[message])
        counted.append(result.input_tokens)
    # Before calibration: the base estimate. Then learn from half the samples (as responses'
    # usage would teach it) and measure on all of them.
    before = [
        (estimator.estimate([m], MODEL) - c) / c for m, c in zip(samples, counted, strict=True)
    ]
    for message, actual in list(zip(samples, counted, strict=True))[::2]:
        estimator.observe(MODEL, estimated_raw=estimator.raw([message]), actual=actual)
    after = [
        (estimator.estimate([m], MODEL) - c) / c for m, c in zip(samples, counted, strict=True)
    ]
    for message, c, b, a in zip(samples, counted, before, after, strict=True):
        text = message["content"]
        rows.append(
            {
                "sample": text[:40].replace("\n", " "),
                "chars": len(text),
                "counted": c,
                "error_before": b,
                "error_after": a,
            }
        )
    return {
        "rows": rows,
        "mean_abs_before": statistics.fmean(abs(x) for x in before),
        "mean_abs_after": statistics.fmean(abs(x) for x in after),
        "max_under_after": min(after),
        "max_over_after": max(after),
    }


# --------------------------------------------------------------------------- main


async def simulated(seed: int, run: Callable[[Claude], Any]) -> Any:
    """``run(client)`` against a fresh simulator: no strategy reads another's cache."""
    config = config_from_dict({"behaviour": "recall", "seed": seed})
    async with Simulator(config) as sim:
        claude = Claude(api_key="bench", base_url=sim.base_url)
        try:
            return await run(claude)
        finally:
            await claude.aclose()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"command": " ".join(["bench/context.py", *sys.argv[1:]])}
    fidelity: dict[str, Any] = {}
    for name, strategy in STRATEGIES.items():
        tallies = [
            await simulated(
                args.seed,
                lambda c, k=k, strategy=strategy: strategy(
                    c, make_dialogue(args.seed + k, turns=args.turns)
                ),
            )
            for k in range(args.dialogues)
        ]
        correct = sum(t.correct for t in tallies)
        asked = sum(t.asked for t in tallies)
        figures = cache_figures([u for t in tallies for u in t.usage])
        fidelity[name] = {
            "correct": correct,
            "asked": asked,
            "share": correct / asked,
            "cost_per_turn": figures["cost_per_turn"],
            "cache_share": figures["cache_share"],
            "recalled": sum(t.recalled for t in tallies),
            "summaries": sum(t.summaries for t in tallies),
            "seconds": sum(t.seconds for t in tallies),
        }
        print(f"fidelity  {name:18} {correct}/{asked} = {correct / asked:.1%}", flush=True)
    report["fidelity"] = fidelity
    cache: dict[str, Any] = {}
    session = long_turns(args.seed, args.cache_turns)
    for name, policy in (
        (
            "window sliding every turn",
            ContextPolicy(max_input_tokens=BUDGET, compaction=False, recall=0),
        ),
        ("chorus", ContextPolicy(max_input_tokens=BUDGET)),
    ):
        tally = await simulated(args.seed, lambda c, p=policy: run_agent(c, session, p))
        cache[name] = cache_figures(tally.usage)
        cache[name]["summaries"] = tally.summaries
        cache[name]["recalled"] = tally.recalled
        print(
            f"cache     {name:26} {cache[name]['cache_share']:.1%} read from cache, "
            f"${cache[name]['cost_per_turn']:.5f}/turn",
            flush=True,
        )
    report["cache"] = cache
    report["estimates"] = await simulated(args.seed, lambda c: measure_estimates(c, args.seed))
    est = report["estimates"]
    print(
        f"estimates mean |error| {est['mean_abs_before']:.1%} before calibration, "
        f"{est['mean_abs_after']:.1%} after",
        flush=True,
    )
    return report


def write(report: dict[str, Any], args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "context.json").write_text(json.dumps(report, indent=1))
    lines = [f"Command: `.venv/bin/python {report['command']}`", ""]
    lines += [
        "| strategy | answered correctly | share | cost/turn | read from cache |",
        "|---|---|---|---|---|",
    ]
    for name, f in report["fidelity"].items():
        lines.append(
            f"| {name} | {f['correct']}/{f['asked']} | {f['share']:.1%} | "
            f"${f['cost_per_turn']:.5f} | {f['cache_share']:.1%} |"
        )
    lines += [
        "",
        "| 200-turn session | input tokens | read from cache | share | cost/turn |",
        "|---|---|---|---|---|",
    ]
    for name, c in report["cache"].items():
        lines.append(
            f"| {name} | {c['input_tokens']:,} | {c['cache_read_tokens']:,} | "
            f"{c['cache_share']:.1%} | ${c['cost_per_turn']:.5f} |"
        )
    est = report["estimates"]
    lines += [
        "",
        "| sample | chars | simulator count | error before | error after |",
        "|---|---|---|---|---|",
    ]
    for r in est["rows"]:
        lines.append(
            f"| `{r['sample']}` | {r['chars']:,} | {r['counted']:,} | "
            f"{r['error_before']:+.1%} | {r['error_after']:+.1%} |"
        )
    lines.append(
        f"| mean abs error | | | {est['mean_abs_before']:.1%} | {est['mean_abs_after']:.1%} |"
    )
    (RESULTS / "context.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if not args.no_plot:
        plot(report)


def plot(report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(report["fidelity"])
    shares = [report["fidelity"][n]["share"] * 100 for n in names]
    bars = left.bar(names, shares, color=["#999", "#c96", "#69c", "#2a6"])
    left.bar_label(bars, fmt="%.0f%%")
    left.axhline(95, color="k", lw=0.8, ls="--")
    left.set_ylim(0, 105)
    left.set_ylabel("questions answered correctly (%)")
    left.set_title("500-turn dialogues, 8k-token budget")
    left.tick_params(axis="x", labelsize=8)
    colours = ("#e80", "#2a6")
    for (name, c), colour in zip(report["cache"].items(), colours, strict=False):
        shares = c["per_turn_share"]
        running = [100 * sum(shares[: i + 1]) / (i + 1) for i in range(len(shares))]
        turns = range(1, len(shares) + 1)
        right.plot(turns, [100 * s for s in shares], lw=0.6, alpha=0.4, color=colour)
        right.plot(
            turns,
            running,
            lw=1.8,
            color=colour,
            label=f"{name}: {100 * c['cache_share']:.0f}% of all input tokens",
        )
    right.axhline(80, color="k", lw=0.8, ls="--")
    right.set_ylim(0, 105)
    right.set_xlabel("turn")
    right.set_ylabel("input tokens read from cache (%)")
    right.set_title("200-turn session: per turn (thin) and running mean")
    right.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    DOCS.mkdir(exist_ok=True)
    fig.savefig(DOCS / "context.png", dpi=110)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dialogues", type=int, default=3, help="500-turn dialogues per strategy")
    p.add_argument("--turns", type=int, default=500)
    p.add_argument("--cache-turns", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-plot", action="store_true")
    args = p.parse_args(argv)
    if args.dialogues < 1 or args.turns < 50 or args.cache_turns < 10:
        p.error("need --dialogues >= 1, --turns >= 50 and --cache-turns >= 10")
    return args


if __name__ == "__main__":
    arguments = parse()
    write(asyncio.run(main(arguments)), arguments)
