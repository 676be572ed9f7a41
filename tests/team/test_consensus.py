"""Consensus strategies: explicit outcomes, and weights that learn who is reliable."""

from __future__ import annotations

import random

import pytest

from chorus.team import (
    Answer,
    Reliability,
    confidence_weighted,
    dawid_skene,
    majority,
    reliability_weighted,
)


def answers(*pairs: tuple[str, object]) -> list[Answer]:
    return [Answer(agent, value) for agent, value in pairs]


def test_majority_agrees_ties_and_says_when_nobody_answered() -> None:
    d = majority(answers(("a", "x"), ("b", "x"), ("c", "y")))
    assert (d.answer, d.outcome, d.votes) == ("x", "agreed", {"x": 2.0, "y": 1.0})
    assert majority(answers(("a", "x"), ("b", "y"))).outcome == "tie"
    assert majority(answers(("a", None), ("b", None))).outcome == "abstained"
    short = majority(answers(("a", "x"), ("b", None)), quorum=2)
    assert (short.answer, short.outcome) == (None, "no_quorum")


def test_confidence_weighs_the_stated_confidence() -> None:
    given = [Answer("a", "x", 0.9), Answer("b", "y", 0.3), Answer("c", "y", 0.4)]
    assert confidence_weighted(given).answer == "x"
    assert majority(given).answer == "y"


def test_reliability_learns_from_feedback_and_outweighs_the_crowd() -> None:
    rel = Reliability(options=4)
    for _ in range(40):  # a is right, b and c are wrong and agree with each other
        rel.feedback(answers(("a", "x"), ("b", "y"), ("c", "y")), truth="x", capability="q")
    assert rel.accuracy("a", "q") > 0.9 and rel.accuracy("b", "q") < 0.1
    d = reliability_weighted(answers(("a", "x"), ("b", "y"), ("c", "y")), rel, capability="q")
    assert d.answer == "x" and d.outcome == "agreed"
    # Another capability has no record yet: every agent is at the prior, a plain majority.
    fresh = reliability_weighted(answers(("a", "x"), ("b", "y"), ("c", "y")), rel, capability="r")
    assert fresh.answer == "y"
    with pytest.raises(ValueError):
        Reliability(options=1)


def quiz(
    seed: int, accuracies: list[float], questions: int, rho: float
) -> list[tuple[str, list[Answer]]]:
    """Four options, the truth drawn per question; a wrong agent picks the question's
    shared wrong answer with probability ``rho`` (correlated errors), else any wrong one."""
    rng = random.Random(seed)
    out = []
    for _ in range(questions):
        truth = rng.choice("ABCD")
        wrong = [o for o in "ABCD" if o != truth]
        shared = rng.choice(wrong)
        row = []
        for i, p in enumerate(accuracies):
            if rng.random() < p:
                value = truth
            else:
                value = shared if rng.random() < rho else rng.choice(wrong)
            row.append(Answer(f"agent{i}", value))
        out.append((truth, row))
    return out


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.6])
def test_reliability_weighted_beats_majority_with_a_few_strong_agents(rho: float) -> None:
    accuracies = [0.9, 0.85, 0.45, 0.4, 0.4, 0.4, 0.4]
    train = quiz(1, accuracies, 300, rho)
    test = quiz(2, accuracies, 1000, rho)
    rel = Reliability(options=4)
    for truth, row in train:
        rel.feedback(row, truth=truth)
    right_majority = sum(majority(row).answer == truth for truth, row in test)
    right_weighted = sum(reliability_weighted(row, rel).answer == truth for truth, row in test)
    assert right_weighted > right_majority + 30  # a clear margin over 1,000 questions


def test_dawid_skene_learns_who_is_reliable_without_labels() -> None:
    accuracies = [0.9, 0.85, 0.45, 0.4, 0.4, 0.4, 0.4]
    rows = quiz(3, accuracies, 600, 0.3)
    decisions, confusion = dawid_skene([row for _, row in rows])
    right_ds = sum(d.answer == truth for d, (truth, _) in zip(decisions, rows, strict=True))
    right_majority = sum(majority(row).answer == truth for truth, row in rows)
    assert right_ds > right_majority + 30
    assert confusion["agent0"]["A"]["A"] > 0.8 > 0.6 > confusion["agent4"]["A"]["A"]
    empty, _ = dawid_skene([[Answer("a", None)]])
    assert empty[0].outcome == "abstained"


def test_judged_decisions_and_the_candidates_a_judge_is_shown() -> None:
    from chorus.team import candidates, judged

    given = answers(("a", "x"), ("b", "y"), ("c", "x"), ("d", "z"))
    assert candidates(given) == ["x", "y"]  # the two most given, the first given on a tie
    assert judged(given, "y", "y").answer == "y"  # the judge may overrule the count
    assert judged(given, "x", "y").outcome == "tie"  # the verdict followed the order
    assert judged(given, "w", "w").outcome == "tie"  # not one of the answers
    assert judged(answers(("a", None)), None, None).outcome == "abstained"
