"""Which committed turns mention a word: the rules every store's ``search`` follows. Pure.

Recall asks the store for old turns that mention a word the new prompt names and the window
does not show. A store keeps, per session, the words of each committed turn (added when the
turn is committed, as :func:`chorus.context.recall.terms` splits its rendered text) and how
many turns hold each word, so a lookup reads only the turns it returns, chosen by
:func:`chorus.context.evicted.rarest_newest`. The first recall of a long session, loaded
cold, renders nothing old.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chorus.context.compaction import render
from chorus.context.recall import terms
from chorus.context.window import is_prompt

__all__ = ["turn_words", "turns_of"]


def turn_words(messages: Sequence[dict[str, Any]]) -> set[str]:
    """The words a turn is found by."""
    return set(terms(render(messages)))


def turns_of(messages: Sequence[dict[str, Any]], offset: int) -> list[tuple[int, int]]:
    """``messages`` (which start at index ``offset`` of the log, at a turn's start) split into
    turns at each new prompt: (start, end) indices into the log."""
    starts = [offset + i for i, m in enumerate(messages) if i == 0 or is_prompt(m)]
    ends = [*starts[1:], offset + len(messages)]
    return list(zip(starts, ends, strict=True))
