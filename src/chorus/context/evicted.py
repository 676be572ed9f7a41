"""The evicted turns of one conversation, indexed as they are evicted. Pure.

Recall asks, every turn, which old turns mention a word the new prompt names and the window
does not show. Scanning and rendering every evicted turn for that makes a turn cost more the
longer the conversation; this index renders each turn once, when eviction first reaches it,
and keeps a posting list per word, so a lookup costs what the matching turns cost.

A transcript only grows, so turn boundaries found once stay true. The index belongs to one
conversation: it is recognised by the identity of its first message (its bytes, for a
:class:`~chorus.context.history.History`), and rebuilt from scratch if that, or the message
where it stopped, is not the same any more.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from chorus.context.compaction import render
from chorus.context.history import identity
from chorus.context.recall import terms
from chorus.context.window import is_prompt

__all__ = ["CANDIDATES", "EvictedTurns", "rarest_newest"]

CANDIDATES = 16  # evicted turns a lookup hands the retriever, at most


T = TypeVar("T", bound=Hashable)


def rarest_newest(streams: Iterable[Iterable[T]], most: int) -> list[T]:
    """The rule every lookup of old turns follows (this index, and each store's ``search``):
    ``streams`` holds, per word and the rarest word first, the turns that mention it, the
    newest first; the first ``most`` distinct turns they yield are the candidates. A word
    held by few turns names them (a fact said once is always a candidate), while one held by
    hundreds says little about any of them; and a lookup costs the same at turn 20,000 as at
    turn 500. Streams are read lazily: a store's can be queries."""
    found: dict[T, None] = {}
    for stream in streams:
        if len(found) >= most:
            break
        for turn in stream:
            found.setdefault(turn, None)
            if len(found) >= most:
                break
    return list(found)


def _newest(postings: list[int], held: int) -> Iterator[int]:
    """``postings[:held]`` newest first, without copying a long posting list."""
    for i in range(held - 1, -1, -1):
        yield postings[i]


class EvictedTurns:
    """Turns ``[start, end)`` of ``messages[:evicted_end]``, and the words each holds."""

    __slots__ = ("_anchor", "_first", "_scanned", "_starts", "postings", "spans")

    def __init__(self) -> None:
        self._first: object = None  # stands for the first message (see history.identity)
        self._anchor: object = None  # the last message scanned
        self._scanned = 0  # messages looked at for turn starts
        self._starts: list[int] = []  # every turn start found in messages[:_scanned]
        self.spans: list[tuple[int, int]] = []  # complete turns, indexed
        self.postings: dict[str, list[int]] = {}  # word -> indices into spans

    def update(self, messages: Sequence[dict[str, Any]], evicted_end: int) -> None:
        """Index the turns that end at or before ``evicted_end``. Eviction may also reach less
        far than last time (a longer prompt, a new summary): what is indexed stays."""
        scanned = self._scanned
        if (
            not messages
            or self._first is not identity(messages, 0)
            or len(messages) < scanned
            or (scanned and self._anchor is not identity(messages, scanned - 1))
        ):
            self.__init__()  # type: ignore[misc]  # another conversation, or it was rewound
            self._first = identity(messages, 0) if messages else None
            scanned = 0
        if evicted_end <= scanned:
            return
        for i in range(scanned, evicted_end):
            if i == 0 or is_prompt(messages[i]):
                self._starts.append(i)
        self._scanned = evicted_end
        self._anchor = identity(messages, evicted_end - 1)
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

    def _complete(self, evicted_end: int) -> int:
        """How many turns end at or before ``evicted_end`` (the first ones, in order)."""
        return max(0, bisect.bisect_left(self._starts, evicted_end) - 1)

    def complete(self, evicted_end: int) -> list[tuple[int, int]]:
        """The turns of ``messages[:evicted_end]`` but its last, which may be cut short."""
        return self.spans[: self._complete(evicted_end)]

    def tail(self, evicted_end: int) -> tuple[int, int] | None:
        """The last turn of ``messages[:evicted_end]``: not indexed, looked at fresh."""
        k = bisect.bisect_left(self._starts, evicted_end)
        return (self._starts[k - 1], evicted_end) if k else None

    def matching(self, words: set[str], evicted_end: int, most: int = CANDIDATES) -> list[int]:
        """Indices of complete turns (of ``messages[:evicted_end]``) that mention any of
        ``words``, in order: at most ``most`` of them, chosen by :func:`rarest_newest`."""
        limit = self._complete(evicted_end)
        counted = []
        for word in words:
            postings = self.postings.get(word)
            if postings:
                held = bisect.bisect_left(postings, limit)  # postings are in order
                if held:
                    counted.append((held, word, postings))
        counted.sort(key=lambda c: (c[0], c[1]))
        # Newest first without copying a long posting list: by index, from ``held`` down.
        streams = ((postings[i] for i in range(held - 1, -1, -1)) for held, _, postings in counted)
        return sorted(rarest_newest(streams, most))
