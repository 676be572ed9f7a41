"""A session's history is measured once: each call of a run, and each turn after, measures
only the messages that are new, and lays out exactly what measuring everything would."""

from __future__ import annotations

from typing import Any

from chorus.context import ContextManager, ContextPolicy
from chorus.context.compaction import ContextState
from chorus.context.history import Extended, History, MessageDict

TOOLS = [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}]


def exchange(n: int) -> list[dict[str, Any]]:
    tid = f"toolu_{n:04d}"
    return [
        {"role": "user", "content": f"weather {n}?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": tid, "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tid, "content": "x" * (n % 7)}],
        },
        {"role": "assistant", "content": f"it is {n}"},
    ]


async def layout(manager: ContextManager, messages: Any) -> Any:
    return await manager.prepare(
        messages,
        ContextState(),
        model="claude-sonnet-4-5",
        max_tokens=64,
        prompt_index=len(messages) - 1,
        summarize=None,
        system="s",
        tools=TOOLS,
    )


async def test_each_call_measures_only_what_is_new_and_lays_out_the_same() -> None:
    manager = ContextManager(ContextPolicy())
    measured = 0
    inner = manager._measure

    def counting(message: dict[str, Any]) -> Any:
        nonlocal measured
        measured += 1
        return inner(message)

    manager._measure = counting  # type: ignore[method-assign]
    history = History()
    for n in range(40):
        run = Extended(history, [MessageDict(role="user", content=f"weather {n}?")])
        measured = 0
        got = await layout(manager, run)
        # The prompt, and what the last turn added (four messages), never the history.
        assert measured <= 5, (n, measured)
        fresh = await layout(ContextManager(ContextPolicy()), [*history, *run.added])
        assert got.messages == fresh.messages
        assert (got.tokens, got.raw_tokens) == (fresh.tokens, fresh.raw_tokens)
        history.extend(exchange(n))


async def test_a_cooled_history_lets_go_of_what_was_measured() -> None:
    manager = ContextManager(ContextPolicy())
    history = History(exchange(0) + exchange(1))
    await layout(manager, Extended(history, [MessageDict(role="user", content="?")]))
    assert history.window is not None
    history.cool()
    assert history.window is None
    again = await layout(manager, Extended(history, [MessageDict(role="user", content="?")]))
    assert len(again.messages) == 9


async def test_a_call_is_sent_with_each_messages_own_json_found_without_a_walk(
    monkeypatch: Any,
) -> None:
    """What each history message is sent as (its own JSON) is kept with the window, so a
    call looks up only what is new; prompt caching and the client use it as it is, and
    the body is byte for byte what encoding every message would give."""
    import chorus.context.manager as manager_module
    from chorus.client import Claude
    from chorus.context.cache import with_cache_breakpoints
    from chorus.protocol.sent import SentMessages

    looked_up = 0
    inner = manager_module.sendable

    def counting(message: Any) -> Any:
        nonlocal looked_up
        looked_up += 1
        return inner(message)

    monkeypatch.setattr(manager_module, "sendable", counting)
    engine = Claude(api_key="sk-test", base_url="http://127.0.0.1:9").engine
    manager = ContextManager(ContextPolicy())
    history = History()
    for n in range(30):
        run = Extended(history, [MessageDict(role="user", content=f"weather {n}?")])
        looked_up = 0
        got = await layout(manager, run)
        assert looked_up <= 5, (n, looked_up)  # the prompt and the last turn, never all
        assert type(got.messages) is SentMessages and got.messages.marked is False
        assert [bytes(j) for j in got.messages.json[: len(history)]] == history.encoded()
        request = {"model": "m", "max_tokens": 8, "messages": got.messages, "tools": TOOLS}
        cached = with_cache_breakpoints(request)
        sent = cached["messages"]
        assert type(sent) is SentMessages and sent.json is not None
        plain = {**cached, "messages": [dict(m) for m in sent]}  # (every one encoded anew)
        assert engine.encode_body(cached) == engine.encode_body(plain)
        history.extend(exchange(n))


async def test_a_window_that_slides_is_sent_with_each_messages_own_json_too() -> None:
    """Past its limit with compaction off, the window is a suffix of whole exchanges: the
    same messages, so what each is sent as and its estimate are the ones already kept."""
    from chorus.client import Claude
    from chorus.protocol.sent import SentMessages

    engine = Claude(api_key="sk-test", base_url="http://127.0.0.1:9").engine
    manager = ContextManager(ContextPolicy(max_input_tokens=600, compaction=False, recall=0))
    history = History([m for n in range(60) for m in exchange(n)])
    for n in range(3):
        run = Extended(history, [MessageDict(role="user", content=f"weather {n}?")])
        got = await layout(manager, run)
        assert got.dropped > 0 and not got.truncated  # (it slid)
        assert type(got.messages) is SentMessages and got.messages.json is not None
        fresh = await layout(ContextManager(manager.policy), [*history, *run.added])
        assert list(got.messages) == fresh.messages
        assert (got.tokens, got.raw_tokens) == (fresh.tokens, fresh.raw_tokens)
        request = {"model": "m", "max_tokens": 8, "messages": got.messages}
        plain = {**request, "messages": [dict(x) for x in got.messages]}
        assert engine.encode_body(request) == engine.encode_body(plain)
        history.extend(exchange(100 + n))
