"""Teams: what a task costs as the team grows, and how well each way of deciding does.

**Scaling.** Teams of 10, 100 and 1,000 agents, k = 3 of them capable of the task, against
`chorus sim` (echo). chorus: ``Team.assign`` (calls for bids to the capable only, one
award, one result). Beside it, a broadcast group chat written here the way AutoGen's
works: every message is delivered to every participant, and before each reply a selector
call reads every agent's description and the whole chat so far to pick the speaker, who
then answers with the whole chat as context. Reported per task: messages delivered and
model tokens (input and output, from the API's usage).

**Accuracy.** Seven agents answer the same multiple-choice questions through the
simulator's ``quiz`` behaviour (four options; accuracies 0.9, 0.8, 0.55, 0.5, 0.45, 0.4,
0.4; the five weaker ones share wrong answers with the given correlation; the 0.4 one at
the end states 0.95 confidence whatever it knows), ``--questions`` questions per
correlation 0, 0.3 and 0.6. Each agent answers with structured output (answer,
confidence) at temperature 0. From those answers: the best single agent (in hindsight),
majority, confidence-weighted, reliability-weighted (learned online: each question is
decided with what the answers to the questions before it taught), Dawid-Skene (no
labels). Through ``Team.decide`` as well: a judge (accuracy 0.8, position bias 0.3) shown
the two leading answers in both orders, one debate round, and self-consistency of the
strongest model (5 samples). Accuracy with a 95% Wilson interval and model tokens per
question; the difference between reliability-weighted and majority with a 95% paired
bootstrap interval.

    .venv/bin/python bench/teams.py            # about 3 minutes

Writes bench/results/teams.json, docs/teams.md's tables come from it, and
docs/teams-accuracy.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import msgspec

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from harness import start_sim  # noqa: E402 - the bench folder is not a package

RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs"
MODEL = "claude-sonnet-4-5"
ACCURACIES = [0.9, 0.8, 0.55, 0.5, 0.45, 0.4, 0.4]


class Verdict(msgspec.Struct):
    """One agent's answer to a multiple-choice question."""

    answer: Literal["A", "B", "C", "D"]
    confidence: float


# -- scaling ----------------------------------------------------------------------------


def _descriptions(n: int) -> list[tuple[str, str, str]]:
    """(name, capability, description) for n agents, 3 of them capable of "python"."""
    out = []
    for i in range(n):
        if i < 3:
            out.append((f"coder{i}", "python", "writes and fixes Python code and its tests"))
        else:
            skill = f"skill{i % 97}"
            out.append((f"agent{i}", skill, f"handles {skill} requests for the back office"))
    return out


async def chorus_team(url: str, n: int, tasks: int) -> dict[str, float]:
    from chorus import Agent, Claude
    from chorus.team import Capability, Team

    claude = Claude(api_key="sk-bench", base_url=url)
    agents = [
        Agent(
            model=MODEL,
            client=claude,
            name=name,
            capabilities=[Capability(cap, desc)],
            context=False,
            max_tokens=64,
        )
        for name, cap, desc in _descriptions(n)
    ]
    tokens = 0
    async with Team(agents, bid_window=0.2) as team:
        for t in range(tasks):
            done = await team.assign("python", f"Task {t}: fix the failing test in parser.py")
            tokens += done.tokens
        delivered = sum(team.bus.stats()["delivered"].values())
    await claude.aclose()
    return {"messages_per_task": delivered / tasks, "tokens_per_task": tokens / tasks}


async def group_chat(url: str, n: int, tasks: int) -> dict[str, float]:
    from chorus import Claude

    claude = Claude(api_key="sk-bench", base_url=url)
    roster = _descriptions(n)
    listing = "\n".join(f"- {name}: {desc}" for name, _, desc in roster)
    history: list[dict[str, Any]] = []
    delivered = tokens = 0
    for t in range(tasks):
        task = f"Task {t}: fix the failing test in parser.py"
        history.append({"role": "user", "content": task})
        delivered += n  # the task goes to every participant
        selector = await claude.messages.create(
            model=MODEL,
            max_tokens=16,
            system=f"You are in a group chat. Pick who speaks next. Participants:\n{listing}",
            messages=[*history[:-1], {"role": "user", "content": f"{task}\nWho speaks next?"}],
        )
        tokens += selector.usage.input_tokens + selector.usage.output_tokens
        speaker = roster[t % 3][0]  # a capable one (the selector's choice, as if it were right)
        reply = await claude.messages.create(
            model=MODEL, max_tokens=64, system=f"You are {speaker}.", messages=history
        )
        tokens += reply.usage.input_tokens + reply.usage.output_tokens
        text = "".join(getattr(b, "text", "") for b in reply.content)
        history.append({"role": "assistant", "content": f"{speaker}: {text}"})
        delivered += n  # and so does the reply
    await claude.aclose()
    return {"messages_per_task": delivered / tasks, "tokens_per_task": tokens / tasks}


def scaling(args: argparse.Namespace) -> list[dict[str, Any]]:
    sim = start_sim("--ttft", "0", "--behaviour", "echo", core=args.sim_core)
    rows = []
    try:
        for n in args.sizes:
            for stack, run in (("chorus", chorus_team), ("group chat", group_chat)):
                started = time.monotonic()
                row = {"stack": stack, "agents": n, "capable": 3}
                row.update(asyncio.run(run(sim.url, n, args.tasks)))
                row["wall_s"] = time.monotonic() - started
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        sim.stop()
    return rows


# -- accuracy ---------------------------------------------------------------------------


JUDGE = {"accuracy": 0.8, "position_bias": 0.3}


def quiz_config(correlation: float, seed: int) -> dict[str, Any]:
    profiles: dict[str, Any] = {}
    models = []
    for i, accuracy in enumerate(ACCURACIES):
        name = f"quiz-{i}"
        models.append({"id": name, "context_window": 200_000, "max_output_tokens": 8192})
        profile: dict[str, Any] = {"accuracy": accuracy}
        if i >= 2:
            profile["group"] = "weak"
        if i == len(ACCURACIES) - 1:
            profile["confidence"] = 0.95  # over-confident
        profiles[name] = profile
    models.append({"id": "quiz-judge", "context_window": 200_000, "max_output_tokens": 8192})
    profiles["quiz-judge"] = JUDGE
    return {
        "seed": seed,
        "behaviour": "quiz",
        "models": models,
        "quiz": {"correlation": correlation, "profiles": profiles},
    }


async def ask_all(url: str, questions: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """For each question, the decisions that ask models: the seven agents' first answers
    (by majority; the other strategies decide from these answers offline), the judge,
    one debate round, and self-consistency of the strongest agent (5 samples)."""
    from chorus import Agent, Claude
    from chorus.team import Team

    claude = Claude(api_key="sk-bench", base_url=url)

    def agent(name: str, model: str, **options: Any) -> Agent:
        options.setdefault("output_type", Verdict)
        return Agent(model=model, client=claude, name=name, context=False, max_tokens=64, **options)

    # Temperature 0: asked again (by the judge's or the debate's decision), an agent gives
    # the same first answer. The sampler is the strongest model at the default temperature.
    seven = [agent(f"agent{i}", f"quiz-{i}", request={"temperature": 0}) for i in range(7)]
    sampler = agent("sampler", "quiz-0")
    judge = agent("judge", "quiz-judge", output_type=None, request={"temperature": 0})
    team = Team([*seven, sampler])
    names = [a.name for a in seven]

    async def one(text: str) -> dict[str, Any]:
        first = await team.decide(text, among=names, strategy="majority")
        judging, debated, sampled = await asyncio.gather(
            collect(team.stream_decide(text, among=names, strategy="judge", judge=judge)),
            team.decide(text, among=names, strategy="debate", rounds=1),
            team.decide(text, among=["sampler"], strategy="self_consistency", samples=5),
        )
        judged = judging[-1].decision
        one_order = next((e.pick for e in judging if getattr(e, "order", 0) == 1), None)
        return {
            "first": first,
            "judge": judged,
            "judge_one_order": one_order,
            "judge_or_majority": judged.answer if judged.outcome != "tie" else first.answer,
            "debate": debated,
            "self": sampled,
        }

    async def collect(stream: Any) -> list[Any]:
        return [event async for event in stream]

    rows: list[dict[str, Any]] = []
    for start in range(0, len(questions), 25):
        batch = questions[start : start + 25]
        rows.extend(await asyncio.gather(*(one(text) for text, _ in batch)))
    await claude.aclose()
    return rows


def wilson(right: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    z = 1.96
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def paired_bootstrap(a: list[bool], b: list[bool], seed: int) -> tuple[float, float]:
    rng = random.Random(seed)
    n = len(a)
    diffs = []
    for _ in range(2000):
        idx = [rng.randrange(n) for _ in range(n)]
        diffs.append(sum(a[i] - b[i] for i in idx) / n)
    diffs.sort()
    return (diffs[int(0.025 * len(diffs))], diffs[int(0.975 * len(diffs)) - 1])


def accuracy(args: argparse.Namespace) -> list[dict[str, Any]]:
    from chorus.team import (
        Reliability,
        confidence_weighted,
        dawid_skene,
        majority,
        reliability_weighted,
    )

    rows = []
    for correlation in args.correlations:
        config = Path(tempfile.mkdtemp()) / "quiz.json"
        config.write_text(json.dumps(quiz_config(correlation, args.seed)))
        sim = start_sim("--ttft", "0", "--config", str(config), core=args.sim_core)
        rng = random.Random(args.seed)
        questions = []
        for q in range(args.questions):
            key = rng.choice("ABCD")
            questions.append(
                (
                    f"Question {q} [key {key}]: which option is right? "
                    "A) the first B) the second C) the third D) the fourth",
                    key,
                )
            )
        try:
            asked = asyncio.run(ask_all(sim.url, questions))
        finally:
            sim.stop()
        truths = [key.casefold() for _, key in questions]  # answers compare case-folded
        answers = [list(row["first"].answers) for row in asked]
        picks: dict[str, list[Any]] = {}
        tokens: dict[str, float] = {}
        first_tokens = sum(row["first"].tokens for row in asked) / len(asked)
        per_agent = {
            f"agent{i}": sum(row[i].value == t for row, t in zip(answers, truths, strict=True))
            for i in range(len(ACCURACIES))
        }
        best = max(per_agent, key=lambda a: per_agent[a])
        picks["best single agent"] = [
            next(x.value for x in row if x.agent == best) for row in answers
        ]
        tokens["best single agent"] = first_tokens / len(ACCURACIES)
        picks["majority"] = [majority(row).answer for row in answers]
        picks["confidence-weighted"] = [confidence_weighted(row).answer for row in answers]
        reliability = Reliability(options=4)
        online = []
        for row, truth in zip(answers, truths, strict=True):
            online.append(reliability_weighted(row, reliability).answer)
            reliability.feedback(row, truth)
        picks["reliability-weighted"] = online
        decisions, _ = dawid_skene(answers)
        picks["Dawid-Skene (no labels)"] = [d.answer for d in decisions]
        for name in ("majority", "confidence-weighted", "reliability-weighted"):
            tokens[name] = first_tokens
        tokens["Dawid-Skene (no labels)"] = first_tokens
        judge_tokens = sum(row["judge"].tokens for row in asked) / len(asked)
        picks["judge, one order"] = [row["judge_one_order"] for row in asked]
        tokens["judge, one order"] = first_tokens + (judge_tokens - first_tokens) / 2
        picks["judge (both orders), ties to majority"] = [row["judge_or_majority"] for row in asked]
        tokens["judge (both orders), ties to majority"] = judge_tokens
        for name, key in (
            ("judge (both orders)", "judge"),
            ("debate (1 round)", "debate"),
            ("self-consistency (strongest, 5 samples)", "self"),
        ):
            picks[name] = [row[key].answer for row in asked]
            tokens[name] = sum(row[key].tokens for row in asked) / len(asked)
        ties = {
            name: sum(row[key].outcome == "tie" for row in asked)
            for name, key in (("judge (both orders)", "judge"), ("majority", "first"))
        }
        right = {
            k: [v == t for v, t in zip(vals, truths, strict=True)] for k, vals in picks.items()
        }
        diff = paired_bootstrap(right["reliability-weighted"], right["majority"], args.seed)
        for strategy, hits in right.items():
            n = len(hits)
            low, high = wilson(sum(hits), n)
            row = {
                "correlation": correlation,
                "strategy": strategy,
                "accuracy": sum(hits) / n,
                "ci95": [low, high],
                "questions": n,
                "model_tokens_per_question": tokens[strategy],
            }
            if strategy in ties:
                row["ties"] = ties[strategy]
            if strategy == "reliability-weighted":
                row["minus_majority_ci95"] = list(diff)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


# -- report -----------------------------------------------------------------------------


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    correlations = sorted({r["correlation"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 4.6))
    width = 0.8 / len(strategies)
    for i, strategy in enumerate(strategies):
        mine = [
            next(r for r in rows if r["strategy"] == strategy and r["correlation"] == c)
            for c in correlations
        ]
        xs = [j + i * width for j in range(len(correlations))]
        ys = [r["accuracy"] for r in mine]
        errs = [
            [r["accuracy"] - r["ci95"][0] for r in mine],
            [r["ci95"][1] - r["accuracy"] for r in mine],
        ]
        ax.bar(xs, ys, width, yerr=errs, capsize=2, label=strategy)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(correlations))])
    ax.set_xticklabels([f"error correlation {c}" for c in correlations])
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("accuracy (95% interval)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    ax.set_title("Seven quiz agents (0.4-0.9), four options")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--tasks", type=int, default=5, help="tasks per team size")
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--correlations", type=float, nargs="+", default=[0.0, 0.3, 0.6])
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--client-core", default="0")
    parser.add_argument("--sim-core", default="1")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(args.client_core)})
    scale = scaling(args)
    quiz = accuracy(args)
    command = "python bench/teams.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "teams.json").write_text(
        json.dumps(
            {
                "command": command,
                "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "scaling": scale,
                "accuracy": quiz,
            },
            indent=2,
        )
    )
    plot(quiz, DOCS / "teams-accuracy.png")
    print(f"wrote {RESULTS / 'teams.json'} and {DOCS / 'teams-accuracy.png'}")


if __name__ == "__main__":
    main()
