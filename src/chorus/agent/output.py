"""Structured output: the answer arrives as a call to a tool whose schema is the output type.

Object types (msgspec structs, dataclasses, TypedDicts, pydantic models) are the
tool's input as they are; anything else (``int``, ``list[str]``, a ``Literal``)
is wrapped as ``{"value": ...}``. The answer is validated before the run ends;
a refused answer goes back to the model as an error result to correct.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, is_typeddict

import msgspec

from chorus.agent.tools import ToolInputError, _readable
from chorus.errors import ConfigError

__all__ = ["OutputTool"]


class OutputTool:
    name = "final_result"

    def __init__(self, output_type: Any) -> None:
        self.type = output_type
        self.pydantic = inspect.isclass(output_type) and hasattr(output_type, "model_json_schema")
        self.wrapped = not (
            self.pydantic
            or (inspect.isclass(output_type) and issubclass(output_type, msgspec.Struct))
            or dataclasses.is_dataclass(output_type)
            or is_typeddict(output_type)
        )
        try:
            self.schema = self._schema()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"output_type {output_type!r} cannot be described: {exc}") from None

    def _schema(self) -> dict[str, Any]:
        if self.pydantic:
            schema: dict[str, Any] = self.type.model_json_schema()
            schema.pop("title", None)
            return schema
        if self.wrapped:
            inner = msgspec.json.schema(self.type)
            defs = inner.pop("$defs", None)
            schema = {"type": "object", "properties": {"value": inner}, "required": ["value"]}
            if defs:
                schema["$defs"] = defs
            return schema
        full = msgspec.json.schema(self.type)
        defs = full.get("$defs", {})
        root = dict(defs.pop(full["$ref"].rsplit("/", 1)[1]))
        root.pop("title", None)
        if defs:
            root["$defs"] = defs
        return root

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": "Give the final answer. Call this exactly once, when you are done.",
            "input_schema": self.schema,
        }

    def validate(self, arguments: dict[str, Any]) -> Any:
        if self.pydantic:
            try:
                return self.type.model_validate(arguments)
            except Exception as exc:
                errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
                detail = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())) or 'input'}: {e.get('msg')}"
                    for e in errors[:3]
                )
                raise ToolInputError(f"{self.name}: {detail or exc}") from None
        value = arguments.get("value") if self.wrapped else arguments
        if self.wrapped and "value" not in arguments:
            raise ToolInputError(f"{self.name}: value: required")
        try:
            return msgspec.convert(value, self.type, strict=False)
        except msgspec.ValidationError as exc:
            raise ToolInputError(f"{self.name}: {_readable(str(exc))}") from None
