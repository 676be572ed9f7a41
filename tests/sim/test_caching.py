"""Prompt caching: breakpoints write, later identical prefixes read, TTLs expire (reference §9)."""

from __future__ import annotations

from typing import Any

from chorus.clock import FakeClock

from .conftest import user

LONG = "The reference manual says many things about many topics. " * 200  # ~2,900 tokens
EPHEMERAL = {"type": "ephemeral"}


def cached_system(text: str = LONG, **cc: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": dict(EPHEMERAL, **cc)}]


async def test_write_then_read(make_client) -> None:
    async with make_client() as c:
        first = (await c.message(system=cached_system(), messages=user("question one"))).json()[
            "usage"
        ]
        second = (await c.message(system=cached_system(), messages=user("question two"))).json()[
            "usage"
        ]
    assert first["cache_creation_input_tokens"] > 1024
    assert first["cache_read_input_tokens"] == 0
    assert (
        first["cache_creation"]["ephemeral_5m_input_tokens"] == first["cache_creation_input_tokens"]
    )
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]
    assert second["cache_creation_input_tokens"] == 0
    assert second["input_tokens"] == first["input_tokens"]  # only the uncached tail
    total_first = sum(
        first[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    total_second = sum(
        second[k]
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    assert total_first == total_second


async def test_short_prompts_are_silently_not_cached(make_client) -> None:
    async with make_client() as c:
        for _ in range(2):
            usage = (await c.message(system=cached_system("short"), messages=user("q"))).json()[
                "usage"
            ]
            assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0


async def test_minimum_is_per_model(make_client) -> None:
    text = "word " * 6000  # ~7,500 tokens: above Sonnet 4.5's 1,024
    config = {
        "models": [
            {"id": "m-small", "cache_min_tokens": 10_000},
            {"id": "m-big", "cache_min_tokens": 1024},
        ]
    }
    async with make_client(config) as c:
        small = (
            await c.message(model="m-small", system=cached_system(text), messages=user("q"))
        ).json()
        big = (
            await c.message(model="m-big", system=cached_system(text), messages=user("q"))
        ).json()
    assert small["usage"]["cache_creation_input_tokens"] == 0
    assert big["usage"]["cache_creation_input_tokens"] > 0


async def test_ttl_expires_and_hits_refresh(make_client) -> None:
    clock = FakeClock()
    async with make_client(clock=clock) as c:
        await c.message(system=cached_system(), messages=user("a"))
        clock.advance(299)
        hit = (await c.message(system=cached_system(), messages=user("b"))).json()["usage"]
        assert hit["cache_read_input_tokens"] > 0
        clock.advance(299)  # refreshed by the hit: still alive 598 s after the write
        again = (await c.message(system=cached_system(), messages=user("c"))).json()["usage"]
        assert again["cache_read_input_tokens"] > 0
        clock.advance(301)
        miss = (await c.message(system=cached_system(), messages=user("d"))).json()["usage"]
        assert miss["cache_read_input_tokens"] == 0
        assert miss["cache_creation_input_tokens"] > 0


async def test_one_hour_ttl(make_client) -> None:
    clock = FakeClock()
    async with make_client(clock=clock) as c:
        first = (await c.message(system=cached_system(ttl="1h"), messages=user("a"))).json()[
            "usage"
        ]
        assert first["cache_creation"]["ephemeral_1h_input_tokens"] > 0
        clock.advance(1800)
        later = (await c.message(system=cached_system(ttl="1h"), messages=user("b"))).json()[
            "usage"
        ]
        assert later["cache_read_input_tokens"] > 0


async def test_changing_tools_invalidates_system_cache(make_client) -> None:
    tool = {"name": "t", "input_schema": {"type": "object"}}
    other = {"name": "u", "input_schema": {"type": "object"}}
    async with make_client() as c:
        await c.message(tools=[tool], system=cached_system(), messages=user("a"))
        same = (await c.message(tools=[tool], system=cached_system(), messages=user("b"))).json()
        changed = (
            await c.message(tools=[other], system=cached_system(), messages=user("c"))
        ).json()
    assert same["usage"]["cache_read_input_tokens"] > 0
    assert changed["usage"]["cache_read_input_tokens"] == 0


async def test_growing_conversation_reads_earlier_breakpoint(make_client) -> None:
    """A moving breakpoint on the last turn reads the prefix written by the previous turn."""
    history: list[dict[str, Any]] = []
    reads = []
    async with make_client() as c:
        for turn in range(4):
            history.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": f"turn {turn}: " + LONG,
                            "cache_control": EPHEMERAL,
                        }
                    ],
                }
            )
            body = (await c.message(messages=history)).json()
            reads.append(body["usage"]["cache_read_input_tokens"])
            history[-1]["content"][0].pop("cache_control")
            history.append({"role": "assistant", "content": body["content"]})
    assert reads[0] == 0
    assert all(r > 0 for r in reads[1:])
    assert reads == sorted(reads)


async def test_lookback_is_twenty_blocks(make_client) -> None:
    blocks = [{"type": "text", "text": f"block {i} " + "x" * 400} for i in range(30)]
    first = [dict(b) for b in blocks[:5]]
    first[-1]["cache_control"] = EPHEMERAL
    near = [dict(b) for b in blocks[:20]]
    near[-1]["cache_control"] = EPHEMERAL
    far = [dict(b) for b in blocks[:30]]
    far[-1]["cache_control"] = EPHEMERAL
    async with make_client({"models": [{"id": "m", "cache_min_tokens": 100}]}) as c:
        await c.message(model="m", messages=[{"role": "user", "content": first}])
        hit = (await c.message(model="m", messages=[{"role": "user", "content": near}])).json()
    async with make_client({"models": [{"id": "m", "cache_min_tokens": 100}]}) as c:
        await c.message(model="m", messages=[{"role": "user", "content": first}])
        miss = (await c.message(model="m", messages=[{"role": "user", "content": far}])).json()
    assert hit["usage"]["cache_read_input_tokens"] > 0
    assert miss["usage"]["cache_read_input_tokens"] == 0


async def test_automatic_top_level_cache_control(make_client) -> None:
    async with make_client() as c:
        params = {"messages": user(LONG), "cache_control": EPHEMERAL}
        first = (await c.message(**params)).json()["usage"]
        second = (await c.message(**params)).json()["usage"]
    assert first["cache_creation_input_tokens"] > 0
    assert second["cache_read_input_tokens"] == first["cache_creation_input_tokens"]


async def test_entries_visible_only_once_response_begins(make_client) -> None:
    clock = FakeClock()
    async with make_client({"latency": {"ttft": 2.0}}, clock=clock) as c:
        # Both computed at the same virtual instant: the second cannot see the first's write.
        c.sim.clock = clock
        sim = c.sim
        from chorus.sim.tokens import segments

        segs = segments(tools=None, system=cached_system(), messages=user("q"))
        a = sim.cache.apply(
            segs, model="m", min_tokens=1024, now=clock.now(), visible_from=clock.now() + 2
        )
        b = sim.cache.apply(
            segs, model="m", min_tokens=1024, now=clock.now(), visible_from=clock.now() + 2
        )
        clock.advance(2)
        d = sim.cache.apply(
            segs, model="m", min_tokens=1024, now=clock.now(), visible_from=clock.now() + 2
        )
    assert a.written > 0 and b.read == 0 and b.written > 0
    assert d.read == a.written
