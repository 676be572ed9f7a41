"""Server hints in headers, and the error taxonomy keyed by status."""

from __future__ import annotations

import pytest

from chorus import errors
from chorus.protocol.headers import format_reset, parse_rate_limits, retry_after, should_retry

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 31 Dec 2025 23:59:00 GMT"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "x", "retry-after": "4"}, 4.0),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("maybe", None), (None, None)]
)
def test_should_retry(value: str | None, expected: bool | None) -> None:
    assert should_retry({"x-should-retry": value} if value else {}) is expected


def test_rate_limit_headers_from_a_real_capture() -> None:
    headers = {
        "anthropic-ratelimit-input-tokens-limit": "80000",
        "anthropic-ratelimit-input-tokens-remaining": "78000",
        "anthropic-ratelimit-input-tokens-reset": "2025-02-24T22:25:32Z",
        "anthropic-ratelimit-output-tokens-limit": "16000",
        "anthropic-ratelimit-output-tokens-remaining": "12000",
        "anthropic-ratelimit-output-tokens-reset": "2025-02-24T22:25:47Z",
        "anthropic-ratelimit-requests-limit": "1000",
        "anthropic-ratelimit-requests-remaining": "999",
        "anthropic-ratelimit-requests-reset": "2025-02-24T22:25:30Z",
        "anthropic-ratelimit-tokens-limit": "96000",
        "anthropic-ratelimit-tokens-remaining": "90000",
        "anthropic-ratelimit-tokens-reset": "2025-02-24T22:25:32Z",
    }
    info = parse_rate_limits(headers)
    assert info.requests is not None and (info.requests.limit, info.requests.remaining) == (
        1000,
        999,
    )
    assert info.input_tokens is not None and info.input_tokens.remaining == 78000
    assert info.output_tokens is not None and info.output_tokens.limit == 16000
    assert info.tokens is not None and info.tokens.limit == 96000
    assert format_reset(info.requests.reset or 0) == "2025-02-24T22:25:30Z"
    assert parse_rate_limits({"anthropic-ratelimit-requests-limit": "x"}).empty


@pytest.mark.parametrize(
    ("status", "cls", "error_type"),
    [
        (400, errors.BadRequestError, "invalid_request_error"),
        (401, errors.AuthenticationError, "authentication_error"),
        (402, errors.BillingError, "billing_error"),
        (403, errors.PermissionDeniedError, "permission_error"),
        (404, errors.NotFoundError, "not_found_error"),
        (409, errors.ConflictError, "conflict_error"),
        (413, errors.RequestTooLargeError, "request_too_large"),
        (429, errors.RateLimitError, "rate_limit_error"),
        (500, errors.InternalServerError, "api_error"),
        (502, errors.InternalServerError, "api_error"),
        (503, errors.InternalServerError, "api_error"),
        (504, errors.InternalServerError, "timeout_error"),
        (529, errors.OverloadedError, "overloaded_error"),
        (418, errors.APIStatusError, "invalid_request_error"),
    ],
)
def test_status_error_classes(status: int, cls: type, error_type: str) -> None:
    body = (
        b'{"type":"error","error":{"type":"%s","message":"boom"},"request_id":"req_body"}'
        % error_type.encode()
    )
    err = errors.status_error(status, body, {"request-id": "req_header"})
    assert type(err) is cls
    assert (err.status, err.type, err.message, err.request_id) == (
        status,
        error_type,
        "boom",
        "req_body",
    )


def test_request_id_from_header_and_non_json_body() -> None:
    err = errors.status_error(502, b"<html>bad gateway</html>", {"request-id": "req_h"})
    assert isinstance(err, errors.InternalServerError)
    assert err.request_id == "req_h" and "bad gateway" in err.message


def test_prompt_too_long_is_parsed() -> None:
    body = (
        b'{"type":"error","error":{"type":"invalid_request_error",'
        b'"message":"prompt is too long: 213021 tokens > 200000 maximum"}}'
    )
    err = errors.status_error(400, body)
    assert isinstance(err, errors.PromptTooLongError)
    assert (err.tokens, err.maximum) == (213021, 200000)
