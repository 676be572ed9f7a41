"""Agents: tools from type hints, the pure agent loop and its driver, sessions with atomic turns."""

from chorus.agent.agent import Agent
from chorus.agent.events import (
    AgentEvent,
    Done,
    RunResult,
    TextChunk,
    ThinkingChunk,
    ToolCallStarted,
    ToolInputDelta,
    ToolResult,
    TurnCommitted,
    UsageUpdate,
)
from chorus.agent.loop import LimitExceeded, Limits, ToolCall, TooManyCorrections
from chorus.agent.session import Session
from chorus.agent.tools import Tool, ToolContext, ToolInputError, ToolRetry, tool

__all__ = [
    "Agent",
    "AgentEvent",
    "Done",
    "LimitExceeded",
    "Limits",
    "RunResult",
    "Session",
    "TextChunk",
    "ThinkingChunk",
    "TooManyCorrections",
    "Tool",
    "ToolCall",
    "ToolCallStarted",
    "ToolContext",
    "ToolInputDelta",
    "ToolInputError",
    "ToolResult",
    "ToolRetry",
    "TurnCommitted",
    "UsageUpdate",
    "tool",
]
