"""chorus: run Claude agents in production.

The public surface is what ``__all__`` lists; a test pins it so it only
changes on purpose.

One vocabulary, used alike in code, metrics, logs and docs:

* **turn**: the data of one exchange in a session: a user prompt and everything up to
  the next one (assistant messages, tool calls and their results), committed whole.
* **run**: one execution of an agent's loop, producing a turn (``Agent.run``,
  ``Agent.stream``, ``Agent.iter``); it ends with a ``Done`` event.
* **step**: one model call within a run (``Limits.max_steps``).
* **call**: one client call (``messages.create``, ``messages.stream``,
  ``messages.count_tokens``), with its deadline, across all its attempts and models.
* **attempt**: one HTTP request of a call; retries and fallbacks are more attempts.
* **session**: a conversation kept in a store, advanced one turn at a time.
* **transcript**: the stored message list of a session; **messages** is the list passed in.
* **limit**: a bound a caller sets: a run's ``Limits`` (steps, tokens, cost: ``LimitExceeded``)
  and a context policy's input tokens per call (``ContextPolicy.max_input_tokens``).
* **budget**: only the retry budget, the share of retries the client may spend
  (``ClientSettings.retry_budget_ratio``).
* **chunk**: what an agent run streams to its caller as it arrives (``TextChunk``);
  **delta** is the wire's word for what the API streams (``text_delta``).
* **tool**, **team**, **bus**, **registry**, **simulator**: as their modules say.
"""

from chorus.agent import Agent, Limits, RunResult, Session, Tool, ToolContext, ToolRetry, tool
from chorus.client import Claude, ClientSettings
from chorus.clock import Clock, FakeClock, SystemClock
from chorus.context import ContextPolicy, ContextState
from chorus.errors import (
    AddressRefusedError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    BusFullError,
    ChorusError,
    ConfigError,
    ConflictError,
    ConnectionCutError,
    ContextOverflowError,
    CorruptTranscriptError,
    DeadlineExceededError,
    IncompleteResponseError,
    InternalServerError,
    LimitExceeded,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    PromptTooLongError,
    ProtocolError,
    RateLimitError,
    RemoteAgentError,
    RequestTooLargeError,
    RunError,
    SessionBusyError,
    SessionError,
    ShedError,
    StaleWriterError,
    StreamError,
    TaskFailedError,
    TLSError,
    ToolInputError,
    TooManyCorrections,
    TranscriptError,
)
from chorus.protocol import Accumulator, EventDecoder, Message, Usage, accumulate
from chorus.sim import SimConfig, SimTransport, Simulator, simulated_client
from chorus.store import MemoryStore, SQLiteStore
from chorus.team import Capability, Team

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Accumulator",
    "AddressRefusedError",
    "Agent",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "BusFullError",
    "Capability",
    "ChorusError",
    "Claude",
    "ClientSettings",
    "Clock",
    "ConfigError",
    "ConflictError",
    "ConnectionCutError",
    "ContextOverflowError",
    "ContextPolicy",
    "ContextState",
    "CorruptTranscriptError",
    "DeadlineExceededError",
    "EventDecoder",
    "FakeClock",
    "IncompleteResponseError",
    "InternalServerError",
    "LimitExceeded",
    "Limits",
    "MemoryStore",
    "Message",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptTooLongError",
    "ProtocolError",
    "RateLimitError",
    "RemoteAgentError",
    "RequestTooLargeError",
    "RunError",
    "RunResult",
    "SQLiteStore",
    "Session",
    "SessionBusyError",
    "SessionError",
    "ShedError",
    "SimConfig",
    "SimTransport",
    "Simulator",
    "StaleWriterError",
    "StreamError",
    "SystemClock",
    "TLSError",
    "TaskFailedError",
    "Team",
    "TooManyCorrections",
    "Tool",
    "ToolContext",
    "ToolInputError",
    "ToolRetry",
    "TranscriptError",
    "Usage",
    "__version__",
    "accumulate",
    "simulated_client",
    "tool",
]
