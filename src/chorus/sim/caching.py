"""Prompt caching as the API does it (reference §9).

The cached prefix is the prompt in order tools -> system -> messages, up to and
including a block marked with ``cache_control``. At each breakpoint the cache
looks back up to 20 block boundaries for the longest prefix it already holds;
that part is *read*. The rest up to the last breakpoint is *written*, if the
prefix reaches the model's minimum cacheable length (shorter prompts are
silently not cached). Entries live 5 minutes or 1 hour, refreshed on each hit,
and become visible only once the response that wrote them has begun.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chorus.sim.tokens import Segment

__all__ = ["CacheOutcome", "PromptCache"]

LOOKBACK = 20
_TTL = {"5m": 300.0, "1h": 3600.0}


@dataclass(slots=True)
class CacheOutcome:
    read: int = 0
    written_5m: int = 0
    written_1h: int = 0

    @property
    def written(self) -> int:
        return self.written_5m + self.written_1h


class PromptCache:
    def __init__(self, max_entries: int = 200_000) -> None:
        # digest -> (visible_from, expires_at, ttl seconds)
        self._entries: dict[bytes, tuple[float, float, float]] = {}
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def apply(
        self,
        segments: list[Segment],
        *,
        model: str,
        min_tokens: int,
        now: float,
        visible_from: float,
        auto: dict[str, Any] | None = None,
    ) -> CacheOutcome:
        """Read and write the cache for one request; returns the token split."""
        marks = [i for i, s in enumerate(segments) if s.cache_control is not None]
        ttls = {i: str(segments[i].cache_control.get("ttl", "5m")) for i in marks}  # type: ignore[union-attr]
        if auto is not None and segments:
            last = len(segments) - 1
            if last not in ttls:
                marks.append(last)
                ttls[last] = str(auto.get("ttl", "5m"))
        if not marks:
            return CacheOutcome()

        # Running token count at every block boundary, and the running digest where a
        # lookup or a write may need it: at each breakpoint and the boundaries it looks back
        # over (the rest of a long prompt is only fed to the hash).
        wanted = {k for mark in marks for k in range(max(0, mark - LOOKBACK + 1), mark + 1)}
        h = hashlib.blake2b(model.encode(), digest_size=16)
        digests: dict[int, bytes] = {}
        cumulative: list[int] = []
        total = 0
        for k, seg in enumerate(segments):
            h.update(seg.canonical)
            if k in wanted:
                digests[k] = h.copy().digest()
            total += seg.tokens
            cumulative.append(total)

        hit = -1
        for mark in marks:
            for k in range(mark, max(-1, mark - LOOKBACK), -1):
                if k <= hit:
                    break
                entry = self._entries.get(digests[k])
                if entry is None:
                    continue
                visible, expires, ttl = entry
                if visible <= now < expires:
                    hit = k
                    self._entries[digests[k]] = (visible, now + ttl, ttl)
                    break
        outcome = CacheOutcome(read=cumulative[hit] if hit >= 0 else 0)

        last_mark = max(marks)
        if cumulative[last_mark] < min_tokens or last_mark <= hit:
            return outcome
        done = outcome.read
        for mark in sorted(marks):
            if mark <= hit:
                continue
            ttl_name = ttls[mark]
            ttl = _TTL.get(ttl_name, 300.0)
            if cumulative[mark] >= min_tokens:
                self._store(digests[mark], visible_from, now + ttl, ttl)
            added = cumulative[mark] - done
            if added > 0:
                if ttl_name == "1h":
                    outcome.written_1h += added
                else:
                    outcome.written_5m += added
                done = cumulative[mark]
        return outcome

    def _store(self, digest: bytes, visible: float, expires: float, ttl: float) -> None:
        old = self._entries.get(digest)
        if old is not None and old[1] >= expires:
            return
        if len(self._entries) >= self._max:
            # Drop the oldest-inserted tenth; cheap and bounded.
            for key in list(self._entries)[: self._max // 10]:
                del self._entries[key]
        self._entries[digest] = (visible if old is None else min(old[0], visible), expires, ttl)
