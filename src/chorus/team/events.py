"""What a team run tells its watchers, as it happens. Pure data.

``team.stream_assign(...)`` and ``team.stream_decide(...)`` yield these; ``assign`` and
``decide`` are the same runs with nobody watching. An assignment says who was asked for a
bid, each bid, each award (and why an awardee was given up on), then how the task ended.
A decision says who was asked (per round, for a debate), each answer, each verdict of a
judge, then the decision. Every event names the task or question it belongs to (``id``),
so events of concurrent runs can share one stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from chorus.team.consensus import Answer, Decision

__all__ = [
    "AnswerGiven",
    "AwardEnded",
    "Awarded",
    "BidReceived",
    "CalledForBids",
    "Decided",
    "QuestionAsked",
    "TaskCompleted",
    "TaskFailed",
    "TaskResult",
    "TeamEvent",
    "VerdictGiven",
]


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's outcome: who did it, what it returned, and how many awards it took."""

    task_id: str
    agent: str
    output: Any
    awards: int
    tokens: int = 0  # model tokens (input and output) the task's run used


class TeamEvent:
    """Base of every team event; ``kind`` names it on the wire."""

    __slots__ = ()
    kind: ClassVar[str] = ""


@dataclass(frozen=True, slots=True)
class CalledForBids(TeamEvent):
    kind: ClassVar[str] = "called_for_bids"
    id: str
    capability: str
    agents: tuple[str, ...]
    hops: int = 0  # how many delegations deep this task is


@dataclass(frozen=True, slots=True)
class BidReceived(TeamEvent):
    kind: ClassVar[str] = "bid"
    id: str
    agent: str
    score: float


@dataclass(frozen=True, slots=True)
class Awarded(TeamEvent):
    kind: ClassVar[str] = "awarded"
    id: str
    agent: str
    award: int  # 1 for the first award, 2 for the first re-award, ...


@dataclass(frozen=True, slots=True)
class AwardEnded(TeamEvent):
    """An awardee was given up on: it failed, went silent, or missed its deadline."""

    kind: ClassVar[str] = "award_ended"
    id: str
    agent: str
    reason: str


@dataclass(frozen=True, slots=True)
class TaskCompleted(TeamEvent):
    kind: ClassVar[str] = "task_completed"
    id: str
    result: TaskResult


@dataclass(frozen=True, slots=True)
class TaskFailed(TeamEvent):
    kind: ClassVar[str] = "task_failed"
    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class QuestionAsked(TeamEvent):
    kind: ClassVar[str] = "question_asked"
    id: str
    agents: tuple[str, ...]
    round: int = 1  # a debate's later rounds: 2, 3


@dataclass(frozen=True, slots=True)
class AnswerGiven(TeamEvent):
    kind: ClassVar[str] = "answer"
    id: str
    answer: Answer
    round: int = 1


@dataclass(frozen=True, slots=True)
class VerdictGiven(TeamEvent):
    """A judge's pick with the candidates in one order (``order`` 1) or swapped (2)."""

    kind: ClassVar[str] = "verdict"
    id: str
    judge: str
    order: int
    pick: Any


@dataclass(frozen=True, slots=True)
class Decided(TeamEvent):
    kind: ClassVar[str] = "decided"
    id: str
    decision: Decision
