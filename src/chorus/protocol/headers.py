"""Server hints in response headers: retry delays, retry verdicts, rate-limit state.

Pure functions over a header mapping (keys lower-case, as aiohttp and the
simulator give them). Time is passed in, never read, so a fake clock works.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "Bucket",
    "RateLimitInfo",
    "format_reset",
    "parse_rate_limits",
    "retry_after",
    "should_retry",
]


def retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds the server asks us to wait, or None when it says nothing usable.

    Order as the official SDK reads it (reference §7.4): ``retry-after-ms``
    (float milliseconds), then ``retry-after`` as float seconds, then as an
    HTTP date relative to ``now`` (epoch seconds). Negative waits become 0;
    ``nan`` and ``inf`` are not usable.
    """
    ms = _finite(headers.get("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(0.0, seconds)
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, float(email.utils.mktime_tz(parsed)) - now)


def _finite(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def should_retry(headers: Mapping[str, str]) -> bool | None:
    """The ``x-should-retry`` verdict: True, False, or None when absent or garbled."""
    value = headers.get("x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One rate-limit bucket as the server reported it."""

    limit: int
    remaining: int
    reset: float | None  # epoch seconds when fully replenished


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    requests: Bucket | None = None
    input_tokens: Bucket | None = None
    output_tokens: Bucket | None = None
    tokens: Bucket | None = None

    @property
    def empty(self) -> bool:
        return not (self.requests or self.input_tokens or self.output_tokens or self.tokens)


def parse_rate_limits(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read every ``anthropic-ratelimit-*`` bucket present; garbled ones are skipped."""
    return RateLimitInfo(
        requests=_bucket(headers, "requests"),
        input_tokens=_bucket(headers, "input-tokens"),
        output_tokens=_bucket(headers, "output-tokens"),
        tokens=_bucket(headers, "tokens"),
    )


def _bucket(headers: Mapping[str, str], name: str) -> Bucket | None:
    prefix = f"anthropic-ratelimit-{name}-"
    limit = headers.get(prefix + "limit")
    remaining = headers.get(prefix + "remaining")
    if limit is None or remaining is None:
        return None
    try:
        lim, rem = int(limit), int(remaining)
    except ValueError:
        return None
    return Bucket(lim, rem, _parse_rfc3339(headers.get(prefix + "reset")))


def _parse_rfc3339(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def format_reset(epoch: float) -> str:
    """RFC 3339 in UTC with second precision, as the API formats ``*-reset``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
