"""The usual shapes of teamwork, each a few lines over assign, decide and delegate.

* :func:`pipeline`: each step's result is the next step's input, each step done by whoever
  is capable and free.
* :func:`fan_out`: the same task to k capable agents at once, then a decision between
  their answers.
* :func:`supervise`: a supervisor agent with the ``delegate`` tool splits a task among
  workers by capability and puts their results together. A member with the same tool
  hands work to another member (handoff) while doing its own task.

Every worker's context is its own task: the step's input, the subtask the delegator
wrote, never the team's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chorus.errors import ConfigError
from chorus.team.consensus import Decision
from chorus.team.delegation import InTask, delegate_tool, in_task
from chorus.team.events import TaskResult

if TYPE_CHECKING:
    from chorus.agent.agent import Agent
    from chorus.agent.events import RunResult
    from chorus.team.team import Team

__all__ = ["fan_out", "pipeline", "supervise"]


async def pipeline(
    team: Team, steps: Sequence[tuple[str | None, str]], input: str
) -> list[TaskResult]:
    """Run ``steps`` in order: each is (capability, instruction); the instruction's
    ``{input}`` is replaced by the previous step's result (the first step's by ``input``),
    or the result is appended when it has no ``{input}``. Returns every step's result."""
    if not steps:
        raise ConfigError("pipeline() needs at least one step")
    results: list[TaskResult] = []
    current = input
    for capability, instruction in steps:
        if "{input}" in instruction:
            task = instruction.replace("{input}", current)
        else:
            task = f"{instruction}\n\n{current}"
        done = await team.assign(capability, task)
        results.append(done)
        current = str(done.output)
    return results


async def fan_out(team: Team, capability: str, task: str, *, k: int = 3, **decide: Any) -> Decision:
    """Ask k capable members (the least loaded first) the same ``task`` at once and decide
    between their answers; ``decide`` takes :meth:`Team.decide`'s options."""
    if k < 1:
        raise ConfigError("fan_out(k=...) must be at least 1")
    capable = sorted(team.registry.capable(capability), key=lambda m: (m.load, m.queue, m.name))
    names = [m.name for m in capable if m.name in team.agents][:k]
    if not names:
        raise ConfigError(f"fan_out(): no live member advertises {capability!r}")
    decide.setdefault("capability", capability)
    return await team.decide(task, among=names, **decide)


async def supervise(team: Team, supervisor: Agent, task: str) -> RunResult:
    """Have ``supervisor`` do ``task`` with the team's members as its workers: it calls
    ``delegate(capability, subtask)`` for each part (its tools must include
    :data:`chorus.team.delegate_tool`) and answers from their results."""
    if delegate_tool.name not in supervisor.tools:
        raise ConfigError(
            f"supervise(): give {supervisor.name!r} the delegate tool "
            "(Agent(tools=[chorus.team.delegate_tool, ...]))"
        )
    token = in_task.set(InTask(team, "supervised", supervisor.name, 0))
    try:
        return await supervisor.run(task)
    finally:
        in_task.reset(token)  # the caller is not doing a team's task afterwards
