"""Deterministic behaviours: echo, template, script, tool use with schema-valid input, recall."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from chorus.sim import SimConfig
from chorus.sim.behaviours import DONT_KNOW, plan_reply, synthesize
from chorus.sim.models import ModelSpec
from chorus.sim.request import MessagesRequest

from .conftest import user

SPEC = ModelSpec(id="m")


def request(messages: list[dict[str, Any]], **kw: Any) -> MessagesRequest:
    return MessagesRequest(model=SPEC, messages=messages, max_tokens=512, **kw)


def text_of(plan) -> str:
    return "".join(b.text for b in plan.blocks if b.kind == "text")


WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
}
STOCK = {
    "name": "stock_price",
    "description": "Latest share price for a ticker symbol",
    "input_schema": {
        "type": "object",
        "properties": {"ticker": {"type": "string"}},
        "required": ["ticker"],
    },
}


def test_echo_and_template() -> None:
    assert text_of(plan_reply(request(user("hello there")), SimConfig(), "echo")) == "hello there"
    config = SimConfig(template="[{model}] turn {turn}: {last_user}")
    messages = [*user("one"), {"role": "assistant", "content": "ok"}, *user("two")]
    assert text_of(plan_reply(request(messages), config, "template")) == "[m] turn 2: two"


def test_script_from_yaml_file(tmp_path: Path) -> None:
    from chorus.sim.config import load_config

    (tmp_path / "script.yaml").write_text(
        "- match: refund\n  reply: Refunds take 5 days.\n"
        "- match: 're:^order #(\\d+)'\n  tool: lookup_order\n  input: {id: '42'}\n"
        "- match: ''\n  reply: 'Default: {last_user}'\n"
    )
    (tmp_path / "sim.yaml").write_text("behaviour: script\nscript: script.yaml\n")
    config = load_config(tmp_path / "sim.yaml")
    assert (
        text_of(plan_reply(request(user("Can I get a REFUND?")), config)) == "Refunds take 5 days."
    )
    tool = {"name": "lookup_order", "input_schema": {"type": "object"}}
    plan = plan_reply(request(user("order #42 status"), tools=[tool]), config)
    assert plan.stop_reason == "tool_use"
    assert [(b.kind, b.name, b.input) for b in plan.blocks] == [
        ("tool_use", "lookup_order", {"id": "42"})
    ]
    assert text_of(plan_reply(request(user("anything")), config)) == "Default: anything"


def test_tool_chosen_by_the_users_words() -> None:
    plan = plan_reply(
        request(user("What's the weather in San Francisco?"), tools=[WEATHER, STOCK]), SimConfig()
    )
    uses = [b for b in plan.blocks if b.kind == "tool_use"]
    assert [u.name for u in uses] == ["get_weather"]
    assert uses[0].input == {"city": "San Francisco"}
    assert plan.stop_reason == "tool_use"
    jsonschema.validate(uses[0].input, WEATHER["input_schema"])


def test_no_tool_when_nothing_calls_for_one() -> None:
    plan = plan_reply(request(user("Tell me a joke"), tools=[WEATHER, STOCK]), SimConfig())
    assert plan.stop_reason == "end_turn"
    assert not any(b.kind == "tool_use" for b in plan.blocks)


def test_tool_choice_forces_a_tool_and_none_forbids() -> None:
    forced = plan_reply(
        request(
            user("Tell me a joke"),
            tools=[WEATHER, STOCK],
            tool_choice={"type": "tool", "name": "stock_price"},
        ),
        SimConfig(),
    )
    assert [b.name for b in forced.blocks if b.kind == "tool_use"] == ["stock_price"]
    anyone = plan_reply(
        request(user("Tell me a joke"), tools=[WEATHER], tool_choice={"type": "any"}), SimConfig()
    )
    assert anyone.stop_reason == "tool_use"
    none = plan_reply(
        request(user("weather in Paris"), tools=[WEATHER], tool_choice={"type": "none"}),
        SimConfig(),
    )
    assert none.stop_reason == "end_turn"


def test_tool_rules_from_config() -> None:
    from chorus.sim.config import config_from_dict

    config = config_from_dict(
        {"tool_rules": [{"when": "joke", "tool": "stock_price", "input": {"ticker": "HA"}}]}
    )
    plan = plan_reply(request(user("Tell me a joke"), tools=[WEATHER, STOCK]), config)
    assert [(b.name, b.input) for b in plan.blocks if b.kind == "tool_use"] == [
        ("stock_price", {"ticker": "HA"})
    ]


def test_reply_built_from_the_tool_result() -> None:
    messages = [
        *user("weather in Paris?"),
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18 C, sunny"}
            ],
        },
    ]
    plan = plan_reply(request(messages, tools=[WEATHER]), SimConfig())
    assert plan.stop_reason == "end_turn"
    assert "get_weather returned: 18 C, sunny" in text_of(plan)
    messages[-1]["content"][0]["is_error"] = True
    assert "get_weather failed: 18 C, sunny" in text_of(
        plan_reply(request(messages, tools=[WEATHER]), SimConfig())
    )


SCHEMAS = [
    {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 5, "maximum": 9}},
        "required": ["n"],
    },
    {
        "type": "object",
        "properties": {"x": {"type": "number"}, "ok": {"type": "boolean"}},
        "required": ["x", "ok"],
    },
    {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
        "required": ["tags"],
    },
    {
        "type": "object",
        "properties": {"where": {"$ref": "#/$defs/Place"}},
        "required": ["where"],
        "$defs": {
            "Place": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "minLength": 3},
                    "zip": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["city", "zip"],
            }
        },
    },
    {
        "type": "object",
        "properties": {"mode": {"enum": ["fast", "slow"]}, "k": {"const": 3}},
        "required": ["mode", "k"],
    },
    {
        "type": "object",
        "properties": {"maybe": {"type": ["string", "null"], "maxLength": 4}},
        "required": ["maybe"],
    },
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=range(len(SCHEMAS)))
def test_synthesized_input_is_schema_valid(schema: dict[str, Any]) -> None:
    for text in [
        "please do it slow with 7 things in Berlin",
        "",
        "Use 'quoted value' now",
        "12.5 of them",
    ]:
        value = synthesize({"name": "t", "input_schema": schema}, text)
        jsonschema.validate(value, schema)


FACTS = [
    *user("The secret code for project Falcon is 7314. The secret code for project Eagle is 2201."),
    {"role": "assistant", "content": "Noted."},
    *user("My sister lives in Porto."),
    {"role": "assistant", "content": "Nice."},
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the secret code for project Falcon?", "7314"),
        ("what's Eagle's secret code?", "2201"),
        ("Where does my sister live?", "Porto"),
        ("What is the secret code for project Heron?", DONT_KNOW),
        ("What is my dog's name?", DONT_KNOW),
    ],
)
def test_recall_answers_only_from_the_prompt(question: str, expected: str) -> None:
    plan = plan_reply(request([*FACTS, *user(question)]), SimConfig(), "recall")
    assert expected in text_of(plan)


def test_recall_prefers_the_newest_fact() -> None:
    messages = [
        *user("The meeting room is B12."),
        {"role": "assistant", "content": "ok"},
        *user("Update: the meeting room is C7."),
        {"role": "assistant", "content": "ok"},
        *user("Which meeting room is it?"),
    ]
    assert "C7" in text_of(plan_reply(request(messages), SimConfig(), "recall"))


def test_recall_reads_the_system_prompt() -> None:
    plan = plan_reply(
        request(
            user("What is the capital of Zubrowka?"), system="The capital of Zubrowka is Lutz."
        ),
        SimConfig(),
    )
    assert "Lutz" in text_of(plan)


def test_auto_chain_falls_back_to_echo() -> None:
    assert text_of(plan_reply(request(user("just saying hi")), SimConfig())) == "just saying hi"


def test_thinking_added_when_requested() -> None:
    plan = plan_reply(
        request(user("hi"), thinking={"type": "enabled", "budget_tokens": 1024}), SimConfig()
    )
    assert plan.blocks[0].kind == "thinking"


async def test_behaviour_selected_per_model_and_per_request(make_client) -> None:
    config = {
        "models": [
            {"id": "echo-model", "behaviour": "echo"},
            {"id": "tmpl", "behaviour": "template"},
        ]
    }
    async with make_client(config) as c:
        echo = (await c.message(model="echo-model", messages=user("What is 2+2?"))).json()
        tmpl = (await c.message(model="tmpl", messages=user("hi"))).json()
        header = (
            await c.message(
                model="tmpl", messages=user("hi"), headers={"x-chorus-behaviour": "echo"}
            )
        ).json()
    assert echo["content"][0]["text"] == "What is 2+2?"
    assert tmpl["content"][0]["text"] == "You said: hi"
    assert header["content"][0]["text"] == "hi"


def test_config_file_errors_are_one_line(tmp_path: Path) -> None:
    from chorus.errors import ConfigError
    from chorus.sim.config import load_config

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"behaviour": "psychic"}))
    with pytest.raises(ConfigError, match="behaviour 'psychic' is not one of"):
        load_config(bad)
    bad.write_text(json.dumps({"latency": {"ttft": "soon"}}))
    with pytest.raises(ConfigError, match=r"\$.latency.ttft"):
        load_config(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid json"):
        load_config(bad)


def test_every_behaviour_is_registered_once_and_known_everywhere() -> None:
    from chorus.errors import ConfigError
    from chorus.sim import config_from_dict, registry

    assert registry.names() == (
        "auto",
        "echo",
        "template",
        "script",
        "tools",
        "recall",
        "summarize",
        "quiz",
    )
    for name in registry.names():
        assert config_from_dict({"behaviour": name}).behaviour == name
    with pytest.raises(ConfigError, match="is not one of auto, echo"):
        config_from_dict({"behaviour": "pirate"})
    with pytest.raises(ValueError, match="not a new"):
        registry.register("echo", lambda request, config: None)
