"""The suite's network guard and the pinned public surface."""

from __future__ import annotations

import socket

import pytest

import chorus


def test_network_beyond_loopback_is_refused() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s,
        pytest.raises(ConnectionRefusedError, match="loopback only"),
    ):
        s.connect(("10.0.0.1", 80))


PUBLIC = {
    "AddressRefusedError",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Accumulator",
    "Agent",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "BusFullError",
    "Capability",
    "LimitExceeded",
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
    "TaskFailedError",
    "Team",
    "StreamError",
    "SystemClock",
    "TLSError",
    "TooManyCorrections",
    "Tool",
    "ToolContext",
    "ToolInputError",
    "ToolRetry",
    "TranscriptError",
    "Usage",
    "accumulate",
    "simulated_client",
    "tool",
    "__version__",
}


def test_public_surface_changes_only_on_purpose() -> None:
    assert set(chorus.__all__) == PUBLIC
    for name in chorus.__all__:
        assert hasattr(chorus, name), name
