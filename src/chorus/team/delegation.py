"""Handing part of a task to a colleague: the ``delegate`` tool, and how deep a chain may go.

An agent that runs a team's task can call ``delegate(capability, task)``: the team finds a
capable, free colleague by contract net (never by a name the model wrote) and returns
their result as the tool's result. That one tool is both patterns: a member handing work
to another (handoff) and a supervisor spreading work over workers
(:func:`chorus.team.patterns.supervise`). The delegate's context is the subtask alone.

Each delegation is one hop deeper than the task it came from; past the team's
``max_hops`` the tool refuses (:class:`~chorus.team.envelope.HopLimitError`, which the
model sees as the tool's error), so a cycle of agents delegating to each other ends.
Which task a call belongs to travels in a context variable that the team sets for each
run, so the same tool serves every team and every member.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from chorus.agent.tools import ToolRetry, from_function
from chorus.team.events import TaskResult

__all__ = ["InTask", "delegate", "delegate_tool", "in_task"]


class Assigns(Protocol):
    """What delegating needs of a team."""

    async def assign(
        self, capability: str | None, task: str, *, task_id: str | None = None, hops: int = 0
    ) -> TaskResult: ...


@dataclass(frozen=True, slots=True)
class InTask:
    """The team task a run is doing, and how many delegations deep it is."""

    team: Assigns
    task_id: str
    agent: str
    hops: int
    award: str = ""  # the award's envelope id: each award of a task is its own


in_task: ContextVar[InTask | None] = ContextVar("chorus_team_task", default=None)


async def delegate(capability: str, task: str) -> str:
    """Hand part of your task to a colleague who has the capability, and get their result.

    Args:
        capability: the name of the capability a colleague offers, for example "python"
        task: what the colleague should do, with everything they need to know to do it
    """
    here = in_task.get()
    if here is None:
        raise ToolRetry("delegate works only while doing a team's task; do the work yourself")
    result = await here.team.assign(capability, task, hops=here.hops + 1)
    return str(result.output)


# The task waits as long as the team lets the delegate work (its task_timeout and awards).
delegate_tool = from_function(delegate, timeout=None)
