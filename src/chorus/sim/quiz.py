"""The ``quiz`` behaviour: multiple-choice answers with a known skill, for team experiments.

A question names its options and, for the simulator only, its key: ``[key C]`` anywhere in
the last user message. Each model answers correctly with the probability its profile gives
(``quiz.profiles``, by model id; ``"*"`` for the rest). A wrong answer is, with probability
``quiz.correlation``, the one wrong answer its group shares for that question (models whose
errors agree, as real models' do), and otherwise any wrong option. Each states a confidence:
its accuracy, give or take a little, or the profile's fixed ``confidence`` (an
over-confident model says 0.95 whatever it knows). Every draw is seeded by the config's
seed, the question and the model, so an experiment repeats exactly.

Three more kinds of request, as a team makes them:

* **A repeat** (the same request again, temperature above 0: self-consistency): with
  probability ``quiz.self_agreement`` the model repeats its first answer, else it answers
  afresh by the same rules. Its accuracy stays what the profile says; its samples agree
  with each other more than chance, as a real model's do.
* **A judge's question** (``Answer 1: X`` and ``Answer 2: Y`` under a keyed question): with
  probability ``position_bias`` the judge names answer 1 without reading; else it names
  the right one with its accuracy, when one of the two is right, or either at random.
* **A debate round** (the question, then ``The others answered:`` with ``- name: X``
  lines, and ``You answered: X``): with probability ``quiz.conformity`` the model takes
  the answer most of the others gave; else it keeps its own.

When the request forces a tool (an agent's structured output), the answer comes as that
tool's input (``answer`` and ``confidence``, as far as its schema has them); else as text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter

from chorus.sim.config import QuizProfile, SimConfig
from chorus.sim.plan import Plan, PlannedBlock
from chorus.sim.reading import last_user_text
from chorus.sim.request import MessagesRequest

__all__ = ["quiz"]

_KEY = re.compile(r"\[key ([A-Z])\]")
_OPTION = re.compile(r"(?:^|\s)([A-Z])\)")
_SHOWN = re.compile(r"^Answer ([12]): *(.+?) *$", re.MULTILINE)
_OTHERS = "The others answered:"
_OTHER = re.compile(r"^- [^:\n]+: *(.+?) *$", re.MULTILINE)
_MINE = re.compile(r"^You answered: *(.+?) *$", re.MULTILINE)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _letter(text: str) -> str | None:
    """The option a shown answer names: its first word, if that is a single letter."""
    word = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    word = word.strip(".,;:)(").upper()
    return word if len(word) == 1 and word.isalpha() else None


def quiz(request: MessagesRequest, config: SimConfig) -> Plan | None:
    """The answer of ``request.model`` to a keyed multiple-choice question, else None."""
    text = last_user_text(request.messages)
    key = _KEY.search(text)
    if key is None or config.quiz is None:
        return None
    truth = key.group(1)
    model = request.model.id
    profile = config.quiz.profiles.get(model) or config.quiz.profiles.get("*") or QuizProfile()
    shown = dict(_SHOWN.findall(text))
    if "1" in shown and "2" in shown:
        return _reply(request, _verdict(config, profile, text, truth, shown, request.sample))
    question, _, debate = text.partition(_OTHERS)
    options = sorted(set(_OPTION.findall(question.replace(key.group(0), ""))) | {truth})
    if len(options) < 2:
        options = ["A", "B", "C", "D"]
    draw = _rng(config.seed, text, model, request.sample)
    answer = _draw(config, profile, question, model, truth, options, 0)
    if debate:
        mine = _MINE.search(debate)
        own = (_letter(mine.group(1)) if mine else None) or answer
        others = Counter(x for x in map(_letter, _OTHER.findall(debate)) if x)
        answer = own
        if others and draw.random() < config.quiz.conformity:
            most = max(others.values())
            if others[own] < most:  # the others lean elsewhere: follow the largest group
                answer = draw.choice(sorted(x for x, n in others.items() if n == most))
    elif request.sample and draw.random() >= config.quiz.self_agreement:
        answer = _draw(config, profile, question, model, truth, options, request.sample)
    if profile.confidence is not None:
        confidence = profile.confidence
    else:
        confidence = min(0.99, max(0.01, profile.accuracy + draw.uniform(-0.1, 0.1)))
    return _reply(request, answer, round(confidence, 2))


def _draw(
    config: SimConfig,
    profile: QuizProfile,
    question: str,
    model: str,
    truth: str,
    options: list[str],
    sample: int,
) -> str:
    assert config.quiz is not None
    if sample == 0:  # the first answer's draw: what the model "knows"
        draw = _rng(config.seed, question, model)
    else:
        draw = _rng(config.seed, question, model, "sample", sample)
    if draw.random() < profile.accuracy:
        return truth
    wrong = [o for o in options if o != truth]
    if profile.group and draw.random() < config.quiz.correlation:
        return _rng(config.seed, question, "group", profile.group).choice(wrong)
    return draw.choice(wrong)


def _verdict(
    config: SimConfig,
    profile: QuizProfile,
    text: str,
    truth: str,
    shown: dict[str, str],
    sample: int,
) -> str:
    draw = _rng(config.seed, text, "judge", sample)
    if draw.random() < profile.position_bias:
        return "1"
    right = [n for n, value in sorted(shown.items()) if _letter(value) == truth]
    if not right:
        return draw.choice("12")
    if draw.random() < profile.accuracy:
        return right[0]
    return "2" if right[0] == "1" else "1"


def _reply(request: MessagesRequest, answer: str, confidence: float | None = None) -> Plan:
    forced = (request.tool_choice or {}).get("type") == "tool"
    if forced:
        name = request.tool_choice["name"]  # type: ignore[index]
        schema = next((t for t in request.tools if t.get("name") == name), {})
        fields = (schema.get("input_schema") or {}).get("properties") or {}
        args: dict[str, object] = {"answer": answer}
        if "confidence" in fields and confidence is not None:
            args["confidence"] = confidence
        if fields and "answer" not in fields:  # some other shape: its first field
            args = {next(iter(fields)): answer}
        return Plan([PlannedBlock("tool_use", name=name, input=args)], "tool_use")
    if confidence is None:
        return Plan([PlannedBlock("text", f"Answer {answer} is right.")])
    return Plan([PlannedBlock("text", f"{answer} (confidence {confidence:.2f})")])
