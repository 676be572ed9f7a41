"""How a long-running chorus process settles its heap once it has started.

What a server builds at start (apps, routes, config, imported modules) lives as long as the
process, so it is frozen out of the collector's passes; and the passes come rarely, because
a turn or a call makes many short-lived objects and, with the default thresholds, the
collector's frequent full passes over every live session's (or, in the simulator, every
remembered message's) objects were the p99: 100-200 ms pauses at 100 turns/s in
`chorus serve`, 60-170 ms in `chorus sim` (measured by bench/server.py). One setting for both,
so the two are measured alike.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]

THRESHOLDS = (100_000, 50, 100)


def settle() -> None:
    """Collect once, freeze what survives, and set the collector's rare thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
