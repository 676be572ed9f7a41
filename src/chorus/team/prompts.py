"""What a team asks its models when it decides, and how it reads their replies. Pure.

Three questions beyond the question itself: a judge's (which of two answers is right,
asked once per order), a debate round's (the question again, with what the others
answered last round and the agent's own answer), and a grouping (which free-text answers
say the same thing, so that votes for one meaning count together). Each reader is lenient
in what it accepts and returns None, never a guess, for a reply it cannot read.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence

__all__ = [
    "debate_prompt",
    "grouping_prompt",
    "judge_prompt",
    "read_groups",
    "read_verdict",
]


def judge_prompt(question: str, first: Hashable, second: Hashable) -> str:
    return (
        f"{question}\n\nTwo answers were given.\nAnswer 1: {first}\nAnswer 2: {second}\n"
        "Which answer is right? Reply with 1 or 2 only."
    )


def read_verdict(reply: str) -> int | None:
    """1 or 2: the first of them the reply names; None if it names neither."""
    found = re.search(r"[12]", reply)
    return int(found.group()) if found else None


def debate_prompt(question: str, others: Sequence[tuple[str, Hashable]], own: Hashable) -> str:
    """The question again, with the other agents' last answers and the agent's own."""
    lines = "\n".join(f"- {name}: {value}" for name, value in others)
    return (
        f"{question}\n\nThe others answered:\n{lines}\nYou answered: {own}\n"
        "Consider their answers and your own reasoning, then answer again."
    )


def grouping_prompt(question: str, answers: Sequence[str]) -> str:
    numbered = "\n".join(f"{i}. {text}" for i, text in enumerate(answers, 1))
    return (
        f"{question}\n\nThese answers were given:\n{numbered}\n"
        "Group the answers that say the same thing. Reply with the groups only, one per "
        "line, as answer numbers separated by commas (for example: 1, 3)."
    )


def read_groups(reply: str, count: int) -> list[int] | None:
    """For each of ``count`` answers, the index (0-based) of the first answer of its group;
    None unless every answer is in exactly one group."""
    leader = [-1] * count
    for line in reply.splitlines():
        numbers = [int(n) for n in re.findall(r"\d+", line)]
        if not numbers:
            continue
        if any(not 1 <= n <= count or leader[n - 1] != -1 for n in numbers):
            return None
        first = min(numbers) - 1
        for n in numbers:
            leader[n - 1] = first
    return leader if all(i >= 0 for i in leader) else None
