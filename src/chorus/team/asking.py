"""The model calls behind a team's decision: asking, sampling, debating, judging, grouping.

:meth:`Team.decide <chorus.team.Team.decide>` picks a strategy; these do its I/O. The
rules they follow are elsewhere: what to ask and how to read replies in
:mod:`chorus.team.prompts`, how to decide between answers in :mod:`chorus.team.consensus`.
A member that fails abstains (its answer's value is None), a judge that fails gives no
verdict: one model's failure is information for the decision, never the team's crash.
Every call reports what it did through ``emit`` and counts the model tokens it used.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from chorus.team.consensus import Answer, candidates
from chorus.team.events import AnswerGiven, QuestionAsked, TeamEvent, VerdictGiven
from chorus.team.prompts import (
    debate_prompt,
    grouping_prompt,
    judge_prompt,
    read_groups,
    read_verdict,
)

if TYPE_CHECKING:
    from chorus.agent.agent import Agent
    from chorus.team.remote import RemoteAgent

    Asked = Agent | RemoteAgent  # who can be asked: a local agent or a remote A2A one

__all__ = ["Asking", "comparable"]

Emit = Callable[[TeamEvent], None]


class Asking:
    """One decision's model calls: ``emit`` hears of each, ``tokens`` counts their cost."""

    def __init__(self, question_id: str, question: str, emit: Emit) -> None:
        self.id, self.question, self.emit = question_id, question, emit
        self.tokens = 0

    async def run(self, agent: Asked, prompt: str) -> Any:
        """The agent's output for ``prompt``; raises what the run raised."""
        result = await agent.run(prompt)
        self.tokens += result.usage.input_tokens + result.usage.output_tokens
        return result.output

    async def answer(self, agent: Asked, prompt: str, round: int = 1) -> Answer:
        try:
            output = await self.run(agent, prompt)
        except Exception:  # one member's failure is its abstention, not the team's
            given = Answer(agent.name, None)
        else:
            value = _field(output, "answer", output)
            confidence = _field(output, "confidence", None)
            given = Answer(
                agent.name,
                comparable(value),
                float(confidence) if isinstance(confidence, int | float) else None,
            )
        self.emit(AnswerGiven(self.id, given, round))
        return given

    async def everyone(self, agents: Sequence[Asked], samples: int = 1) -> list[Answer]:
        """Each agent's answer to the question, ``samples`` times each, all at once."""
        self.emit(QuestionAsked(self.id, tuple(a.name for a in agents)))
        asked = [a for a in agents for _ in range(samples)]
        return list(await asyncio.gather(*(self.answer(a, self.question) for a in asked)))

    async def debate(
        self, agents: Sequence[Asked], answers: list[Answer], rounds: int
    ) -> list[Answer]:
        """Up to ``rounds`` more rounds: each agent sees the others' last answers and its
        own, and answers again; it stops early once they all agree."""
        by_name = {a.name: a for a in agents}
        for round in range(2, rounds + 2):
            given = [a for a in answers if a.value is not None]
            if len({a.value for a in given}) <= 1:
                break
            self.emit(QuestionAsked(self.id, tuple(a.agent for a in given), round))
            abstained = [a for a in answers if a.value is None]  # they stay abstentions

            async def again(
                mine: Answer, round: int = round, given: list[Answer] = given
            ) -> Answer:
                others = [(a.agent, a.value) for a in given if a.agent != mine.agent]
                prompt = debate_prompt(self.question, others, mine.value)
                revised = await self.answer(by_name[mine.agent], prompt, round)
                return revised if revised.value is not None else mine

            answers = [*await asyncio.gather(*(again(a) for a in given)), *abstained]
        return answers

    async def judge(
        self, judge: Agent, answers: Sequence[Answer]
    ) -> tuple[Hashable | None, Hashable | None]:
        """The judge's pick between the two leading answers, asked in both orders."""
        pair = candidates(answers)
        if len(pair) < 2:
            return (pair[0], pair[0]) if pair else (None, None)
        first, swapped = await asyncio.gather(
            self._verdict(judge, pair[0], pair[1], 1),
            self._verdict(judge, pair[1], pair[0], 2),
        )
        return first, swapped

    async def _verdict(self, judge: Agent, a: Hashable, b: Hashable, order: int) -> Hashable | None:
        try:
            picked = read_verdict(str(await self.run(judge, judge_prompt(self.question, a, b))))
        except Exception:  # a judge that fails gives no verdict: a tie
            picked = None
        pick = {1: a, 2: b}.get(picked) if picked else None
        self.emit(VerdictGiven(self.id, judge.name, order, pick))
        return pick

    async def group(self, judge: Agent, answers: list[Answer]) -> list[Answer]:
        """Free-text answers that say the same thing, as the judge groups them, take one
        value (their group's first), so their votes count together. A reply that cannot
        be read leaves the answers as they were."""
        texts = sorted({str(a.value) for a in answers if a.value is not None})
        if len(texts) < 2:
            return answers
        try:
            reply = str(await self.run(judge, grouping_prompt(self.question, texts)))
        except Exception:
            return answers
        leaders = read_groups(reply, len(texts))
        if leaders is None:
            return answers
        same = {text: texts[leaders[i]] for i, text in enumerate(texts)}
        return [
            a if a.value is None else Answer(a.agent, same[str(a.value)], a.confidence)
            for a in answers
        ]


def _field(output: Any, name: str, default: Any) -> Any:
    if isinstance(output, dict):
        return output.get(name, default)
    return getattr(output, name, default)


def comparable(value: Any) -> Any:
    """Answers compare by value: text by its stripped, case-folded words, anything that
    does not hash (a dict, a list) by its sorted JSON."""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)
    return value
