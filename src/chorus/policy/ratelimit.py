"""Client-side rate limiting: wait for capacity instead of collecting 429s.

:class:`TokenBucket` is the continuously refilled bucket the API itself uses
(reference §6.1); the simulator enforces limits with the same class.
:class:`ModelLimits` holds the three buckets of one model (requests, input
tokens, output tokens per minute), configured up front or learned from the
``anthropic-ratelimit-*`` headers, and tells a caller how long to wait before
its request fits. It never sleeps: the client does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chorus.protocol.headers import RateLimitInfo

__all__ = ["Grant", "ModelLimits", "TokenBucket"]


class TokenBucket:
    """``limit`` tokens per minute, refilled continuously, never above ``limit``."""

    __slots__ = ("level", "limit", "rate", "stamp")

    def __init__(self, limit: float, now: float, *, level: float | None = None) -> None:
        if limit <= 0:
            raise ValueError("a bucket's limit must be positive")
        self.limit = float(limit)
        self.rate = self.limit / 60.0
        self.level = self.limit if level is None else float(level)
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.limit, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` fits: 0 now, ``inf`` if it never can."""
        self.refill(now)
        if amount <= self.level:
            return 0.0
        if amount > self.limit:
            return math.inf
        return (amount - self.level) / self.rate

    def take(self, amount: float, now: float) -> None:
        """Debit ``amount`` (the level may go negative: debt repaid by refill)."""
        self.refill(now)
        self.level -= amount

    def reset_at(self, now: float) -> float:
        """When the bucket will be full again."""
        self.refill(now)
        return now + max(0.0, self.limit - self.level) / self.rate


@dataclass(slots=True)
class Grant:
    """A reservation: the caller may go after ``wait`` seconds."""

    wait: float
    input_tokens: int
    output_tokens: int


class ModelLimits:
    """Requests, input tokens and output tokens per minute for one model."""

    def __init__(
        self, *, rpm: float = 0, itpm: float = 0, otpm: float = 0, now: float = 0.0
    ) -> None:
        self.requests = TokenBucket(rpm, now) if rpm else None
        self.input = TokenBucket(itpm, now) if itpm else None
        self.output = TokenBucket(otpm, now) if otpm else None
        self.blocked_until = 0.0
        self._spread = 0.0
        self._queued = 0

    @property
    def configured(self) -> bool:
        return bool(self.requests or self.input or self.output)

    def reserve(self, *, input_tokens: int, output_tokens: int, now: float) -> Grant:
        """Reserve capacity for one request, returning how long to wait first.

        The reservation is taken at once (buckets may go into debt), so callers
        that arrive later queue behind it instead of racing for the same tokens.
        """
        wait = 0.0
        if now < self.blocked_until:
            # Release the callers held by a 429 over one more retry-after window, in
            # sixteen steps, so they do not all hit the API in the same instant.
            wait = self.blocked_until - now + (self._queued % 16) / 16 * self._spread
            self._queued += 1
        for bucket, amount in (
            (self.requests, 1.0),
            (self.input, float(input_tokens)),
            (self.output, float(output_tokens)),
        ):
            if bucket is None:
                continue
            bucket.refill(now)
            need = min(amount, bucket.limit)  # a request larger than the limit goes when full
            if need > bucket.level:
                wait = max(wait, (need - bucket.level) / bucket.rate)
        for bucket, amount in (
            (self.requests, 1.0),
            (self.input, float(input_tokens)),
            (self.output, float(output_tokens)),
        ):
            if bucket is not None:
                bucket.take(amount, now)
        return Grant(wait, input_tokens, output_tokens)

    def settle(self, grant: Grant, *, input_tokens: int, output_tokens: int, now: float) -> None:
        """Correct a reservation with what the response actually used."""
        if self.input is not None:
            self.input.take(input_tokens - grant.input_tokens, now)
        if self.output is not None:
            self.output.take(output_tokens - grant.output_tokens, now)

    def cancel(self, grant: Grant, now: float) -> None:
        """Give back a reservation that was never used."""
        for bucket, amount in (
            (self.requests, 1.0),
            (self.input, float(grant.input_tokens)),
            (self.output, float(grant.output_tokens)),
        ):
            if bucket is not None:
                bucket.take(-amount, now)

    def block(self, seconds: float, now: float) -> None:
        """A 429 said to wait: nobody goes before then.

        A 429 arriving while a block holds is the same episode (those requests
        left before the block began) and does not extend it.
        """
        if now < self.blocked_until:
            return
        self.blocked_until = now + seconds
        self._spread = seconds
        self._queued = 0

    def learn(self, info: RateLimitInfo, now: float, wall: float) -> None:
        """Adopt the server's view of the buckets from ``anthropic-ratelimit-*`` headers.

        ``now`` is the limiter's clock, ``wall`` epoch seconds (the headers'
        resets are wall-clock). Learned limits replace configured ones; the
        remaining level is taken when it is lower than ours (other clients
        share the key).
        """
        for name, reported in (
            ("requests", info.requests),
            ("input", info.input_tokens),
            ("output", info.output_tokens),
        ):
            if reported is None or reported.limit <= 0:
                continue
            bucket: TokenBucket | None = getattr(self, name)
            if bucket is None or bucket.limit != reported.limit:
                bucket = TokenBucket(reported.limit, now, level=reported.remaining)
                setattr(self, name, bucket)
            else:
                bucket.refill(now)
                bucket.level = min(bucket.level, float(reported.remaining))
