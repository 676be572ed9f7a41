"""Structured logs of model calls: outcomes, timings, request ids; never keys or prompt text."""

from __future__ import annotations

import logging

from chorus.client.middleware import Attempt, CallEnd

__all__ = ["LogObserver"]


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
