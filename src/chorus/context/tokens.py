"""Token estimates that learn: a fast local estimate, calibrated per model from real ``usage``.

The base estimate (:func:`chorus.context.window.estimate_message`) is cheap and
errs high. Each response's ``usage`` says what the prompt really cost; the
ratio of real to estimated, smoothed per model, scales later estimates, and
the last relative error is kept so it can be reported as a metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from chorus.context.window import estimate_message

__all__ = ["TokenEstimator"]


class TokenEstimator:
    """Estimates a request's input tokens locally, calibrated by what the API counted."""

    def __init__(
        self,
        base: Callable[[dict[str, Any]], int] = estimate_message,
        *,
        alpha: float = 0.2,
        margin: float = 1.03,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be within (0, 1]")
        self.base = base
        self.alpha = alpha
        self.margin = margin  # stay a little above the learned ratio: overshooting costs a 400
        self.ratio: dict[str, float] = {}
        self.error: dict[str, float] = {}  # last relative error of the calibrated estimate
        self._sums: dict[str, tuple[float, float]] = {}  # decayed (actual, estimated) per model

    def raw(self, messages: Sequence[dict[str, Any]]) -> int:
        return sum(self.base(m) for m in messages)

    def scale(self, model: str) -> float:
        """What a base estimate is multiplied by for ``model`` (1.0 until it has learned)."""
        ratio = self.ratio.get(model)
        return 1.0 if ratio is None else ratio * self.margin

    def estimate(self, messages: Sequence[dict[str, Any]], model: str, *, fixed: int = 0) -> int:
        return math.ceil((self.raw(messages) + fixed) * self.scale(model))

    def observe(self, model: str, *, estimated_raw: int, actual: int) -> None:
        """Learn from a response: ``actual`` is input + cache read + cache write tokens.

        The ratio is of decayed sums (actual over estimated), so a large prompt teaches
        more than a short one, whose count is mostly fixed overhead.
        """
        if estimated_raw <= 0 or actual <= 0:
            return
        calibrated = estimated_raw * self.ratio.get(model, 1.0)
        self.error[model] = (calibrated - actual) / actual
        keep = 1 - self.alpha
        num, den = self._sums.get(model, (0.0, 0.0))
        num, den = num * keep + actual, den * keep + estimated_raw
        self._sums[model] = (num, den)
        self.ratio[model] = num / den
