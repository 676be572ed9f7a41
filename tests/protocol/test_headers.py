"""Server hints in response headers: retry-after, x-should-retry, rate-limit buckets."""

from __future__ import annotations

import calendar

import pytest

from chorus.protocol.headers import (
    Bucket,
    RateLimitInfo,
    format_reset,
    parse_rate_limits,
    retry_after,
    should_retry,
)

# "Wed, 21 Oct 2015 07:28:00 GMT" as epoch seconds.
OCT_21 = 1445412480.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="absent"),
        pytest.param({"retry-after-ms": "1500"}, 1.5, id="ms"),
        pytest.param({"retry-after-ms": "250.5"}, 0.2505, id="ms-fraction"),
        pytest.param({"retry-after-ms": "1500", "retry-after": "9"}, 1.5, id="ms-wins"),
        pytest.param({"retry-after-ms": "soon", "retry-after": "9"}, 9.0, id="garbled-ms-skipped"),
        pytest.param({"retry-after-ms": "nan", "retry-after": "4"}, 4.0, id="nan-ms-skipped"),
        pytest.param({"retry-after-ms": "-20"}, 0.0, id="negative-ms"),
        pytest.param({"retry-after": "30"}, 30.0, id="integer-seconds"),
        pytest.param({"retry-after": "1.25"}, 1.25, id="float-seconds"),
        pytest.param({"retry-after": " 7 "}, 7.0, id="whitespace"),
        pytest.param({"retry-after": "0"}, 0.0, id="zero"),
        pytest.param({"retry-after": "-5"}, 0.0, id="negative-seconds"),
        pytest.param({"retry-after": "garbage"}, None, id="garbage"),
        pytest.param({"retry-after": ""}, None, id="empty"),
        pytest.param({"retry-after": "inf"}, None, id="infinite"),
        pytest.param({"retry-after": "NaN"}, None, id="nan"),
        pytest.param({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 12.5, id="http-date"),
        pytest.param(
            {"retry-after": "Wed, 21 Oct 2015 09:28:10 +0200"}, 22.5, id="http-date-with-offset"
        ),
        pytest.param({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0, id="http-date-past"),
        pytest.param(
            {"retry-after-ms": "100", "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"},
            0.1,
            id="ms-before-date",
        ),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, now=OCT_21 - 12.5) == expected


def test_retry_after_http_date_is_relative_to_now() -> None:
    headers = {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert retry_after(headers, now=OCT_21 - 60) == 60.0
    assert retry_after(headers, now=OCT_21) == 0.0
    assert retry_after(headers, now=OCT_21 + 60) == 0.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-should-retry": "true"}, True),
        ({"x-should-retry": "false"}, False),
        ({}, None),
        ({"x-should-retry": ""}, None),
        ({"x-should-retry": "maybe"}, None),
        ({"x-should-retry": "1"}, None),
        ({"retry-after": "3"}, None),
    ],
)
def test_should_retry(headers: dict[str, str], expected: bool | None) -> None:
    assert should_retry(headers) is expected


# The captured streaming response header set of reference §1.2 (Feb 2025).
CAPTURED = {
    "anthropic-organization-id": "997c7200-d1d1-48e0-9156-c3267149fc5a",
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
    "cache-control": "no-cache",
    "content-type": "text/event-stream; charset=utf-8",
    "request-id": "req_01UBbuBZTAEGvsiW3otqwmYr",
    "server": "cloudflare",
    "transfer-encoding": "chunked",
}


def _epoch(hour: int, minute: int, second: int) -> float:
    return float(calendar.timegm((2025, 2, 24, hour, minute, second)))


def test_parse_rate_limits_of_the_captured_headers() -> None:
    info = parse_rate_limits(CAPTURED)
    assert info == RateLimitInfo(
        requests=Bucket(limit=1000, remaining=999, reset=_epoch(22, 25, 30)),
        input_tokens=Bucket(limit=80000, remaining=78000, reset=_epoch(22, 25, 32)),
        output_tokens=Bucket(limit=16000, remaining=12000, reset=_epoch(22, 25, 47)),
        tokens=Bucket(limit=96000, remaining=90000, reset=_epoch(22, 25, 32)),
    )
    assert not info.empty


def test_format_reset_round_trips_the_captured_resets() -> None:
    info = parse_rate_limits(CAPTURED)
    for name in ("requests", "input-tokens", "output-tokens", "tokens"):
        bucket = getattr(info, name.replace("-", "_"))
        assert bucket.reset is not None
        assert format_reset(bucket.reset) == CAPTURED[f"anthropic-ratelimit-{name}-reset"]


@pytest.mark.parametrize("epoch", [0.0, 1740435930.0, 1740435930.9, 4102444800.0])
def test_format_reset_then_parse_gives_the_whole_second(epoch: float) -> None:
    text = format_reset(epoch)
    assert text.endswith("Z") and "T" in text
    headers = {
        "anthropic-ratelimit-requests-limit": "1",
        "anthropic-ratelimit-requests-remaining": "1",
        "anthropic-ratelimit-requests-reset": text,
    }
    assert parse_rate_limits(headers).requests == Bucket(1, 1, float(int(epoch)))


def test_no_rate_limit_headers_is_empty() -> None:
    info = parse_rate_limits({"content-type": "application/json"})
    assert info == RateLimitInfo()
    assert info.empty


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"anthropic-ratelimit-requests-limit": "50"}, None, id="remaining-missing"),
        pytest.param({"anthropic-ratelimit-requests-remaining": "5"}, None, id="limit-missing"),
        pytest.param(
            {
                "anthropic-ratelimit-requests-limit": "fifty",
                "anthropic-ratelimit-requests-remaining": "5",
            },
            None,
            id="garbled-number",
        ),
        pytest.param(
            {
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "5",
            },
            Bucket(50, 5, None),
            id="no-reset",
        ),
        pytest.param(
            {
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "5",
                "anthropic-ratelimit-requests-reset": "next tuesday",
            },
            Bucket(50, 5, None),
            id="garbled-reset",
        ),
        pytest.param(
            {
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": "2025-02-24T22:25:30+00:00",
            },
            Bucket(50, 0, _epoch(22, 25, 30)),
            id="offset-instead-of-z",
        ),
    ],
)
def test_partial_or_garbled_buckets(headers: dict[str, str], expected: Bucket | None) -> None:
    info = parse_rate_limits(headers)
    assert info.requests == expected
    assert info.tokens is None
    assert info.empty is (expected is None)
