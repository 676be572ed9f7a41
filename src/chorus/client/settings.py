"""What a :class:`~chorus.client.Claude` client can be tuned with, and the API's constants.

The defaults are the product: they are sized for the fault rates real traffic
meets (a 429 storm, a burst of 529s, cut streams), not for a quiet API. A call
has up to ``max_retries`` retries within its ``timeout``; the process-wide retry
budget lets retries add at most ``retry_budget_ratio`` of the first attempts
(plus a small reserve), so a total outage is not multiplied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chorus.errors import ConfigError

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "MAX_REQUEST_BYTES",
    "ClientSettings",
    "TokenCount",
    "merged",
]

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"
MAX_REQUEST_BYTES = 32 * 1024 * 1024


class TokenCount(int):
    """``count_tokens`` result: an int, with ``input_tokens`` as the SDK names it."""

    @property
    def input_tokens(self) -> int:
        return int(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """Everything tunable about a :class:`Claude` client, with production defaults.

    ==========================  =========================================================
    ``max_retries``             retries per model per call (8: a call rides out a burst)
    ``backoff_base/cap``        full-jitter backoff when the server gives no hint
    ``max_server_wait``         a ``retry-after`` longer than this fails the call at once
    ``retry_budget_ratio``      retries may add at most this share of first attempts
    ``retry_budget_initial``    the budget's reserve at start (and refilled to, at most,
                                ``retry_budget_max``)
    ``timeout``                 each call's deadline, across all its attempts and waits
    ``rate_limits``             ``{model or "*": {"rpm"|"itpm"|"otpm": n}}``, paced locally
    ``learn_rate_limits``       adopt the ``anthropic-ratelimit-*`` headers' buckets
    ``breaker``                 a circuit breaker per model
    ``adaptive_throttle``       refuse locally while a model refuses most requests
    ``max_in_flight/queue``     concurrent attempts, and calls waiting for one
    ``fallback_models``         tried in order when the model stays unavailable
    ``continue_interrupted``    continue a text reply cut after the caller read part of it
    ==========================  =========================================================
    """

    max_retries: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 4.0
    max_server_wait: float = 60.0
    retry_budget_ratio: float = 0.5
    retry_budget_initial: float = 10.0
    retry_budget_max: float = 200.0
    timeout: float = 120.0
    rate_limits: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    learn_rate_limits: bool = True
    breaker: bool = True
    adaptive_throttle: bool = True
    max_in_flight: int = 1000
    max_queue: int = 10_000
    fallback_models: Sequence[str] = ()
    max_request_bytes: int = MAX_REQUEST_BYTES
    continue_interrupted: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError("max_retries must be 0 or more")
        if self.timeout <= 0:
            raise ConfigError("timeout must be positive (seconds)")
        if self.max_in_flight < 1 or self.max_queue < 0:
            raise ConfigError("max_in_flight must be >= 1 and max_queue >= 0")
        if not 0 <= self.retry_budget_ratio <= 1:
            raise ConfigError("retry_budget_ratio must be within 0..1")
        if not 0 <= self.retry_budget_initial <= self.retry_budget_max:
            raise ConfigError("retry budget needs 0 <= retry_budget_initial <= retry_budget_max")
        for model, limits in self.rate_limits.items():
            unknown = set(limits) - {"rpm", "itpm", "otpm"}
            if unknown:
                raise ConfigError(
                    f"rate_limits[{model!r}]: unknown key {sorted(unknown)[0]!r}; "
                    "use rpm, itpm, otpm"
                )


def merged(settings: ClientSettings | None, options: Mapping[str, Any]) -> ClientSettings:
    """``settings`` with ``options`` laid over it; unknown names are one-line errors."""
    base = (
        {} if settings is None else {n: getattr(settings, n) for n in settings.__dataclass_fields__}
    )
    try:
        return ClientSettings(**{**base, **options})
    except TypeError as exc:
        raise ConfigError(f"Claude(): {exc}") from None
