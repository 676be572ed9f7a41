"""Rate limits as the API applies them: continuously refilled token buckets (reference §6.4).

Per model (or per ``"*"`` for all models together) there are three buckets:
requests, input tokens and output tokens per minute, each refilled at
``limit / 60`` per second up to its limit. Every Messages response carries
their state in ``anthropic-ratelimit-*`` headers; an over-limit request gets a
429 whose ``retry-after`` is the whole seconds until it would fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chorus.policy.ratelimit import TokenBucket
from chorus.protocol.headers import format_reset
from chorus.sim.config import RateLimitConfig

__all__ = ["Limiter"]


@dataclass(slots=True)
class Refusal:
    retry_after: int
    message: str


_NAMES = {"requests": "requests", "input": "input tokens", "output": "output tokens"}


class Limiter:
    """Buckets for one model key."""

    def __init__(self, config: RateLimitConfig, now: float) -> None:
        self.config = config
        self.buckets: dict[str, TokenBucket] = {}
        if config.rpm:
            self.buckets["requests"] = TokenBucket(config.rpm, now)
        if config.itpm:
            self.buckets["input"] = TokenBucket(config.itpm, now)
        if config.otpm:
            self.buckets["output"] = TokenBucket(config.otpm, now)

    def admit(
        self, *, model: str, input_tokens: int, max_tokens: int, now: float
    ) -> Refusal | None:
        """Debit one request, or refuse it without debiting anything."""
        need = {
            "requests": 1.0,
            "input": float(input_tokens),
            "output": float(max_tokens if self.config.output_estimate == "max_tokens" else 1),
        }
        worst, which = 0.0, ""
        for name, bucket in self.buckets.items():
            wait = bucket.wait_for(need[name], now)
            if wait > worst:
                worst, which = wait, name
        if which:
            bucket = self.buckets[which]
            retry = 60 if math.isinf(worst) else max(1, math.ceil(worst))
            return Refusal(
                retry,
                f"This request would exceed your organization's rate limit of "
                f"{int(bucket.limit):,} {_NAMES[which]} per minute (model: {model}). "
                "You can see the response headers for current usage. Please reduce the prompt "
                "length or the maximum tokens requested, or try again later.",
            )
        for name, bucket in self.buckets.items():
            if name != "output" or self.config.output_estimate == "max_tokens":
                bucket.level -= need[name]
        return None

    def settle_output(self, *, estimated: int, actual: int, now: float) -> None:
        """Charge the output actually generated (or correct the max_tokens estimate)."""
        bucket = self.buckets.get("output")
        if bucket is None:
            return
        bucket.refill(now)
        charged = estimated if self.config.output_estimate == "max_tokens" else 0
        bucket.level = max(-bucket.limit, bucket.level - (actual - charged))

    def headers(self, now: float) -> dict[str, str]:
        out: dict[str, str] = {}
        tightest: tuple[float, TokenBucket] | None = None
        for name, bucket in self.buckets.items():
            bucket.refill(now)
            prefix = f"anthropic-ratelimit-{'requests' if name == 'requests' else name + '-tokens'}"
            remaining = max(0, math.floor(bucket.level))
            if name != "requests":
                remaining = round(remaining, -3)
                share = bucket.level / bucket.limit
                if tightest is None or share < tightest[0]:
                    tightest = (share, bucket)
            out[prefix + "-limit"] = str(int(bucket.limit))
            out[prefix + "-remaining"] = str(remaining)
            out[prefix + "-reset"] = format_reset(bucket.reset_at(now))
        if tightest is not None:
            bucket = tightest[1]
            out["anthropic-ratelimit-tokens-limit"] = str(int(bucket.limit))
            out["anthropic-ratelimit-tokens-remaining"] = str(round(max(0, int(bucket.level)), -3))
            out["anthropic-ratelimit-tokens-reset"] = format_reset(bucket.reset_at(now))
        return out
