"""Tools from type hints: schemas, validation, context injection, definition errors."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, Optional, TypedDict

import jsonschema
import msgspec
import pydantic
import pytest

from chorus.agent import ToolContext, ToolInputError, tool
from chorus.errors import ConfigError


class Unit(enum.Enum):
    C = "c"
    F = "f"


class Place(TypedDict):
    city: str
    country: str


@dataclasses.dataclass
class Window:
    days: int = 1


class Filters(msgspec.Struct):
    tags: list[str] = []


class Person(pydantic.BaseModel):
    name: str
    age: int = 30


@tool
async def forecast(
    city: str,
    unit: Literal["c", "f"] = "c",
    days: Optional[int] = None,  # noqa: UP045 - the Optional spelling is part of what is tested
    scale: Unit = Unit.C,
    place: Place | None = None,
    window: Window | None = None,
    filters: Filters | None = None,
    who: Person | None = None,
    extra: dict[str, float] | None = None,
    ctx: ToolContext | None = None,
) -> dict[str, Any]:
    """Weather forecast for a city.

    Longer explanation that is part of the description.

    Args:
        city: The city, e.g. "Paris".
        unit: Celsius or Fahrenheit.
            Continued on a second line.
    """
    return {"city": city, "scale": scale.value, "ctx": ctx.tool_use_id if ctx else None}


def test_schema_from_hints_and_docstring() -> None:
    d = forecast.definition()
    schema = d["input_schema"]
    assert d["name"] == "forecast"
    assert (
        d["description"]
        == "Weather forecast for a city. Longer explanation that is part of the description."
    )
    assert schema["type"] == "object" and schema["required"] == ["city"]
    props = schema["properties"]
    assert props["city"] == {"type": "string", "description": 'The city, e.g. "Paris".'}
    assert props["unit"]["enum"] == ["c", "f"]
    assert props["unit"]["description"] == "Celsius or Fahrenheit. Continued on a second line."
    assert "ctx" not in props
    for valid in (
        {"city": "Oslo"},
        {"city": "Oslo", "days": 3, "scale": "f", "place": {"city": "a", "country": "b"}},
        {"city": "Oslo", "window": {"days": 2}, "filters": {"tags": ["x"]}, "who": {"name": "Ana"}},
    ):
        jsonschema.validate(valid, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"city": "Oslo", "unit": "k"}, schema)


async def test_input_is_validated_and_converted() -> None:
    ctx = ToolContext(tool_use_id="toolu_1", idempotency_key="k")
    result = await forecast.run({"city": "Oslo", "scale": "f", "who": {"name": "Ana"}}, ctx)
    assert result == {"city": "Oslo", "scale": "f", "ctx": "toolu_1"}
    kwargs = forecast.parse(
        {"city": "Oslo", "window": {"days": 4}, "who": {"name": "Bo", "age": 5}}
    )
    assert kwargs["window"] == Window(days=4)
    assert kwargs["who"] == Person(name="Bo", age=5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"city": 3}, "forecast: city: expected str, got int"),
        ({"city": "x", "unit": "k"}, "forecast: unit: invalid enum value 'k'"),
        ({}, "city"),
        ({"city": "x", "colour": "red"}, "unknown field colour"),
        ({"city": "x", "who": {"age": 3}}, "forecast: who"),
        ("not an object", "input must be a JSON object"),
    ],
)
def test_refused_input_says_what_is_wrong_in_one_line(arguments: Any, message: str) -> None:
    with pytest.raises(ToolInputError) as info:
        forecast.parse(arguments)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


async def test_sync_tools_run_off_the_event_loop() -> None:
    import threading

    main = threading.get_ident()

    @tool(name="where", side_effects=True, approval=True, timeout=5)
    def where_am_i(label: str) -> str:
        """Report the thread."""
        return f"{label}:{threading.get_ident() != main}"

    assert where_am_i.needs_approval and where_am_i.side_effects and where_am_i.timeout == 5
    assert await where_am_i.run({"label": "x"}, ToolContext("t", "k")) == "x:True"


def test_definition_errors() -> None:
    with pytest.raises(ConfigError, match="needs a type hint"):

        @tool
        def untyped(x):  # type: ignore[no-untyped-def]
            return x

    with pytest.raises(ConfigError, match=r"\*args"):

        @tool
        def star(*xs: int) -> int:
            return 0

    with pytest.raises(ConfigError, match="must match"):

        @tool(name="bad name")
        def spaced(x: int) -> int:
            return x
