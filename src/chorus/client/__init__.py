"""The resilient Claude client: pooled transport, one retry loop, admission gates, fallbacks."""

from chorus.client.claude import Claude, ModelState
from chorus.client.engine import Engine
from chorus.client.observers import Attempt, AttemptObserver, CallEnd, LogObserver
from chorus.client.settings import ClientSettings, TokenCount
from chorus.client.stream import MessageStream
from chorus.client.transport import AiohttpTransport, Response, Transport

__all__ = [
    "AiohttpTransport",
    "Attempt",
    "AttemptObserver",
    "CallEnd",
    "Claude",
    "ClientSettings",
    "Engine",
    "LogObserver",
    "MessageStream",
    "ModelState",
    "Response",
    "TokenCount",
    "Transport",
]
