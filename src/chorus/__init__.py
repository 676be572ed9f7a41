"""chorus: run Claude agents in production.

The public surface is what ``__all__`` lists; a test pins it so it only
changes on purpose.
"""

from chorus.client import Claude, ClientSettings
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
    ShedError,
    StreamError,
)
from chorus.policy.clock import Clock, FakeClock, SystemClock
from chorus.protocol import Accumulator, EventDecoder, Message, Usage, accumulate
from chorus.sim import SimConfig, Simulator

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Accumulator",
    "AuthenticationError",
    "BadRequestError",
    "ChorusError",
    "Claude",
    "ClientSettings",
    "Clock",
    "ConfigError",
    "ConnectionCutError",
    "DeadlineExceededError",
    "EventDecoder",
    "FakeClock",
    "IncompleteResponseError",
    "InternalServerError",
    "Message",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptTooLongError",
    "ProtocolError",
    "RateLimitError",
    "RequestTooLargeError",
    "ShedError",
    "SimConfig",
    "Simulator",
    "StreamError",
    "SystemClock",
    "Usage",
    "__version__",
    "accumulate",
]
