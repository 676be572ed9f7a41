"""Bounded label values, so a metric's series count cannot grow with its input."""

from __future__ import annotations

from typing import Any

__all__ = ["ModelLabels", "children"]


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


class _Children:
    __slots__ = ("_labels", "_seen")

    def __init__(self, metric: Any) -> None:
        self._labels = metric.labels
        self._seen: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._seen.get(values)
        if child is None:
            child = self._seen[values] = self._labels(*values)
        return child


def children(metric: Any) -> Any:
    """``metric.labels``, with each label set's child kept after its first use.

    prometheus_client checks the values and takes a lock on every ``labels()`` call
    (about 3 µs); a served turn made fifteen of them. The label values are bounded (see
    above), so the kept children are too."""
    return _Children(metric)
