"""The error tree and the one place a response becomes an exception (status_error)."""

from __future__ import annotations

import json

import pytest

import chorus.errors as errors
from chorus.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BillingError,
    ChorusError,
    ConfigError,
    ConflictError,
    ConnectionCutError,
    DeadlineExceededError,
    IncompleteResponseError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    PromptTooLongError,
    ProtocolError,
    RateLimitError,
    RequestTooLargeError,
    ShedError,
    StreamError,
    TLSError,
    error_type_for_status,
    status_error,
    status_for_error_type,
)

# status, error.type the API sends with it (reference §5.2), most specific class
STATUS_TABLE = [
    (400, "invalid_request_error", BadRequestError),
    (401, "authentication_error", AuthenticationError),
    (402, "billing_error", BillingError),
    (403, "permission_error", PermissionDeniedError),
    (404, "not_found_error", NotFoundError),
    (409, "conflict_error", ConflictError),
    (413, "request_too_large", RequestTooLargeError),
    (429, "rate_limit_error", RateLimitError),
    (500, "api_error", InternalServerError),
    (502, "api_error", InternalServerError),
    (503, "api_error", InternalServerError),
    (504, "timeout_error", InternalServerError),
    (529, "overloaded_error", OverloadedError),
    (418, "invalid_request_error", APIStatusError),
]


def body(error_type: str, message: str, request_id: str | None = None) -> bytes:
    payload: dict = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id is not None:
        payload["request_id"] = request_id
    return json.dumps(payload).encode()


@pytest.mark.parametrize(("status", "error_type", "cls"), STATUS_TABLE)
def test_status_error_with_the_api_body(
    status: int, error_type: str, cls: type[APIStatusError]
) -> None:
    raw = body(error_type, f"something {status}", "req_011CSHoEeqs5C35K2UUqR7Fy")
    headers = {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy", "retry-after": "3"}
    err = status_error(status, raw, headers)
    assert type(err) is cls
    assert err.status == status
    assert err.type == error_type
    assert err.message == f"something {status}"
    assert err.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert err.headers == headers
    assert err.body == raw
    assert str(err) == (
        f"{status} {error_type}: something {status} (request req_011CSHoEeqs5C35K2UUqR7Fy)"
    )


@pytest.mark.parametrize(("status", "error_type", "cls"), STATUS_TABLE)
def test_status_error_request_id_from_the_header(
    status: int, error_type: str, cls: type[APIStatusError]
) -> None:
    err = status_error(status, body(error_type, "x"), {"request-id": "req_from_header"})
    assert type(err) is cls
    assert err.request_id == "req_from_header"


@pytest.mark.parametrize(("status", "error_type", "cls"), STATUS_TABLE)
def test_status_error_with_an_empty_body(
    status: int, error_type: str, cls: type[APIStatusError]
) -> None:
    err = status_error(status, b"")
    assert type(err) is cls
    assert err.type == error_type
    assert err.message == f"HTTP {status}"
    assert err.request_id is None
    assert err.headers == {}


def test_body_request_id_wins_over_the_header() -> None:
    err = status_error(429, body("rate_limit_error", "slow down", "req_body"), {"request-id": "h"})
    assert err.request_id == "req_body"


def test_type_comes_from_the_body_and_class_from_the_status() -> None:
    # A mid-stream-style type at an unusual status: the class still follows the status.
    err = status_error(500, body("overloaded_error", "Overloaded"))
    assert type(err) is InternalServerError
    assert err.type == "overloaded_error"
    spend = status_error(
        429,
        json.dumps(
            {
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "You have reached your API usage limits",
                    "details": {"error_code": "enforced_spend_limit_reached"},
                },
            }
        ).encode(),
    )
    assert type(spend) is RateLimitError
    assert spend.message == "You have reached your API usage limits"


def test_non_json_body_from_a_proxy() -> None:
    html = (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
        b"<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
        b"<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n" + b" " * 300
    )
    err = status_error(502, html, {"request-id": "req_edge", "content-type": "text/html"})
    assert type(err) is InternalServerError
    assert err.type == "api_error"
    assert err.message.startswith("<html>")
    assert "502 Bad Gateway" in err.message
    assert err.message == err.message.strip()
    assert err.request_id == "req_edge"
    assert err.body == html


def test_long_non_json_body_is_cut_for_the_message() -> None:
    err = status_error(503, b"x" * 5000)
    assert err.message == "x" * 200
    assert len(err.body) == 5000


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"detail": "not our shape"}', id="no-error-key"),
        pytest.param(b'{"type": "error", "error": null}', id="null-error"),
    ],
)
def test_json_body_without_an_error_object(raw: bytes) -> None:
    err = status_error(404, raw, {"request-id": "req_1"})
    assert type(err) is NotFoundError
    assert err.type == "not_found_error"
    assert err.message == "not_found_error"
    assert err.request_id == "req_1"


def test_json_body_of_the_wrong_shape_is_kept_as_text() -> None:
    err = status_error(400, b"[1, 2, 3]")
    assert type(err) is BadRequestError
    assert err.type == "invalid_request_error"
    assert err.message == "[1, 2, 3]"


def test_prompt_too_long() -> None:
    raw = body("invalid_request_error", "prompt is too long: 213021 tokens > 200000 maximum")
    err = status_error(400, raw, {"request-id": "req_big"})
    assert type(err) is PromptTooLongError
    assert isinstance(err, BadRequestError)
    assert err.tokens == 213021
    assert err.maximum == 200000
    assert err.type == "invalid_request_error"
    assert err.request_id == "req_big"


def test_prompt_too_long_wording_at_another_status_is_not_special() -> None:
    err = status_error(413, body("request_too_large", "prompt is too long: 5 tokens > 4 maximum"))
    assert type(err) is RequestTooLargeError


def test_other_bad_requests_are_plain() -> None:
    err = status_error(400, body("invalid_request_error", "max_tokens: Field required"))
    assert type(err) is BadRequestError


def test_prompt_too_long_without_numbers() -> None:
    err = PromptTooLongError("prompt is too long", status=400, type="invalid_request_error")
    assert (err.tokens, err.maximum) == (None, None)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(status, error_type) for status, error_type, _ in STATUS_TABLE]
    + [(422, "invalid_request_error"), (599, "api_error"), (501, "api_error")],
)
def test_error_type_for_status(status: int, expected: str) -> None:
    assert error_type_for_status(status) == expected


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        ("invalid_request_error", 400),
        ("rate_limit_error", 429),
        ("overloaded_error", 529),
        ("timeout_error", 504),
        ("api_error", 500),
        ("brand_new_error", 500),
    ],
)
def test_status_for_error_type(error_type: str, status: int) -> None:
    assert status_for_error_type(error_type) == status


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (ConfigError, ChorusError),
        (ProtocolError, ChorusError),
        (APIError, ChorusError),
        (APIConnectionError, APIError),
        (TLSError, APIConnectionError),
        (APITimeoutError, APIConnectionError),
        (DeadlineExceededError, APITimeoutError),
        (ConnectionCutError, APIConnectionError),
        (APIStatusError, APIError),
        (BadRequestError, APIStatusError),
        (PromptTooLongError, BadRequestError),
        (AuthenticationError, APIStatusError),
        (BillingError, APIStatusError),
        (PermissionDeniedError, APIStatusError),
        (NotFoundError, APIStatusError),
        (ConflictError, APIStatusError),
        (RequestTooLargeError, APIStatusError),
        (RateLimitError, APIStatusError),
        (InternalServerError, APIStatusError),
        (OverloadedError, InternalServerError),
        (StreamError, APIError),
        (IncompleteResponseError, APIError),
        (ShedError, APIError),
    ],
)
def test_the_tree_in_the_module_docstring(child: type, parent: type) -> None:
    assert child.__bases__ == (parent,)
    assert child.__name__ in (errors.__doc__ or "")


def test_everything_exported_exists() -> None:
    for name in errors.__all__:
        assert hasattr(errors, name), name


def test_stream_error_and_friends_carry_their_facts() -> None:
    stream = StreamError("Overloaded", type="overloaded_error", request_id="req_s")
    assert (stream.type, stream.message, stream.request_id) == (
        "overloaded_error",
        "Overloaded",
        "req_s",
    )
    assert not isinstance(stream, APIStatusError)
    partial = object()
    incomplete = IncompleteResponseError("cut", partial=partial, request_id="req_i")
    assert incomplete.partial is partial
    assert incomplete.request_id == "req_i"
    shed = ShedError("breaker open", reason="breaker_open", retry_after=2.5)
    assert (shed.reason, shed.retry_after, shed.request_id) == ("breaker_open", 2.5, None)
    status = APIStatusError("boom", status=418, type="invalid_request_error")
    assert str(status) == "418 invalid_request_error: boom"
