"""The resilient Claude client: pooled transport, one retry loop, limits, breaker, fallbacks."""

from chorus.client.claude import Claude, ClientSettings, TokenCount
from chorus.client.middleware import Attempt, AttemptObserver, CallEnd
from chorus.client.stream import MessageStream
from chorus.client.transport import AiohttpTransport, Response, Transport

__all__ = [
    "AiohttpTransport",
    "Attempt",
    "AttemptObserver",
    "CallEnd",
    "Claude",
    "ClientSettings",
    "MessageStream",
    "Response",
    "TokenCount",
    "Transport",
]
