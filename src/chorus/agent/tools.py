"""Tools from plain functions: the JSON schema comes from type hints and the docstring.

::

    @tool
    async def get_weather(city: str, unit: Literal["c", "f"] = "c") -> str:
        \"\"\"Current weather for a city.

        Args:
            city: The city name, e.g. "Paris".
        \"\"\"

Parameters may be primitives, ``Optional``, ``Literal``, enums, lists, dicts,
``TypedDict``, dataclasses, msgspec structs or pydantic models. The model's
input is validated (and converted: an enum value becomes the enum) before the
function runs; a bad input raises :class:`ToolInputError` with a one-line
message the model can act on. A parameter annotated :class:`ToolContext` is
filled in by the agent (idempotency key, session, tool_use id) and is not part
of the schema.

:class:`ToolRetry` is a signal, not an error: raise it to tell the model what
to fix; it becomes a ``tool_result`` with ``is_error`` set.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints, overload

import msgspec

from chorus.errors import ConfigError, ToolInputError

__all__ = ["Tool", "ToolContext", "ToolInputError", "ToolRetry", "tool"]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
F = TypeVar("F", bound=Callable[..., Any])


class ToolRetry(Exception):
    """Raised by a tool to ask the model to try again differently (message goes to the model)."""


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a running tool may know about its call."""

    tool_use_id: str
    idempotency_key: str
    session_id: str | None = None
    agent: str | None = None


@dataclass(frozen=True, slots=True)
class Tool:
    """A callable the model may use: its definition for the API and how to run it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    fn: Callable[..., Any]
    args_type: type[msgspec.Struct] | None = None  # None: the input is passed through whole
    context_param: str | None = None
    pydantic_params: tuple[tuple[str, Any], ...] = ()
    needs_approval: bool = False
    side_effects: bool = False
    timeout: float | None = 60.0
    is_async: bool = field(default=False)

    def definition(self) -> dict[str, Any]:
        """The tool as the Messages API wants it in ``tools=[...]``."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }

    def parse(self, arguments: Any) -> dict[str, Any]:
        """Validate the model's input and return the keyword arguments for the function."""
        if not isinstance(arguments, dict):
            raise ToolInputError(f"{self.name}: input must be a JSON object")
        if self.args_type is None:
            return {"arguments": dict(arguments)}  # validated where the tool lives (e.g. MCP)
        try:
            parsed = msgspec.convert(arguments, self.args_type, strict=False)
        except msgspec.ValidationError as exc:
            raise ToolInputError(f"{self.name}: {_readable(str(exc))}") from None
        kwargs = {name: getattr(parsed, name) for name in self.args_type.__struct_fields__}
        for name, model in self.pydantic_params:
            value = kwargs.get(name)
            if value is None:
                continue
            try:
                kwargs[name] = model.model_validate(value)
            except Exception as exc:  # pydantic.ValidationError, without importing pydantic
                first = str(exc).strip().splitlines()
                raise ToolInputError(
                    f"{self.name}: {name}: {' '.join(first[1:3]).strip()}"
                ) from None
        return kwargs

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> Any:
        """Validate and call the function (sync functions run in a worker thread)."""
        kwargs = self.parse(arguments)
        if self.args_type is None:
            return await self.fn(kwargs["arguments"])
        if self.context_param is not None:
            kwargs[self.context_param] = context
        if self.is_async:
            return await self.fn(**kwargs)
        return await asyncio.to_thread(self.fn, **kwargs)


@overload
def tool(fn: F) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    approval: bool = False,
    side_effects: bool = False,
    timeout: float | None = 60.0,
) -> Callable[[F], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    approval: bool = False,
    side_effects: bool = False,
    timeout: float | None = 60.0,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a :class:`Tool` of a function; use bare or with options.

    ``approval=True`` pauses the agent for a human decision before each call;
    ``side_effects=True`` marks the tool as changing the world (it then gets an
    idempotency key it should honour, and is never retried blindly).
    """

    def build(f: Callable[..., Any]) -> Tool:
        return from_function(
            f,
            name=name,
            description=description,
            approval=approval,
            side_effects=side_effects,
            timeout=timeout,
        )

    return build(fn) if fn is not None else build


def from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    approval: bool = False,
    side_effects: bool = False,
    timeout: float | None = 60.0,
) -> Tool:
    tool_name = name or fn.__name__
    if not _NAME.match(tool_name):
        raise ConfigError(f"tool name {tool_name!r} must match ^[a-zA-Z0-9_-]{{1,128}}$")
    summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ConfigError(f"tool {tool_name}: cannot read type hints: {exc}") from None
    fields: list[tuple[Any, ...]] = []
    context_param = None
    pydantic_params: list[tuple[str, Any]] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(
                f"tool {tool_name}: *args and **kwargs cannot be described to a model"
            )
        annotation = hints.get(param.name)
        if annotation is None:
            raise ConfigError(f"tool {tool_name}: parameter {param.name!r} needs a type hint")
        if annotation is ToolContext or (
            get_origin(annotation) in (Union, types.UnionType)
            and ToolContext in get_args(annotation)
        ):
            context_param = param.name
            continue
        model = _pydantic_model(annotation)
        if model is not None:
            pydantic_params.append((param.name, model))
            optional = model is not annotation
            annotation = dict[str, Any] | None if optional else dict[str, Any]
        if param.default is inspect.Parameter.empty:
            fields.append((param.name, annotation))
        else:
            fields.append((param.name, annotation, param.default))
    try:
        args_type = msgspec.defstruct(
            f"{tool_name}_input", fields, forbid_unknown_fields=True, kw_only=True
        )
        schema = _schema(args_type, arg_docs, pydantic_params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"tool {tool_name}: unsupported parameter type: {exc}") from None
    return Tool(
        name=tool_name,
        description=description or summary or tool_name,
        input_schema=schema,
        fn=fn,
        args_type=args_type,
        context_param=context_param,
        pydantic_params=tuple(pydantic_params),
        needs_approval=approval,
        side_effects=side_effects,
        timeout=timeout,
        is_async=inspect.iscoroutinefunction(fn),
    )


def _schema(
    args_type: type[msgspec.Struct],
    arg_docs: dict[str, str],
    pydantic_params: list[tuple[str, Any]],
) -> dict[str, Any]:
    full = msgspec.json.schema(args_type)
    defs: dict[str, Any] = full.get("$defs", {})
    root_name = full["$ref"].rsplit("/", 1)[1]
    root: dict[str, Any] = defs.pop(root_name)
    root.pop("title", None)
    root.pop("additionalProperties", None)
    props: dict[str, Any] = root.setdefault("properties", {})
    for pname, model in pydantic_params:
        sub = model.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(sub.pop("$defs", {}))
        sub.pop("title", None)
        if pname not in root.get("required", []):
            sub = {"anyOf": [sub, {"type": "null"}], "default": props.get(pname, {}).get("default")}
        props[pname] = sub
    for pname, text in arg_docs.items():
        if pname in props:
            props[pname] = {**props[pname], "description": text}
    if defs:
        root["$defs"] = defs
    root["type"] = "object"
    root.setdefault("required", [])
    return root


def _pydantic_model(annotation: Any) -> Any:
    """The pydantic model behind ``Model`` or ``Model | None``, else None."""
    candidates = [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        candidates = args if len(args) == 1 and len(get_args(annotation)) == 2 else []
    for c in candidates:
        if inspect.isclass(c) and hasattr(c, "model_json_schema") and hasattr(c, "model_validate"):
            return c
    return None


_ARGS_HEADER = re.compile(r"^(Args|Arguments|Parameters|Params):\s*$")
_ARG_LINE = re.compile(r"^\s+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SECTION = re.compile(r"^[A-Z][A-Za-z ]+:\s*$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary (text before any section) and ``Args:`` descriptions (Google style)."""
    lines = doc.splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _ARGS_HEADER.match(lines[i]) and not _SECTION.match(lines[i]):
        summary.append(lines[i])
        i += 1
    current = None
    for line in lines[i:]:
        if _ARGS_HEADER.match(line):
            current = ""
            continue
        if current is None:
            continue
        if line.strip() and not line.startswith((" ", "\t")):
            break  # the next section
        match = _ARG_LINE.match(line)
        if match and (line.startswith("    ") and not line.startswith("        ")):
            current = match.group(1)
            args[current] = match.group(2).strip()
        elif current and line.strip():
            args[current] = (args[current] + " " + line.strip()).strip()
    return " ".join(" ".join(summary).split()), args


def _readable(message: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.days`" as "days: expected int, got str"."""
    match = re.match(r"(.*) - at `\$\.?(.*)`$", message)
    if match:
        text, path = match.groups()
        text = text.replace("`", "")
        return f"{path or 'input'}: {text[0].lower() + text[1:]}"
    return message.replace("`", "")
