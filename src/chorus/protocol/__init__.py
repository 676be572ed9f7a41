"""The Messages API as data: types, SSE decoding, stream folding, headers, transcript rules.

Pure: nothing here reads a socket, sleeps or looks at the clock.
"""

from chorus.protocol.accumulate import Accumulator, accumulate
from chorus.protocol.headers import RateLimitInfo, parse_rate_limits, retry_after, should_retry
from chorus.protocol.sse import EventDecoder, SSEDecoder, SSEFrame, parse_event
from chorus.protocol.transcript import TranscriptError, problems, validate
from chorus.protocol.types import *  # noqa: F403
from chorus.protocol.types import __all__ as _types_all

__all__ = [
    "Accumulator",
    "EventDecoder",
    "RateLimitInfo",
    "SSEDecoder",
    "SSEFrame",
    "TranscriptError",
    "accumulate",
    "parse_event",
    "parse_rate_limits",
    "problems",
    "retry_after",
    "should_retry",
    "validate",
    *_types_all,
]
