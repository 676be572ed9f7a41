"""The ``quiz`` behaviour: multiple-choice answers with a known skill, for team experiments.

A question names its options and, for the simulator only, its key: ``[key C]`` anywhere in
the last user message. Each model answers correctly with the probability its profile gives
(``quiz.profiles``, by model id; ``"*"`` for the rest). A wrong answer is, with probability
``quiz.correlation``, the one wrong answer its group shares for that question (models whose
errors agree, as real models' do), and otherwise any wrong option. Each states a confidence:
its accuracy, give or take a little, or the profile's fixed ``confidence`` (an
over-confident model says 0.95 whatever it knows). Every draw is seeded by the config's
seed, the question and the model, so an experiment repeats exactly.

When the request forces a tool (an agent's structured output), the answer comes as that
tool's input (``answer`` and ``confidence``, as far as its schema has them); else as text.
"""

from __future__ import annotations

import hashlib
import random
import re

from chorus.sim.config import QuizProfile, SimConfig
from chorus.sim.plan import Plan, PlannedBlock
from chorus.sim.reading import last_user_text
from chorus.sim.request import MessagesRequest

__all__ = ["quiz"]

_KEY = re.compile(r"\[key ([A-Z])\]")
_OPTION = re.compile(r"(?:^|\s)([A-Z])\)")


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def quiz(request: MessagesRequest, config: SimConfig) -> Plan | None:
    """The answer of ``request.model`` to a keyed multiple-choice question, else None."""
    text = last_user_text(request.messages)
    key = _KEY.search(text)
    if key is None or config.quiz is None:
        return None
    truth = key.group(1)
    options = sorted(set(_OPTION.findall(text.replace(key.group(0), ""))) | {truth})
    if len(options) < 2:
        options = ["A", "B", "C", "D"]
    wrong = [o for o in options if o != truth]
    model = request.model.id
    profile = config.quiz.profiles.get(model) or config.quiz.profiles.get("*") or QuizProfile()
    draw = _rng(config.seed, text, model)
    if draw.random() < profile.accuracy:
        answer = truth
    elif profile.group and draw.random() < config.quiz.correlation:
        answer = _rng(config.seed, text, "group", profile.group).choice(wrong)
    else:
        answer = draw.choice(wrong)
    if profile.confidence is not None:
        confidence = profile.confidence
    else:
        confidence = min(0.99, max(0.01, profile.accuracy + draw.uniform(-0.1, 0.1)))
    confidence = round(confidence, 2)
    forced = (request.tool_choice or {}).get("type") == "tool"
    if forced:
        name = request.tool_choice["name"]  # type: ignore[index]
        schema = next((t for t in request.tools if t.get("name") == name), {})
        fields = (schema.get("input_schema") or {}).get("properties") or {}
        args: dict[str, object] = {"answer": answer}
        if "confidence" in fields:
            args["confidence"] = confidence
        if fields and "answer" not in fields:  # some other shape: its first field
            args = {next(iter(fields)): answer}
        return Plan([PlannedBlock("tool_use", name=name, input=args)], "tool_use")
    return Plan([PlannedBlock("text", f"{answer} (confidence {confidence:.2f})")])
