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
