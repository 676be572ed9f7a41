"""Every error chorus raises, in one shallow tree.

::

    ChorusError
    ├── ConfigError                    bad configuration or arguments; says what to change
    ├── ProtocolError                  bytes from the API that break the wire protocol
    ├── TranscriptError (ValueError)   a message list the API would refuse (its own wording)
    ├── ToolInputError (ValueError)    the model's tool input does not fit the tool's schema
    ├── ContextOverflowError           even the latest turn, cut down, does not fit the input limit
    ├── RunError                       an agent run stopped before it finished
    │   ├── LimitExceeded              its step, token or cost limit (nothing past it spent)
    │   └── TooManyCorrections         the model kept sending input the tools refuse
    ├── BusFullError                   a team member's inbox stayed full until the deadline
    ├── TaskFailedError                no capable agent could do a team's task
    ├── RemoteAgentError               a remote A2A agent could not be reached, refused a
    │                                  task or failed it
    ├── SessionError                   a conversation could not be read or written
    │   ├── SessionBusyError           another writer holds the session's lease
    │   ├── StaleWriterError           a writer whose lease was taken over tried to commit
    │   └── CorruptTranscriptError     a stored transcript the API would refuse
    └── APIError                       anything the Messages API (or the way to it) answered
        ├── APIConnectionError         no response: refused, reset, DNS
        │   ├── TLSError               certificate or TLS failure: a configuration fault,
        │   │                          never retried
        │   ├── AddressRefusedError    a name resolved to an address chorus may not reach
        │   │                          (the A2A allow-list), never retried
        │   ├── APITimeoutError        no response (or no next event) in time
        │   │   └── DeadlineExceededError   the call's own deadline passed
        │   └── ConnectionCutError     the connection dropped in the middle of a body
        ├── APIStatusError             an HTTP error status with the API's error body
        │   ├── BadRequestError              400 invalid_request_error
        │   │   └── PromptTooLongError       400 "prompt is too long: N tokens > M maximum"
        │   ├── AuthenticationError          401 authentication_error
        │   ├── BillingError                 402 billing_error
        │   ├── PermissionDeniedError        403 permission_error
        │   ├── NotFoundError                404 not_found_error
        │   ├── ConflictError                409 conflict_error
        │   ├── RequestTooLargeError         413 request_too_large
        │   ├── RateLimitError               429 rate_limit_error
        │   └── InternalServerError          >= 500 (api_error, timeout_error)
        │       └── OverloadedError          529 overloaded_error
        ├── StreamError                an ``event: error`` inside a 200 stream
        ├── IncompleteResponseError    a stream failed after output reached the caller;
        │                              carries the partial message
        └── ShedError                  chorus refused the call locally (breaker open,
                                       throttled, queue full, rate-limit wait past the
                                       deadline) to protect the API or the deadline

Signals are not errors and stand outside the tree: a tool raises
:class:`~chorus.agent.tools.ToolRetry` to tell the model what to change (it
becomes an ``is_error`` tool result), and a run that needs a person's approval
ends paused (``stop_reason == "paused"``), not with an exception.

Status errors carry ``status``, ``type``, ``message``, ``request_id`` and the
response headers, so retry decisions and logs never re-parse the body. The
mapping from a response to a class lives here and only here
(:func:`status_error`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AddressRefusedError",
    "AuthenticationError",
    "BadRequestError",
    "BillingError",
    "BusFullError",
    "ChorusError",
    "ConfigError",
    "ConflictError",
    "ConnectionCutError",
    "ContextOverflowError",
    "CorruptTranscriptError",
    "DeadlineExceededError",
    "IncompleteResponseError",
    "InternalServerError",
    "LimitExceeded",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PromptTooLongError",
    "ProtocolError",
    "RateLimitError",
    "RemoteAgentError",
    "RequestTooLargeError",
    "RunError",
    "SessionBusyError",
    "SessionError",
    "ShedError",
    "StaleWriterError",
    "StreamError",
    "TLSError",
    "TaskFailedError",
    "TooManyCorrections",
    "ToolInputError",
    "TranscriptError",
    "error_type_for_status",
    "status_error",
]


class ChorusError(Exception):
    """Root of every error chorus raises on purpose."""


class ConfigError(ChorusError):
    """Invalid configuration or arguments; the message says what to change."""


class ProtocolError(ChorusError):
    """The peer broke the wire protocol (malformed SSE, impossible event order)."""


class TranscriptError(ChorusError, ValueError):
    """A message list the API would refuse; the message is the API's own wording."""


class ToolInputError(ChorusError, ValueError):
    """The model's input does not fit the tool's schema; the message says where and why."""


class ContextOverflowError(ChorusError):
    """Even the latest turn, with its tool results cut down, does not fit the input limit."""


class RunError(ChorusError):
    """An agent run stopped before it finished."""


class LimitExceeded(RunError):
    """A run hit its step, token or cost limit; nothing past the limit was spent."""


class TooManyCorrections(RunError):
    """The model kept sending input the tools refuse; the run stopped."""


class BusFullError(ChorusError):
    """A recipient's inbox stayed full until the message's deadline: the sender is told,
    rather than the inbox growing without end."""


class TaskFailedError(ChorusError):
    """A team's task found no agent that could do it, or every one it was given to failed."""


class RemoteAgentError(ChorusError):
    """A remote A2A agent (a team member served elsewhere) could not be reached, answered
    with an error, or ended its task without completing it; the team re-awards the task."""


class SessionError(ChorusError):
    """A session could not be read or written as asked."""


class SessionBusyError(SessionError):
    """Another writer holds this session; ``retry_after`` says when its lease ends."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StaleWriterError(SessionError):
    """The writer's lease was taken over (fencing token or seq moved on); nothing was written."""


class CorruptTranscriptError(SessionError):
    """A stored transcript breaks the API's rules; the message names the session and the rule."""


class APIError(ChorusError):
    """Something between us and the Messages API failed."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


class APIConnectionError(APIError):
    """No HTTP response arrived: connection refused, reset or unreachable."""


class APITimeoutError(APIConnectionError):
    """No response (or no next event) within the allowed time."""


class TLSError(APIConnectionError):
    """TLS failed (e.g. the certificate did not verify): fix the setup; retrying cannot help."""


class AddressRefusedError(APIConnectionError):
    """A host name resolved to an address the transport was told not to reach (a remote
    A2A agent's name leading to an internal address): nothing was sent, and asking again
    would only be refused again."""


class DeadlineExceededError(APITimeoutError):
    """The call's deadline passed; no further attempt was possible."""


class ConnectionCutError(APIConnectionError):
    """The connection dropped (or went silent) in the middle of a response body."""


class APIStatusError(APIError):
    """The API answered with an error status and an error body."""

    status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type: str,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.status = status
        self.type = type
        self.headers: Mapping[str, str] = headers or {}
        self.body = body

    def __str__(self) -> str:
        rid = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.status} {self.type}: {self.message}{rid}"


class BadRequestError(APIStatusError):
    """400: the request is malformed or not allowed."""


class PromptTooLongError(BadRequestError):
    """400 "prompt is too long": the input exceeds the model's context window."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        match = _PROMPT_TOO_LONG.search(message)
        self.tokens: int | None = int(match.group(1)) if match else None
        self.maximum: int | None = int(match.group(2)) if match else None


class AuthenticationError(APIStatusError):
    """401: missing, invalid or expired credentials."""


class BillingError(APIStatusError):
    """402: a billing or payment problem."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this resource."""


class NotFoundError(APIStatusError):
    """404: unknown model or resource."""


class ConflictError(APIStatusError):
    """409: a concurrent modification."""


class RequestTooLargeError(APIStatusError):
    """413: the body exceeds the size limit."""


class RateLimitError(APIStatusError):
    """429: a rate, acceleration or spend limit was hit."""


class InternalServerError(APIStatusError):
    """5xx: the API failed; usually worth a retry."""


class OverloadedError(InternalServerError):
    """529: the API is overloaded for everyone."""


class StreamError(APIError):
    """An ``event: error`` arrived inside a stream whose HTTP status was 200."""

    def __init__(self, message: str, *, type: str, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)
        self.type = type

    def __str__(self) -> str:
        return f"stream error {self.type}: {self.message}"


class IncompleteResponseError(APIError):
    """A stream failed after part of the reply had reached the caller.

    Retrying blindly would repeat what the caller already has, so the partial
    message is handed over instead (``partial``); the cause is ``__cause__``.
    """

    def __init__(self, message: str, *, partial: Any, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)
        self.partial = partial


class ShedError(APIError):
    """chorus refused the call locally; ``retry_after`` says when trying again makes sense."""

    def __init__(self, message: str, *, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


_PROMPT_TOO_LONG = re.compile(r"prompt is too long: (\d+) tokens > (\d+) maximum")

_CLASS_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: BillingError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: RequestTooLargeError,
    429: RateLimitError,
    529: OverloadedError,
}

_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_STATUS_BY_TYPE: dict[str, int] = {v: k for k, v in _TYPE_BY_STATUS.items()}


def error_type_for_status(status: int) -> str:
    """The API's ``error.type`` for an HTTP status (reference §5.2)."""
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def status_for_error_type(error_type: str) -> int:
    """The HTTP status an error type travels with; 500 for unknown types."""
    return _STATUS_BY_TYPE.get(error_type, 500)


class _ErrorBody(msgspec.Struct):
    type: str
    message: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | None = None
    request_id: str | None = None


_envelope_decoder = msgspec.json.Decoder(_ErrorEnvelope)


def status_error(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> APIStatusError:
    """Build the most specific error for an HTTP error response.

    The class is chosen by status, the ``type`` comes from the body when it
    parses (a proxy may answer with HTML), and ``request_id`` from the body or
    the ``request-id`` header.
    """
    hdrs = headers or {}
    request_id = hdrs.get("request-id")
    error_type = error_type_for_status(status)
    message = ""
    try:
        env = _envelope_decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        message = body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    else:
        if env.error is not None:
            error_type = env.error.type or error_type
            message = env.error.message
        request_id = env.request_id or request_id
    if status == 400 and _PROMPT_TOO_LONG.search(message):
        cls: type[APIStatusError] = PromptTooLongError
    else:
        cls = _CLASS_BY_STATUS.get(status) or (
            InternalServerError if status >= 500 else APIStatusError
        )
    return cls(
        message or error_type,
        status=status,
        type=error_type,
        request_id=request_id,
        headers=hdrs,
        body=body,
    )
