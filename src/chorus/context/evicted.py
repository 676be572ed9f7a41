"""The evicted turns of one conversation, indexed as they are evicted. Pure.

Recall asks, every turn, which old turns mention a word the new prompt names and the window
does not show. Scanning and rendering every evicted turn for that makes a turn cost more the
longer the conversation; this index renders each turn once, when eviction first reaches it,
and keeps a posting list per word, so a lookup costs what the matching turns cost.

A transcript only grows, so turn boundaries found once stay true. The index belongs to one
conversation: it is recognised by the identity of its first message, and rebuilt from
scratch if that, or the message where it stopped, is not the same object any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chorus.context.compaction import render
from chorus.context.recall import terms
from chorus.context.window import is_prompt

__all__ = ["EvictedTurns"]


class EvictedTurns:
    """Turns ``[start, end)`` of ``messages[:evicted_end]``, and the words each holds."""

    __slots__ = ("_anchor", "_first", "_scanned", "_starts", "postings", "spans")

    def __init__(self) -> None:
        self._first: dict[str, Any] | None = None
        self._anchor: dict[str, Any] | None = None  # the last message scanned
        self._scanned = 0  # messages looked at for turn starts
        self._starts: list[int] = []  # every turn start found in messages[:_scanned]
        self.spans: list[tuple[int, int]] = []  # complete turns, indexed
        self.postings: dict[str, list[int]] = {}  # word -> indices into spans

    def update(self, messages: Sequence[dict[str, Any]], evicted_end: int) -> None:
        """Index the turns that end at or before ``evicted_end``."""
        if (
            not messages
            or self._first is not messages[0]
            or self._scanned > evicted_end
            or (self._scanned and self._anchor is not messages[self._scanned - 1])
        ):
            self.__init__()  # type: ignore[misc]  # another conversation, or it was rewound
            self._first = messages[0] if messages else None
        for i in range(self._scanned, evicted_end):
            if i == 0 or is_prompt(messages[i]):
                self._starts.append(i)
        self._scanned = max(self._scanned, evicted_end)
        if evicted_end:
            self._anchor = messages[evicted_end - 1]
        # A turn is complete once the next one has started within the evicted part.
        starts = self._starts
        while len(self.spans) + 1 < len(starts):
            s, e = starts[len(self.spans)], starts[len(self.spans) + 1]
            self._add(render(messages[s:e]), (s, e))

    def _add(self, text: str, span: tuple[int, int]) -> None:
        # The words only: the text is rendered again for the few turns a query matches,
        # so the index holds no second copy of the conversation.
        index = len(self.spans)
        self.spans.append(span)
        for word in set(terms(text)):
            self.postings.setdefault(word, []).append(index)

    def tail(self, messages: Sequence[dict[str, Any]], evicted_end: int) -> tuple[int, int] | None:
        """The last evicted turn, which may still be growing: not indexed, looked at fresh."""
        if not self._starts:
            return None
        start = self._starts[len(self.spans)] if len(self.spans) < len(self._starts) else None
        if start is None or start >= evicted_end:
            return None
        return start, evicted_end

    def matching(self, words: set[str]) -> list[int]:
        """Indices of the complete turns that mention any of ``words``, in order."""
        found: set[int] = set()
        for word in words:
            found.update(self.postings.get(word, ()))
        return sorted(found)
