"""How an agent keeps its context: input limits, compaction, recall. Defaults need no configuration.

Every share is a fraction of the input limit, which is the model's context
window minus the reply's ``max_tokens`` unless ``max_input_tokens`` says otherwise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from chorus.context.recall import BM25, Retriever
from chorus.errors import ConfigError
from chorus.protocol.models import lookup

__all__ = ["ContextPolicy", "context_window"]

_DEFAULT_WINDOW = 200_000


@functools.lru_cache(maxsize=256)
def context_window(model: str) -> int:
    """The model's input limit in tokens, from the model catalogue (200k when unknown)."""
    info = lookup(model)
    return info.context_window if info is not None else _DEFAULT_WINDOW


@dataclass(frozen=True)
class ContextPolicy:
    max_input_tokens: int | None = None  # per call; None: the context window - max_tokens
    compact_at: float = 0.8  # past this share of the limit, fold the oldest turns into a summary
    chunk: float = 0.4  # each compaction folds about this share (older summaries never change)
    summary_share: float = 0.25  # summaries shown; the oldest roll off (recall still reaches them)
    summary_words: int = 200  # asked of the summarizer per chunk
    summary_model: str | None = None  # None: the agent's own model
    recall: int = 3  # evicted exchanges brought back per turn; 0 turns recall off
    recall_share: float = 0.15  # recalled text takes at most this share
    retriever: Retriever = field(default_factory=BM25)
    tool_result_share: float = 0.25  # a longer tool result is cut, with a note, in the window
    pinned: tuple[str, ...] = ()  # facts always shown (after the system prompt)
    compaction: bool = True  # False: only slide the window (and recall, if on)

    def __post_init__(self) -> None:
        limit = self.max_input_tokens
        if limit is not None and (not isinstance(limit, int) or limit < 256):
            raise ConfigError("ContextPolicy(max_input_tokens=...) must be at least 256 tokens")
        for name in ("compact_at", "chunk", "summary_share", "recall_share", "tool_result_share"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 1:
                raise ConfigError(f"ContextPolicy({name}=...) must be a share in (0, 1]")
        if self.chunk >= self.compact_at:
            raise ConfigError("ContextPolicy: chunk must be smaller than compact_at")
        if not isinstance(self.recall, int) or self.recall < 0:
            raise ConfigError("ContextPolicy(recall=...) must be a count >= 0")
        if not isinstance(self.summary_words, int) or self.summary_words < 10:
            raise ConfigError("ContextPolicy(summary_words=...) must be at least 10")
        if isinstance(self.pinned, str) or not all(isinstance(p, str) for p in self.pinned):
            raise ConfigError("ContextPolicy(pinned=...) must be a sequence of strings")

    def input_limit(self, model: str, max_tokens: int) -> int:
        """Input tokens a call may use, by this policy."""
        if self.max_input_tokens is not None:
            return self.max_input_tokens
        return max(256, context_window(model) - max_tokens)
