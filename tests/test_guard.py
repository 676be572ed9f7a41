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
    "APIConnectionError",
    "Agent",
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
    "StaleWriterError",
    "ShedError",
    "SimConfig",
    "SimTransport",
    "Simulator",
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
}


def test_public_surface_changes_only_on_purpose() -> None:
    assert set(chorus.__all__) == PUBLIC
    for name in chorus.__all__:
        assert hasattr(chorus, name), name
