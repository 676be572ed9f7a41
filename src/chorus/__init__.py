"""chorus: run Claude agents in production.

The public surface is what ``__all__`` lists; a test pins it so it only
changes on purpose.
"""

from chorus.agent import Agent, Limits, RunResult, Session, Tool, ToolContext, ToolRetry, tool
from chorus.client import Claude, ClientSettings
from chorus.clock import Clock, FakeClock, SystemClock
from chorus.context import ContextOverflowError, ContextPolicy, ContextState
from chorus.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ChorusError,
    ConfigError,
    ConnectionCutError,
    DeadlineExceededError,
    IncompleteResponseError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    PromptTooLongError,
    ProtocolError,
    RateLimitError,
    RequestTooLargeError,
    SessionBusyError,
    ShedError,
    StaleWriterError,
    StreamError,
)
from chorus.protocol import Accumulator, EventDecoder, Message, Usage, accumulate
from chorus.sim import SimConfig, SimTransport, Simulator, simulated_client
from chorus.store import MemoryStore, SQLiteStore

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Accumulator",
    "Agent",
    "AuthenticationError",
    "BadRequestError",
    "ChorusError",
    "Claude",
    "ClientSettings",
    "Clock",
    "ConfigError",
    "ConnectionCutError",
    "ContextOverflowError",
    "ContextPolicy",
    "ContextState",
    "DeadlineExceededError",
    "EventDecoder",
    "FakeClock",
    "IncompleteResponseError",
    "InternalServerError",
    "Limits",
    "MemoryStore",
    "Message",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptTooLongError",
    "ProtocolError",
    "RateLimitError",
    "RequestTooLargeError",
    "RunResult",
    "SQLiteStore",
    "Session",
    "SessionBusyError",
    "ShedError",
    "SimConfig",
    "SimTransport",
    "Simulator",
    "StaleWriterError",
    "StreamError",
    "SystemClock",
    "Tool",
    "ToolContext",
    "ToolRetry",
    "Usage",
    "__version__",
    "accumulate",
    "simulated_client",
    "tool",
]
