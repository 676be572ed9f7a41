"""Context that is never lost: token-limited windows, compaction, recall, prompt-cache layout.

Everything here is pure except :meth:`ContextManager.prepare`, which awaits an
injected summarizer.
"""

from chorus.context.cache import with_cache_breakpoints
from chorus.context.compaction import ContextState, Summary
from chorus.context.manager import ContextManager, Layout
from chorus.context.policy import ContextPolicy
from chorus.context.recall import BM25, Retriever
from chorus.context.tokens import TokenEstimator
from chorus.context.window import ContextOverflowError, Window, estimate_message, exchanges, fit

__all__ = [
    "BM25",
    "ContextManager",
    "ContextOverflowError",
    "ContextPolicy",
    "ContextState",
    "Layout",
    "Retriever",
    "Summary",
    "TokenEstimator",
    "Window",
    "estimate_message",
    "exchanges",
    "fit",
    "with_cache_breakpoints",
]
