"""Rate limits: token buckets per model, headers on every response, 429 with retry-after."""

from __future__ import annotations

from chorus.clock import FakeClock
from chorus.protocol import parse_rate_limits
from chorus.sim.config import RateLimitConfig
from chorus.sim.limits import Limiter

from .conftest import user


async def test_requests_per_minute(make_client) -> None:
    clock = FakeClock()
    async with make_client({"rate_limits": {"*": {"rpm": 2}}}, clock=clock) as c:
        first = await c.message(messages=user("a"))
        assert first.headers["anthropic-ratelimit-requests-limit"] == "2"
        assert first.headers["anthropic-ratelimit-requests-remaining"] == "1"
        await c.message(messages=user("b"))
        refused = await c.message(messages=user("c"))
        assert refused.status == 429
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert "2 requests per minute" in refused.json()["error"]["message"]
        assert refused.headers["retry-after"] == "30"
        assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
        clock.advance(30)
        assert (await c.message(messages=user("d"))).status == 200


async def test_input_tokens_per_minute(make_client) -> None:
    clock = FakeClock()
    async with make_client(
        {"rate_limits": {"claude-sonnet-4-5": {"itpm": 6000}}}, clock=clock
    ) as c:
        ok = await c.message(messages=user("word " * 4000))  # ~5,000 tokens
        assert ok.status == 200
        info = parse_rate_limits(ok.headers)
        assert info.input_tokens is not None and info.input_tokens.limit == 6000
        assert info.input_tokens.remaining % 1000 == 0  # rounded to the thousand
        refused = await c.message(messages=user("word " * 4000))
        assert refused.status == 429
        assert "input tokens per minute" in refused.json()["error"]["message"]
        wait = int(refused.headers["retry-after"])
        assert 30 <= wait <= 60
        clock.advance(wait)
        assert (await c.message(messages=user("word " * 4000))).status == 200
        # Other models have their own buckets (here: none at all).
        other = await c.message(model="claude-haiku-4-5", messages=user("word " * 4000))
        assert other.status == 200
        assert "anthropic-ratelimit-input-tokens-limit" not in other.headers


def test_output_estimate_from_max_tokens_until_settled() -> None:
    """Legacy OTPM: max_tokens is charged up front and corrected when the reply ends."""
    limiter = Limiter(RateLimitConfig(otpm=1000, output_estimate="max_tokens"), now=0.0)
    assert limiter.admit(model="m", input_tokens=10, max_tokens=800, now=0.0) is None
    refused = limiter.admit(model="m", input_tokens=10, max_tokens=800, now=0.0)
    assert refused is not None and "output tokens per minute" in refused.message
    limiter.settle_output(estimated=800, actual=20, now=0.0)
    assert limiter.admit(model="m", input_tokens=10, max_tokens=800, now=0.0) is None


def test_actual_output_is_charged_after_the_reply() -> None:
    limiter = Limiter(RateLimitConfig(otpm=1000), now=0.0)
    assert limiter.admit(model="m", input_tokens=10, max_tokens=4000, now=0.0) is None
    limiter.settle_output(estimated=4000, actual=1000, now=0.0)
    refused = limiter.admit(model="m", input_tokens=10, max_tokens=10, now=0.0)
    assert refused is not None and refused.retry_after == 1


async def test_cache_reads_do_not_count_toward_itpm(make_client) -> None:
    system = [{"type": "text", "text": "fact " * 6000, "cache_control": {"type": "ephemeral"}}]
    clock = FakeClock()
    async with make_client({"rate_limits": {"*": {"itpm": 9000}}}, clock=clock) as c:
        assert (await c.message(system=system, messages=user("a"))).status == 200
        clock.advance(60)  # refill completely
        assert (await c.message(system=system, messages=user("b"))).status == 200
        second = await c.message(system=system, messages=user("c"))
        assert second.status == 200
        assert second.json()["usage"]["cache_read_input_tokens"] > 7000


async def test_limits_are_off_by_default(client) -> None:
    reply = await client.message(messages=user("hi"))
    assert not any(h.startswith("anthropic-ratelimit") for h in reply.headers)
    assert parse_rate_limits(reply.headers).empty
