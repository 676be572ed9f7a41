"""Agents: tools from type hints, the pure agent loop and its driver, sessions with atomic turns."""

from chorus.agent.agent import Agent
from chorus.agent.events import (
    AgentEvent,
    Done,
    RunResult,
    TextDelta,
    ThinkingDelta,
    ToolCallStarted,
    ToolInputDelta,
    ToolResult,
    TurnCommitted,
    UsageUpdate,
)
from chorus.agent.loop import BudgetExceeded, Limits, ToolCall, TooManyCorrections
from chorus.agent.session import Session
from chorus.agent.tools import Tool, ToolContext, ToolInputError, ToolRetry, tool

__all__ = [
    "Agent",
    "AgentEvent",
    "BudgetExceeded",
    "Done",
    "Limits",
    "RunResult",
    "Session",
    "TextDelta",
    "ThinkingDelta",
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
