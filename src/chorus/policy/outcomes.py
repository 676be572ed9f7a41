"""What an attempt's error means: facts for the policies, labels for metrics, fallbacks.

Pure: every function takes an error (and, for ``retry-after`` dates, the wall
clock) and returns a fact; nothing here looks at a clock or a socket.
"""

from __future__ import annotations

import msgspec

from chorus.errors import (
    AddressRefusedError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConnectionCutError,
    DeadlineExceededError,
    ShedError,
    StreamError,
    TLSError,
)
from chorus.policy.retry import Outcome
from chorus.protocol.headers import retry_after

__all__ = ["fallback_worthy", "outcome_label", "outcome_of", "retry_hint"]


def outcome_of(exc: BaseException, *, escaped: bool = False) -> Outcome:
    """Translate an error into the facts the retry policy decides on."""
    if isinstance(exc, APIStatusError):
        code = ""
        body = exc.body
        if exc.status == 429 and isinstance(body, bytes) and b"error_code" in body:
            try:
                details = msgspec.json.decode(body).get("error", {}).get("details") or {}
                code = str(details.get("error_code", ""))
            except (msgspec.DecodeError, AttributeError):
                code = ""
        return Outcome("status", exc.status, exc.headers, exc.type, code, escaped)
    if isinstance(exc, StreamError):
        return Outcome("stream_error", 200, {}, exc.type, escaped=escaped)
    if isinstance(exc, DeadlineExceededError):
        return Outcome("timeout", escaped=True)  # nothing left to retry with
    if isinstance(exc, TLSError | AddressRefusedError):
        return Outcome("tls")  # (a configuration fault either way: never retried)
    if isinstance(exc, ConnectionCutError):
        return Outcome("stream_cut", escaped=escaped)
    if isinstance(exc, APITimeoutError):
        return Outcome("timeout", escaped=escaped)
    if isinstance(exc, APIConnectionError):
        return Outcome("connection", escaped=escaped)
    return Outcome("connection", escaped=True)  # unknown: never retry blindly


def outcome_label(exc: BaseException | None) -> str:
    """A bounded label for metrics."""
    if exc is None:
        return "ok"
    if isinstance(exc, APIStatusError):
        return {429: "rate_limited", 529: "overloaded"}.get(exc.status, str(exc.status))
    if isinstance(exc, StreamError):
        return "stream_error"
    if isinstance(exc, DeadlineExceededError):
        return "deadline"
    if isinstance(exc, ConnectionCutError):
        return "cut"
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, TLSError):
        return "tls"
    if isinstance(exc, AddressRefusedError):
        return "refused"
    if isinstance(exc, APIConnectionError):
        return "connection"
    if isinstance(exc, ShedError):
        return "shed"
    return "error"


def retry_hint(exc: BaseException, *, wall: float) -> float | None:
    """The server's ``retry-after`` on an error response, in seconds (``wall``: epoch now)."""
    if isinstance(exc, APIStatusError):
        return retry_after(exc.headers, now=wall)
    return None


def fallback_worthy(exc: BaseException) -> bool:
    """Would another model do better? Only when this one is unavailable, not when we erred."""
    if isinstance(exc, ShedError):
        return exc.reason in ("breaker_open", "throttled", "rate_limit_wait")
    if isinstance(exc, DeadlineExceededError | TLSError | AddressRefusedError):
        return False
    if isinstance(exc, APIStatusError):
        return exc.status == 429 or exc.status >= 500
    if isinstance(exc, StreamError):
        return exc.type in ("overloaded_error", "api_error")
    return isinstance(exc, APIConnectionError)
