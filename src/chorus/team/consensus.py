"""What a team decides when its agents answer the same question differently. Pure.

Each strategy is a small function over :class:`Answer` values that returns a
:class:`Decision`: the winning answer, how clearly it won (``outcome``) and the weight each
answer got. Ties, abstentions and a missing quorum are outcomes, never a silent pick.

* :func:`majority`: one agent, one vote.
* :func:`confidence_weighted`: each vote weighs the confidence the agent stated.
* :class:`Reliability` and :func:`reliability_weighted`: each vote weighs what the agent's
  track record on this kind of question says, as log-odds (an agent right 90% of the time
  among four options outweighs two that are right 55% of the time); the record learns
  online from the truth when it becomes known, starting from a prior every agent shares.
* :func:`dawid_skene`: the same weights learned without the truth, from many questions at
  once: the answers that agree with the consensus teach each agent's confusion matrix.
* :func:`judged`: a judge's verdicts on the two leading answers, asked once in each order;
  a verdict that follows the order rather than the answers is a tie.

Answers compare by value: a question with structured output gives values that compare
equal when they mean the same thing; free text needs a judge to group equivalents first.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "Answer",
    "Decision",
    "Outcome",
    "Reliability",
    "candidates",
    "confidence_weighted",
    "dawid_skene",
    "judged",
    "majority",
    "reliability_weighted",
]

Outcome = Literal["agreed", "tie", "no_quorum", "abstained"]
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Answer:
    """One agent's answer; ``value`` None is an abstention. ``confidence`` in [0, 1], if
    the agent stated one."""

    agent: str
    value: Hashable | None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The team's answer, how it was reached, and the weight behind each answer."""

    answer: Hashable | None
    outcome: Outcome
    votes: dict[Hashable, float] = field(default_factory=dict)
    strategy: str = ""
    answers: tuple[Answer, ...] = ()
    capability: str = ""  # what kind of question, for the reliabilities that learn from it
    tokens: int = 0  # model tokens (input and output) the decision's calls used


def _decide(
    answers: Sequence[Answer], weights: Iterable[float], strategy: str, quorum: int
) -> Decision:
    given = tuple(answers)
    votes: dict[Hashable, float] = defaultdict(float)
    voters = 0
    for answer, weight in zip(given, weights, strict=True):
        if answer.value is None:
            continue
        voters += 1
        votes[answer.value] += weight
    tally = dict(votes)
    if voters == 0:
        return Decision(None, "abstained", tally, strategy, given)
    if voters < quorum:
        return Decision(None, "no_quorum", tally, strategy, given)
    ranked = sorted(tally.items(), key=lambda kv: -kv[1])
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] <= _EPS * max(1.0, abs(ranked[0][1])):
        return Decision(None, "tie", tally, strategy, given)
    return Decision(ranked[0][0], "agreed", tally, strategy, given)


def majority(answers: Sequence[Answer], *, quorum: int = 1) -> Decision:
    """One vote each; the most votes wins, equal counts are a tie."""
    return _decide(answers, (1.0 for _ in answers), "majority", quorum)


def confidence_weighted(answers: Sequence[Answer], *, quorum: int = 1) -> Decision:
    """Each vote weighs the agent's stated confidence (0.5 when it stated none). An agent
    that is always sure outweighs the rest: its confidence is its own claim, which is why
    :func:`reliability_weighted` exists."""
    weights = [
        0.5 if a.confidence is None else min(1.0, max(0.0, float(a.confidence))) for a in answers
    ]
    return _decide(answers, weights, "confidence", quorum)


def _log_odds_weight(accuracy: float, options: int) -> float:
    """The optimal vote weight of an agent right with probability ``accuracy`` among
    ``options`` choices, its errors spread evenly: log(p (k - 1) / (1 - p)). Zero at
    chance, negative below it (such an agent's answer is evidence against itself)."""
    p = min(1 - 1e-6, max(1e-6, accuracy))
    return math.log(p * (options - 1) / (1 - p))


@dataclass
class Reliability:
    """Each agent's track record per capability, learned online from the truth.

    The record is a Beta prior (``prior_right`` and ``prior_wrong`` pseudo-answers, a
    slightly better than chance start for every agent) plus the answers scored since.
    """

    options: int = 4
    prior_right: float = 1.0
    prior_wrong: float = 1.0
    scores: dict[tuple[str, str], list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.options, int) or self.options < 2:
            raise ValueError("Reliability(options=...) must be at least 2")
        if self.prior_right <= 0 or self.prior_wrong <= 0:
            raise ValueError("Reliability priors must be positive")

    def accuracy(self, agent: str, capability: str = "") -> float:
        right, wrong = self.scores.get((agent, capability), (0.0, 0.0))
        return (right + self.prior_right) / (right + wrong + self.prior_right + self.prior_wrong)

    def weight(self, agent: str, capability: str = "") -> float:
        return _log_odds_weight(self.accuracy(agent, capability), self.options)

    def feedback(self, answers: Iterable[Answer], truth: Hashable, capability: str = "") -> None:
        """Score each answer (abstentions are not scored) against ``truth``."""
        for answer in answers:
            if answer.value is None:
                continue
            record = self.scores.setdefault((answer.agent, capability), [0.0, 0.0])
            record[0 if answer.value == truth else 1] += 1.0


def reliability_weighted(
    answers: Sequence[Answer],
    reliability: Reliability,
    *,
    capability: str = "",
    quorum: int = 1,
) -> Decision:
    """Each vote weighs the agent's log-odds of being right on this capability. An answer
    whose voters' weights sum to nothing or less loses to any answer with positive weight;
    when every weight is zero (no record yet, all at chance) it is a plain majority."""
    weights = [reliability.weight(a.agent, capability) for a in answers]
    if all(abs(w) <= _EPS for w in weights):
        weights = [1.0] * len(answers)
    return replace(_decide(answers, weights, "reliability", quorum), capability=capability)


def dawid_skene(
    questions: Sequence[Sequence[Answer]],
    *,
    iterations: int = 50,
    smoothing: float = 0.01,
) -> tuple[list[Decision], dict[str, dict[Hashable, dict[Hashable, float]]]]:
    """Decisions for many questions at once, and each agent's confusion matrix
    (true value -> answered value -> probability), learned without labels by expectation
    maximisation (Dawid & Skene, 1979), started from the majority vote. Returns the
    decisions (outcome "tie" where the posterior's top two are equal) and the matrices."""
    labels = sorted({a.value for q in questions for a in q if a.value is not None}, key=repr)
    if not labels:
        return [Decision(None, "abstained", {}, "dawid_skene", tuple(q)) for q in questions], {}
    agents = sorted({a.agent for q in questions for a in q})
    # Start: each question's posterior is its normalised majority vote.
    posteriors: list[dict[Hashable, float]] = []
    for q in questions:
        counts = Counter(a.value for a in q if a.value is not None)
        total = sum(counts.values())
        posteriors.append(
            {v: counts[v] / total for v in labels}
            if total
            else {v: 1 / len(labels) for v in labels}
        )
    confusion: dict[str, dict[Hashable, dict[Hashable, float]]] = {}
    for _ in range(max(1, iterations)):
        # M step: class priors and each agent's confusion matrix from the posteriors.
        prior = {v: smoothing for v in labels}
        for post in posteriors:
            for v in labels:
                prior[v] += post[v]
        norm = sum(prior.values())
        prior = {v: p / norm for v, p in prior.items()}
        confusion = {agent: {t: {v: smoothing for v in labels} for t in labels} for agent in agents}
        for q, post in zip(questions, posteriors, strict=True):
            for a in q:
                if a.value is None:
                    continue
                row = confusion[a.agent]
                for t in labels:
                    row[t][a.value] += post[t]
        for agent in agents:
            for t in labels:
                row_t = confusion[agent][t]
                mass = math.fsum(row_t.values())
                for v in labels:
                    row_t[v] /= mass
        # E step: each question's posterior over the true value.
        new: list[dict[Hashable, float]] = []
        for q in questions:
            logs = {t: math.log(prior[t]) for t in labels}
            for a in q:
                if a.value is None:
                    continue
                for t in labels:
                    logs[t] += math.log(confusion[a.agent][t][a.value])
            top = max(logs.values())
            weights = {t: math.exp(x - top) for t, x in logs.items()}
            mass = math.fsum(weights.values())
            new.append({t: w / mass for t, w in weights.items()})
        posteriors = new
    decisions = []
    for q, post in zip(questions, posteriors, strict=True):
        if all(a.value is None for a in q):
            decisions.append(Decision(None, "abstained", {}, "dawid_skene", tuple(q)))
            continue
        decisions.append(_decide_posterior(q, post))
    return decisions, confusion


def judged(answers: Sequence[Answer], first: Hashable | None, swapped: Hashable | None) -> Decision:
    """Decide between the answers by a judge asked twice, with the two candidates in one
    order (``first``: the value it picked) and in the other (``swapped``). Judges favour a
    position; a verdict that changes with the order says so, and is a tie. A pick that is
    not one of the answers counts as no verdict."""
    given = tuple(answers)
    values = {a.value for a in given if a.value is not None}
    votes = {v: float(n) for v, n in Counter(a.value for a in given if a.value is not None).items()}
    if not values:
        return Decision(None, "abstained", {}, "judge", given)
    if len(values) == 1:
        return Decision(next(iter(values)), "agreed", votes, "judge", given)
    if first is None or first != swapped or first not in values:
        return Decision(None, "tie", votes, "judge", given)
    return Decision(first, "agreed", votes, "judge", given)


def candidates(answers: Sequence[Answer]) -> list[Hashable]:
    """The two most given answers (the first given wins a tie): what a judge is shown."""
    counts = Counter(a.value for a in answers if a.value is not None)
    order = {v: i for i, v in reversed(list(enumerate(a.value for a in answers)))}
    return sorted(counts, key=lambda v: (-counts[v], order[v]))[:2]


def _decide_posterior(question: Sequence[Answer], posterior: dict[Hashable, float]) -> Decision:
    ranked = sorted(posterior.items(), key=lambda kv: -kv[1])
    votes = {v: p for v, p in ranked if p > 1e-6}
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] <= 1e-6:
        return Decision(None, "tie", votes, "dawid_skene", tuple(question))
    return Decision(ranked[0][0], "agreed", votes, "dawid_skene", tuple(question))
