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


def declared(*names: str) -> list[dict[str, Any]]:
    return [{"id": n, "context_window": 200_000, "max_output_tokens": 8192} for n in names]


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
        again = await ask(sim, "strong", question(7, "D"), temperature=0)
        first = await ask(sim, "strong", question(7, "D"), temperature=0)
    assert 160 <= right["strong"] <= 195 and 35 <= right["weak-1"] <= 85
    assert same_wrong == both_wrong > 50  # correlation 1: a group's errors agree
    assert again["content"] == first["content"]  # seeded by the question and the model


async def test_a_repeated_question_is_sampled_afresh_but_agrees_with_itself() -> None:
    async with Simulator(config()) as sim:
        firsts, repeats, agree = [], [], 0
        for i in range(300):
            key = "ABCD"[i % 4]
            one = (await ask(sim, "weak-1", question(i, key)))["content"][0]["text"][0]
            two = (await ask(sim, "weak-1", question(i, key)))["content"][0]["text"][0]
            zero = await ask(sim, "weak-1", question(i, key), temperature=0)
            assert zero["content"][0]["text"][0] == one  # temperature 0: the first answer
            firsts.append(one == key)
            repeats.append(two == key)
            agree += one == two
    assert 50 <= sum(firsts) <= 130 and 50 <= sum(repeats) <= 130  # both about 0.3
    assert 180 <= agree <= 270  # 0.6 + 0.4 x (chance of the same draw): more than chance
    assert sum(a != b for a, b in zip(firsts, repeats, strict=True)) > 10  # not copies


def judged(question_text: str, first: str, second: str) -> str:
    return f"{question_text}\n\nTwo answers were given.\nAnswer 1: {first}\nAnswer 2: {second}"


async def test_a_judge_names_the_right_answer_by_its_accuracy_or_the_first_by_its_bias() -> None:
    cfg = config_from_dict(
        {
            "behaviour": "quiz",
            "seed": 1,
            "models": declared("fair", "biased"),
            "quiz": {
                "profiles": {
                    "fair": {"accuracy": 0.9},
                    "biased": {"accuracy": 0.9, "position_bias": 0.5},
                }
            },
        }
    )
    async with Simulator(cfg) as sim:
        picks: dict[str, int] = {"fair": 0, "biased": 0}
        firsts: dict[str, int] = {"fair": 0, "biased": 0}
        for i in range(200):
            q = question(i, "B")
            order = ("b", "c") if i % 2 else ("c", "b")  # the right one first, then second
            for model in picks:
                text = (await ask(sim, model, judged(q, *order)))["content"][0]["text"]
                named = text.split()[1]
                picks[model] += order[int(named) - 1] == "b"
                firsts[model] += named == "1"
    assert picks["fair"] >= 165 and 80 <= firsts["fair"] <= 120
    assert 115 <= picks["biased"] <= 165 and firsts["biased"] >= 125


async def test_in_a_debate_round_a_model_may_follow_the_others_or_keep_its_answer() -> None:
    cfg = config_from_dict(
        {"behaviour": "quiz", "seed": 2, "models": declared("m"), "quiz": {"conformity": 0.5}}
    )
    async with Simulator(cfg) as sim:
        followed = kept = 0
        for i in range(200):
            text = (
                f"{question(i, 'A')}\n\nThe others answered:\n- agent1: c\n- agent2: c\n"
                "- agent3: d\nYou answered: b\nConsider their answers and answer again."
            )
            answer = (await ask(sim, "m", text))["content"][0]["text"][0]
            assert answer in "BC"
            followed += answer == "C"
            kept += answer == "B"
    assert 70 <= followed <= 130 and followed + kept == 200


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
    with pytest.raises(ConfigError, match="conformity"):
        config_from_dict({"quiz": {"conformity": 2}})
    with pytest.raises(ConfigError, match="position_bias"):
        config_from_dict({"quiz": {"profiles": {"*": {"position_bias": 2}}}})
