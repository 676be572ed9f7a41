"""Bring evicted turns back: rank old exchanges against the new prompt. Pure.

A window keeps the latest exchanges verbatim and older ones only as
summaries, which lose detail. The full history stays in the session's store,
so when a new prompt asks about something old, a retriever ranks the evicted
exchanges against it and the best few are shown to the model again, marked as
recalled. :class:`BM25` is built in (no dependencies, deterministic); any
object with the same ``rank`` method (an embedding index, say) can replace it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

__all__ = ["BM25", "Retriever", "terms"]

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")
# Words that carry no topic: a question's "what" or "the" must not pull in every exchange.
_STOP = frozenset(
    """a about above after again all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just know
    me more most my myself no nor not now of off on once only or other our ours out over own
    please recall remember remind same she should so some such tell than that the their theirs
    them then there these they this those through to too under until up very was we were what
    when where which while who whom whose why will with would you your yours
    user assistant""".split()
)


def terms(text: str) -> list[str]:
    """Lower-case words without stop words: what both the index and the query compare."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


class Retriever(Protocol):
    """Ranks evicted turns against a new prompt (BM25 built in; an embedding index fits too)."""

    def rank(self, query: str, documents: Sequence[str], k: int) -> list[tuple[int, float]]:
        """The ``k`` best (document index, score) pairs for ``query``, best first,
        leaving out documents that are not relevant at all."""
        ...


class BM25:
    """Okapi BM25 over the given documents, built per query (documents are few: the evicted
    exchanges of one session), scores normalised to the query's best possible score so that
    ``min_score`` means the same thing for every query."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, min_score: float = 0.5) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError("BM25 needs k1 >= 0 and 0 <= b <= 1")
        self.k1 = k1
        self.b = b
        self.min_score = min_score

    def rank(self, query: str, documents: Sequence[str], k: int) -> list[tuple[int, float]]:
        asked = list(dict.fromkeys(terms(query)))
        if not asked or not documents or k <= 0:
            return []
        bags = [Counter(terms(d)) for d in documents]
        n = len(bags)
        avg = sum(sum(bag.values()) for bag in bags) / n or 1.0
        df = Counter(w for bag in bags for w in asked if w in bag)
        idf = {w: math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5)) for w in asked}
        # What a document of average length holding each query term (that occurs anywhere)
        # once scores. Relative to it, one matching only the common half of a question is low.
        ceiling = sum(idf[w] for w in asked if df[w]) or 1.0
        scored = []
        for i, bag in enumerate(bags):
            length = sum(bag.values())
            score = 0.0
            for w in asked:
                tf = bag.get(w, 0)
                if tf:
                    norm = self.k1 * (1 - self.b + self.b * length / avg)
                    score += idf[w] * tf * (self.k1 + 1) / (tf + norm)
            relative = score / ceiling
            if relative >= self.min_score:
                scored.append((i, relative))
        scored.sort(key=lambda pair: (-pair[1], -pair[0]))  # newer wins a tie
        return scored[:k]
