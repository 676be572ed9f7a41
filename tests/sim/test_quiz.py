"""The quiz behaviour: keyed multiple-choice answers with a per-model skill, repeatable."""

from __future__ import annotations

from typing import Any

import pytest

from chorus.errors import ConfigError
from chorus.sim import Simulator, config_from_dict
from chorus.sim.models import ModelSpec

MODELS = [
    ModelSpec(id=name, context_window=200_000, max_output_tokens=8192)
    for name in ("strong", "weak-1", "weak-2", "sure")
]


def config(correlation: float = 0.0) -> Any:
    return config_from_dict(
        {
            "behaviour": "quiz",
            "seed": 3,
            "models": [
                {"id": m.id, "context_window": 200_000, "max_output_tokens": 8192} for m in MODELS
            ],
            "quiz": {
                "correlation": correlation,
                "profiles": {
                    "strong": {"accuracy": 0.9},
                    "weak-1": {"accuracy": 0.3, "group": "g"},
                    "weak-2": {"accuracy": 0.3, "group": "g"},
                    "sure": {"accuracy": 0.4, "confidence": 0.95},
                },
            },
        }
    )


async def ask(sim: Simulator, model: str, question: str, **extra: Any) -> dict[str, Any]:
    import aiohttp

    body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": question}]}
    body.update(extra)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{sim.base_url}/v1/messages",
            json=body,
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return dict(await response.json())


def question(i: int, key: str) -> str:
    return f"Question {i} [key {key}]: which is it? A) one B) two C) three D) four"


async def test_answers_follow_each_models_accuracy_and_repeat_exactly() -> None:
    async with Simulator(config(correlation=1.0)) as sim:
        right = {"strong": 0, "weak-1": 0}
        same_wrong = both_wrong = 0
        for i in range(200):
            key = "ABCD"[i % 4]
            got = {}
            for model in ("strong", "weak-1", "weak-2"):
                reply = await ask(sim, model, question(i, key))
                got[model] = reply["content"][0]["text"][0]
            right["strong"] += got["strong"] == key
            right["weak-1"] += got["weak-1"] == key
            if got["weak-1"] != key and got["weak-2"] != key:
                both_wrong += 1
                same_wrong += got["weak-1"] == got["weak-2"]
        again = await ask(sim, "strong", question(7, "D"))
        first = await ask(sim, "strong", question(7, "D"))
    assert 160 <= right["strong"] <= 195 and 35 <= right["weak-1"] <= 85
    assert same_wrong == both_wrong > 50  # correlation 1: a group's errors agree
    assert again["content"] == first["content"]  # seeded by the question and the model


async def test_a_forced_output_tool_gets_the_answer_and_the_stated_confidence() -> None:
    tool = {
        "name": "final_answer",
        "description": "The answer.",
        "input_schema": {
            "type": "object",
            "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
        },
    }
    async with Simulator(config()) as sim:
        reply = await ask(
            sim,
            "sure",
            question(1, "B"),
            tools=[tool],
            tool_choice={"type": "tool", "name": "final_answer"},
        )
    (block,) = reply["content"]
    assert block["type"] == "tool_use" and block["input"]["confidence"] == 0.95
    assert block["input"]["answer"] in "ABCD"


def test_bad_quiz_settings_say_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="accuracy must be within"):
        config_from_dict({"quiz": {"profiles": {"*": {"accuracy": 1.5}}}})
    with pytest.raises(ConfigError, match="correlation"):
        config_from_dict({"quiz": {"correlation": -1}})
