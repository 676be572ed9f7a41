"""How deeply a decoded JSON value nests: a body nested past a bound is refused at the door,
before any code that walks it (recursively) meets it. Pure."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_DEPTH", "too_deep"]

MAX_DEPTH = 64  # content blocks, tool inputs and JSON-RPC params nest a few levels, not 64


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True if ``value`` has lists or objects nested more than ``limit`` levels deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
