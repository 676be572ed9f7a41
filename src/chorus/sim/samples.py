"""How many times the simulator has seen a request before: the sample number of a repeat.

A real model asked the same thing twice at a temperature above zero may answer differently;
self-consistency (asking again and voting) depends on it. The simulator's answers are
seeded by what a request says, so without this every repeat would be a copy. The count is
kept per body, for the most recent bodies only: memory stays bounded.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import msgspec

__all__ = ["Samples"]


class Samples:
    """``seen(body)``: 0 the first time a body arrives, 1 the second, and so on."""

    def __init__(self, memory: int = 65_536) -> None:
        self.memory = memory
        self._counts: OrderedDict[bytes, int] = OrderedDict()

    def seen(self, body: Any) -> int:
        key = hashlib.blake2b(msgspec.json.encode(body), digest_size=12).digest()
        count = self._counts.pop(key, 0)
        self._counts[key] = count + 1
        if len(self._counts) > self.memory:
            self._counts.popitem(last=False)
        return count
