"""Context that is never lost: token estimates, windows that fit without breaking pairs. Pure."""

from chorus.context.cache import with_cache_breakpoints
from chorus.context.tokens import TokenEstimator
from chorus.context.window import ContextOverflowError, Window, estimate_message, exchanges, fit

__all__ = [
    "ContextOverflowError",
    "TokenEstimator",
    "Window",
    "estimate_message",
    "exchanges",
    "fit",
    "with_cache_breakpoints",
]
