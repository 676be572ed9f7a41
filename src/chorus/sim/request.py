"""Validate a Messages API request body as the real API does, and hold the result.

Every refusal is a :class:`SimError` carrying the API's status, error type and
wording ("<json.path>: <reason>"), so clients see exactly what they would see
in production. Transcript rules come from :mod:`chorus.protocol.transcript`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from chorus.errors import error_type_for_status
from chorus.protocol import transcript
from chorus.sim.known import KnownMessages
from chorus.sim.models import ModelSpec
from chorus.sim.tokens import Segment, message_segments

__all__ = [
    "API_VERSIONS",
    "Known",
    "MessagesRequest",
    "SimError",
    "known_messages",
    "parse_count_tokens",
    "parse_messages",
]

API_VERSIONS = ("2023-06-01", "2026-10-21")
NEW_VERSION = "2026-10-21"

_MESSAGES_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "metadata",
        "thinking",
        "cache_control",
        "service_tier",
        "output_config",
        "container",
        "inference_geo",
        "speed",
        "context_management",
        "mcp_servers",
        "diagnostics",
    }
)
_COUNT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "cache_control",
        "output_config",
        "speed",
        "mcp_servers",
        "context_management",
    }
)
_SAMPLING = ("temperature", "top_p", "top_k")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


class SimError(Exception):
    """A refusal in the API's own shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type or error_type_for_status(status)
        self.message = message
        self.headers = headers or {}


def bad(message: str) -> SimError:
    return SimError(400, message)


@dataclass(slots=True)
class MessagesRequest:
    model: ModelSpec
    messages: list[dict[str, Any]]
    max_tokens: int
    system: Any = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: dict[str, Any] | None = None
    stream: bool = False
    stop_sequences: list[str] = field(default_factory=list)
    thinking: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None
    # How many identical requests (same body, temperature above 0) came before this one:
    # a real model samples afresh each time, so behaviours may answer a repeat differently.
    sample: int = 0
    # The segments of each message but the last, when they were known already (sim.known).
    earlier: list[list[Segment]] | None = None

    @property
    def wants_thinking(self) -> bool:
        return self.thinking is not None and self.thinking.get("type") in ("enabled", "adaptive")


def parse_messages(
    body: Any, *, version: str, lookup: Any, earlier: list[Known] | None = None
) -> MessagesRequest:
    """Validate a ``POST /v1/messages`` body; ``lookup(name)`` finds a model or None;
    ``earlier``: what is known of each of its messages but the last (``known_messages``)."""
    body = _object(body)
    _fields(body, _MESSAGES_FIELDS, version)
    _require(body, "model")
    _require(body, "messages")
    _require(body, "max_tokens")
    model_name = body["model"]
    if not isinstance(model_name, str) or not 1 <= len(model_name) <= 256:
        raise bad("model: Input should be a valid string")
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise bad("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise bad("max_tokens: Input should be greater than or equal to 1")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad("stream: Input should be a valid boolean")
    messages, system, tools, tool_choice, thinking, counted = _common(body, version, earlier)
    stops = body.get("stop_sequences") or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad("stop_sequences: Input should be a valid list of strings")
    for name in _SAMPLING:
        if name in body:
            value = body[name]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise bad(f"{name}: Input should be a valid number")
            if name == "temperature" and not 0 <= value <= 1:
                raise bad("temperature: Input should be less than or equal to 1")
    if thinking and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise bad(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
            )
        if budget >= max_tokens:
            raise bad("`max_tokens` must be greater than `thinking.budget_tokens`")
    spec = _model(model_name, lookup)
    if max_tokens > spec.max_output_tokens:
        raise bad(
            f"max_tokens: {max_tokens} > {spec.max_output_tokens}, which is the maximum allowed "
            f"number of output tokens for {spec.id}"
        )
    return MessagesRequest(
        model=spec,
        messages=messages,
        max_tokens=max_tokens,
        system=system,
        tools=tools,
        tool_choice=tool_choice,
        stream=stream,
        stop_sequences=stops,
        thinking=thinking,
        cache_control=_cache_control(body.get("cache_control"), "cache_control"),
        earlier=counted,
    )


def parse_count_tokens(
    body: Any, *, version: str, lookup: Any, earlier: list[Known] | None = None
) -> MessagesRequest:
    """Validate a ``POST /v1/messages/count_tokens`` body (no max_tokens, no stream)."""
    body = _object(body)
    _fields(body, _COUNT_FIELDS, version)
    _require(body, "model")
    _require(body, "messages")
    if not isinstance(body["model"], str):
        raise bad("model: Input should be a valid string")
    messages, system, tools, tool_choice, thinking, counted = _common(body, version, earlier)
    spec = _model(body["model"], lookup)
    return MessagesRequest(
        model=spec,
        messages=messages,
        max_tokens=1,
        system=system,
        tools=tools,
        tool_choice=tool_choice,
        thinking=thinking,
        earlier=counted,
    )


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad("Input should be a valid dictionary or object to extract fields from")
    return body


def _fields(body: dict[str, Any], allowed: frozenset[str], version: str) -> None:
    for name in body:
        if name not in allowed or (version == NEW_VERSION and name in _SAMPLING):
            raise bad(f"{name}: Extra inputs are not permitted")


def _require(body: dict[str, Any], name: str) -> None:
    if name not in body:
        raise bad(f"{name}: Field required")


def _model(name: str, lookup: Any) -> ModelSpec:
    spec = lookup(name)
    if spec is None:
        raise SimError(404, f"model: {name}")
    return spec  # type: ignore[no-any-return]


class Known(NamedTuple):
    """What one message comes to on its own, anywhere but last (see sim.known)."""

    outline: transcript.Outline
    segments: list[Segment]
    breakpoints: int  # its blocks with a (valid) cache_control
    new_version_ok: bool  # nothing in it that anthropic-version 2026-10-21 refuses


def _learn(message: dict[str, Any]) -> Known | None:
    outline = transcript.outline(message)
    if outline is None:
        return None
    content = message["content"]
    breakpoints = 0
    if isinstance(content, list):
        for block in content:
            if "cache_control" in block:
                try:
                    _cache_control(block["cache_control"], "")
                except SimError:
                    return None
                breakpoints += 1
    return Known(
        outline,
        message_segments(message, current=False),
        breakpoints,
        _new_version_problem(message, 0) is None,
    )


def known_messages(most: int = 50_000) -> KnownMessages[Known]:
    """A memory of messages seen: ``body, earlier = known.read(raw)``, then
    ``parse_messages(body, ..., earlier=earlier)``."""
    return KnownMessages(_learn, most)


def _common(
    body: dict[str, Any], version: str, known: list[Known] | None = None
) -> tuple[
    list[dict[str, Any]],
    Any,
    list[dict[str, Any]],
    dict[str, Any] | None,
    dict[str, Any] | None,
    list[list[Segment]] | None,
]:
    messages = body["messages"]
    earlier = _known_earlier(messages, version, known)
    if earlier is None:
        found = transcript.problems(messages, first_only=True)
        if found:
            raise bad(found[0])
        if version == NEW_VERSION:
            _new_version_rules(messages)
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list):
            raise bad("system: Input should be a valid string or list")
        for j, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise bad(f"system.{j}.type: Input should be 'text'")
            if not isinstance(block.get("text"), str):
                raise bad(f"system.{j}.text: Field required")
            _cache_control(block.get("cache_control"), f"system.{j}.cache_control")
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise bad("tools: Input should be a valid list")
    names = set()
    for j, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad(f"tools.{j}: Input should be a valid dictionary")
        kind = tool.get("type", "custom")
        name = tool.get("name")
        if kind in ("custom", None):
            if not isinstance(name, str) or not _TOOL_NAME.match(name):
                raise bad(
                    f"tools.{j}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
                )
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise bad(f"tools.{j}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise bad(f"tools.{j}.custom.input_schema.type: Input should be 'object'")
        if name in names:
            raise bad(f"tools: Tool names must be unique. Duplicate: {name}")
        names.add(name)
        _cache_control(tool.get("cache_control"), f"tools.{j}.cache_control")
    tool_choice = body.get("tool_choice")
    if tool_choice is not None:
        if not isinstance(tool_choice, dict) or tool_choice.get("type") not in (
            "auto",
            "any",
            "tool",
            "none",
        ):
            raise bad("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
        if tool_choice["type"] == "tool" and tool_choice.get("name") not in names:
            raise bad(f"tool_choice: Tool '{tool_choice.get('name')}' not found in tools")
        if tool_choice["type"] in ("any", "tool") and not tools:
            raise bad("tool_choice: tools must be provided when tool_choice is any or tool")
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or thinking.get("type") not in (
            "enabled",
            "disabled",
            "adaptive",
        ):
            raise bad("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
        if (
            thinking["type"] != "disabled"
            and tool_choice is not None
            and tool_choice.get("type") in ("any", "tool")
        ):
            raise bad("Thinking may not be enabled when tool_choice forces tool use.")
    breakpoints = sum(1 for t in tools if isinstance(t, dict) and "cache_control" in t)
    if isinstance(system, list):
        breakpoints += sum(1 for b in system if "cache_control" in b)
    first = 0
    if earlier is not None:  # (their markers were checked when they were learned)
        breakpoints += sum(k.breakpoints for k in earlier)
        first = len(earlier)
    for i in range(first, len(messages)):
        content = messages[i]["content"]
        if isinstance(content, list):
            for j, block in enumerate(content):
                if "cache_control" in block:
                    _cache_control(
                        block["cache_control"], f"messages.{i}.content.{j}.cache_control"
                    )
                    breakpoints += 1
    if breakpoints > 4:
        raise bad(f"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}.")
    segments = [k.segments for k in earlier] if earlier is not None else None
    return messages, system, tools, tool_choice, thinking, segments


def _known_earlier(messages: Any, version: str, known: list[Known] | None) -> list[Known] | None:
    """``known`` (what is known of each message but the last), if the transcript passes
    every rule that way: what spans its messages, and the last one in full. None: check it
    the long way (which also says why it fails)."""
    if known is None or not isinstance(messages, list) or len(known) != len(messages) - 1:
        return None
    last = messages[-1]
    tail = transcript.outline(last, last=True)
    if tail is None or not transcript.sendable([*(k.outline for k in known), tail]):
        return None
    if version == NEW_VERSION and (
        not all(k.new_version_ok for k in known) or _new_version_problem(last, 0) is not None
    ):
        return None
    return known


def _cache_control(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        raise bad(f"{path}.type: Input should be 'ephemeral'")
    if value.get("ttl", "5m") not in ("5m", "1h"):
        raise bad(f"{path}.ttl: Input should be '5m' or '1h'")
    return value


def _new_version_rules(messages: list[dict[str, Any]]) -> None:
    """Validation added by ``anthropic-version: 2026-10-21`` (reference §2.4)."""
    for i, message in enumerate(messages):
        found = _new_version_problem(message, i)
        if found is not None:
            raise bad(found)


def _new_version_problem(message: dict[str, Any], i: int) -> str | None:
    content = message["content"]
    if not isinstance(content, list):
        return None
    for j, block in enumerate(content):
        kind = block.get("type")
        if message["role"] == "assistant" and kind == "document":
            return (
                f"messages.{i}.content.{j}: `document` blocks are not permitted in "
                "assistant messages"
            )
        if message["role"] == "user" and kind == "text" and block.get("citations"):
            return (
                f"messages.{i}.content.{j}.citations: citations are not permitted on "
                "user text blocks"
            )
    return None
