"""``chorus team``: run a team from a config file and watch who does what, as it happens.

    chorus team --config team.yaml "the orders page is slow; fix it"
    chorus team --config team.yaml --capability python "fix the failing test"
    chorus team --config team.yaml --decide "Which queue should we use?" --strategy majority
    chorus team --config team.yaml            # one task per line; "? question" decides

Each line printed is one event of the run: who was asked for a bid, the bids, the award,
an awardee given up on, the result; for a decision, each answer, each verdict and the
decision. Delegations show indented under the task they came from. With no ``--config``
a small demo team runs; with no ``ANTHROPIC_API_KEY`` the built-in simulator answers, and
the command says so.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, TextIO

from chorus.declare import (
    AgentConfig,
    CapabilityConfig,
    TeamConfig,
    TeamOptions,
    build_team,
    client_from_environment,
)
from chorus.errors import ChorusError

__all__ = ["DEMO", "run_team"]

DEMO = TeamConfig(
    agents=(
        AgentConfig(
            name="coder",
            system="You write and fix Python code.",
            capabilities=(CapabilityConfig("python", "writes and fixes Python code and tests"),),
        ),
        AgentConfig(
            name="reviewer",
            system="You review code changes for bugs.",
            capabilities=(CapabilityConfig("review", "reviews code changes for bugs and style"),),
        ),
        AgentConfig(
            name="writer",
            system="You write clear documentation.",
            capabilities=(CapabilityConfig("docs", "writes user documentation and changelogs"),),
        ),
    ),
    team=TeamOptions(bid_window=0.2),
)


def _short(value: Any, width: int = 160) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe(event: Any, depth: dict[str, int]) -> str | None:
    """One line for a team event, indented by how deep its task is in a delegation."""
    from chorus.team import events as t

    pad = "  " * depth.get(event.id, 0)
    if isinstance(event, t.CalledForBids):
        depth[event.id] = event.hops
        pad = "  " * event.hops
        asked = ", ".join(event.agents) or "nobody"
        return f"{pad}task {event.id}: {event.capability!r} -> asked {asked} for bids"
    if isinstance(event, t.BidReceived):
        return f"{pad}  bid from {event.agent}: {event.score:.2f}"
    if isinstance(event, t.Awarded):
        again = f" (award {event.award})" if event.award > 1 else ""
        return f"{pad}  awarded to {event.agent}{again}"
    if isinstance(event, t.AwardEnded):
        return f"{pad}  gave up on {event.agent}: {_short(event.reason, 100)}"
    if isinstance(event, t.TaskCompleted):
        r = event.result
        return f"{pad}  done by {r.agent} ({r.tokens} tokens): {_short(r.output)}"
    if isinstance(event, t.TaskFailed):
        return f"{pad}  failed: {event.reason}"
    if isinstance(event, t.QuestionAsked):
        return f"question {event.id} (round {event.round}): asked {', '.join(event.agents)}"
    if isinstance(event, t.AnswerGiven):
        a = event.answer
        sure = f" (confidence {a.confidence:.2f})" if a.confidence is not None else ""
        said = "abstained" if a.value is None else _short(a.value, 100)
        return f"  {a.agent}: {said}{sure}"
    if isinstance(event, t.VerdictGiven):
        return f"  judge {event.judge}, order {event.order}: {_short(event.pick, 100)}"
    if isinstance(event, t.Decided):
        d = event.decision
        return f"decided ({d.strategy}, {d.outcome}): {_short(d.answer)}"
    return None


async def run_team(
    config: TeamConfig | None,
    *,
    task: str | None = None,
    capability: str | None = None,
    decide: str | None = None,
    strategy: str = "majority",
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> int:
    def say(text: str) -> None:
        stdout.write(text + "\n")
        stdout.flush()

    claude, simulated = client_from_environment()
    if simulated:
        say("No ANTHROPIC_API_KEY set: answering from the built-in simulator.")
    if config is None:
        say("No --config: running the demo team (coder, reviewer, writer).")
        config = DEMO
    team = build_team(config, claude)
    depth: dict[str, int] = {}

    def show(event: Any) -> None:
        line = describe(event, depth)
        if line is not None:
            say(line)

    team.listen(show)
    failed = False
    told: set[str] = set()  # tasks whose failure an event already showed
    team.listen(lambda e: told.add(e.id) if e.kind == "task_failed" else None)

    async def one(line: str) -> None:
        nonlocal failed
        told.clear()
        try:
            if line.startswith("?"):
                await team.decide(line[1:].strip(), strategy=strategy)
            else:
                await team.assign(capability, line)
        except ChorusError as exc:  # said by its event, or here when there was none
            failed = True
            if not told:
                say(f"error: {exc}")

    try:
        async with team:
            members = ", ".join(
                f"{a.name} ({', '.join(c.name for c in a.capabilities) or 'no capabilities'})"
                for a in team.agents.values()
            )
            say(f"Team: {members}.")
            if decide is not None:
                await one("? " + decide)
            elif task is not None:
                await one(task)
            else:
                say("One task per line; '? question' asks everyone and decides. Ctrl-D to leave.")
                while True:
                    stdout.write("task> ")
                    stdout.flush()
                    line = await asyncio.to_thread(stdin.readline)
                    if not line or line.strip() in ("exit", "quit"):
                        say("")
                        break
                    if line.strip():
                        await one(line.strip())
    finally:
        await claude.aclose()
    return 1 if failed and (task is not None or decide is not None) else 0
