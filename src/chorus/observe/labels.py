"""Bounded label values, so a metric's series count cannot grow with its input."""

from __future__ import annotations

__all__ = ["ModelLabels"]


class ModelLabels:
    """The first ``limit`` model names seen are their own label; later ones count as ``other``."""

    def __init__(self, limit: int = 32) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self._seen:
            return name
        if len(self._seen) < self.limit:
            self._seen.add(name)
            return name
        return "other"
