"""Per-attempt hooks: what metrics and tracing see, once per attempt, inside the retry loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chorus.protocol.types import Usage

__all__ = ["Attempt", "AttemptObserver", "CallEnd"]


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
    def attempt_started(self, attempt: Attempt) -> None: ...

    def attempt_finished(self, attempt: Attempt) -> None: ...

    def call_finished(self, call: CallEnd) -> None: ...

    def breaker_changed(self, model: str, state: str) -> None: ...
