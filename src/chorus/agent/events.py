"""What an agent reports while it works, in order, as typed events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chorus.protocol.types import Usage

__all__ = [
    "AgentEvent",
    "Done",
    "RunResult",
    "TextChunk",
    "ThinkingChunk",
    "ToolCallStarted",
    "ToolInputDelta",
    "ToolResult",
    "TurnCommitted",
    "UsageUpdate",
]


@dataclass(frozen=True, slots=True)
class TextChunk:
    """Text of the reply as it arrives (the wire's ``text_delta``, for the agent's caller)."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingChunk:
    """Extended thinking as it arrives (the wire's ``thinking_delta``)."""

    thinking: str


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolInputDelta:
    id: str
    partial_json: str


@dataclass(frozen=True, slots=True)
class ToolResult:
    id: str
    name: str
    content: Any
    is_error: bool


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    usage: Usage  # totals for the run so far
    cost: float


@dataclass(frozen=True, slots=True)
class TurnCommitted:
    session_id: str
    seq: int  # the session's sequence number after the commit


@dataclass(slots=True)
class RunResult:
    """The outcome of one run (or one session turn)."""

    output: Any  # the structured output, or the final text
    text: str
    stop_reason: str
    messages: list[dict[str, Any]]  # the turn: what the run added to the conversation
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    steps: int = 0
    seq: int | None = None  # set when a session committed the turn
    pending: list[Any] = field(default_factory=list)  # tool calls awaiting approval ("paused")
    paused: dict[str, Any] | None = None  # the run's state, for Agent.resume
    context: Any = None  # the ContextState after this run (summaries, recalls), for the session


@dataclass(frozen=True, slots=True)
class Done:
    result: RunResult


AgentEvent = (
    TextChunk
    | ThinkingChunk
    | ToolCallStarted
    | ToolInputDelta
    | ToolResult
    | UsageUpdate
    | TurnCommitted
    | Done
)
