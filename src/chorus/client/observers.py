"""What the client tells observers, once per attempt and once per call, and its own log.

Observers are handed to :class:`~chorus.client.Claude` (``observers=[...]``):
Prometheus metrics live above the client (:mod:`chorus.observe`) and import
these records; nothing here imports them. :class:`LogObserver` is the client's
own structured log, on by default.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from chorus.protocol.types import Usage

__all__ = ["Attempt", "AttemptObserver", "CallEnd", "LogObserver"]

# A library says nothing unless the application configures logging (no last-resort
# printing of retries to stderr).
logging.getLogger("chorus").addHandler(logging.NullHandler())


@dataclass(slots=True)
class Attempt:
    """One try at one model call."""

    model: str
    attempt: int  # 1 for the first try
    stream: bool
    started: float  # monotonic
    # ok | a status | rate_limited | overloaded | connection | timeout | cut | stream_error
    outcome: str = ""
    duration: float = 0.0
    ttft: float | None = None  # seconds to the first content event (streams)
    usage: Usage | None = None
    retry_reason: str = ""  # why another attempt follows ("" if none)
    retry_delay: float = 0.0
    request_id: str | None = None


@dataclass(slots=True)
class CallEnd:
    """A whole call, after its last attempt."""

    model: str
    outcome: str  # ok | error | shed | incomplete
    attempts: int
    duration: float
    rate_limit_wait: float = 0.0


class AttemptObserver(Protocol):
    """What hears every attempt and call of a client (metrics, logs, spans)."""

    def attempt_started(self, attempt: Attempt) -> None: ...

    def attempt_finished(self, attempt: Attempt) -> None: ...

    def call_finished(self, call: CallEnd) -> None: ...

    def breaker_changed(self, model: str, state: str) -> None: ...


class LogObserver:
    """Logs failed attempts at WARNING and finished calls at DEBUG, with ``extra`` fields."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("chorus.client")

    def attempt_started(self, attempt: Attempt) -> None:
        pass

    def attempt_finished(self, attempt: Attempt) -> None:
        if attempt.outcome == "ok":
            return
        self.log.warning(
            "model attempt %s failed: %s%s",
            attempt.attempt,
            attempt.outcome,
            f"; retrying in {attempt.retry_delay:.2f} s ({attempt.retry_reason})"
            if attempt.retry_reason
            else "",
            extra={
                "model": attempt.model,
                "attempt": attempt.attempt,
                "outcome": attempt.outcome,
                "request_id": attempt.request_id,
                "duration": round(attempt.duration, 4),
            },
        )

    def call_finished(self, call: CallEnd) -> None:
        if not self.log.isEnabledFor(logging.DEBUG):
            return  # once per call: skip building the record's arguments
        self.log.debug(
            "model call %s after %d attempt(s) in %.3f s",
            call.outcome,
            call.attempts,
            call.duration,
            extra={"model": call.model, "outcome": call.outcome, "attempts": call.attempts},
        )

    def breaker_changed(self, model: str, state: str) -> None:
        self.log.warning("circuit breaker for %s is now %s", model, state, extra={"model": model})
