"""The simulator's behaviours by name: the one table every name is checked against.

Each behaviour is registered where it is defined (:mod:`chorus.sim.behaviours`), as the chain
of reply rules it tries in order; configs, the ``x-chorus-behaviour`` header and the server
all read this table, so a name is known everywhere or nowhere. The module imports nothing
of the simulator's, so the config can check names without importing the behaviours.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["chain", "names", "register"]

_CHAINS: dict[str, tuple[Callable[..., Any], ...]] = {}


def register(name: str, *steps: Callable[..., Any]) -> None:
    """Make ``name`` a behaviour: try ``steps`` in order, each ``(request, config)`` returning
    a plan or None to pass; echo answers if all pass."""
    if not isinstance(name, str) or not name or name in _CHAINS:
        raise ValueError(f"behaviour {name!r} is not a new, non-empty name")
    if not steps or not all(callable(s) for s in steps):
        raise ValueError(f"behaviour {name!r} needs one or more reply rules")
    _CHAINS[name] = steps


def chain(name: str) -> tuple[Callable[..., Any], ...] | None:
    """The reply rules of behaviour ``name``, or None when there is no such behaviour."""
    return _CHAINS.get(name)


def names() -> tuple[str, ...]:
    """Every behaviour's name, in the order they were registered."""
    return tuple(_CHAINS)
