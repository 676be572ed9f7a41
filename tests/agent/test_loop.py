"""The pure agent loop: decisions, stop reasons, budgets, and the always-valid transcript."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.agent.loop import (
    CallModel,
    Finish,
    LimitExceeded,
    Limits,
    Loop,
    Pause,
    RunTools,
    ToolOutcome,
    TooManyCorrections,
    price,
)
from chorus.protocol import transcript
from chorus.protocol.types import Message, TextBlock, ToolUseBlock, Usage


def reply(*blocks: Any, stop: str = "end_turn", out: int = 10) -> Message:
    return Message(
        id="msg",
        model="claude-sonnet-4-5",
        content=list(blocks),
        stop_reason=stop,
        usage=Usage(input_tokens=100, output_tokens=out),
    )


def use(i: int, name: str = "f") -> ToolUseBlock:
    return ToolUseBlock(id=f"toolu_{i}", name=name, input={"x": i})


def start(limits: Limits | None = None, **kw: Any) -> Loop:
    return Loop([{"role": "user", "content": "hi"}], start=0, limits=limits or Limits(), **kw)


def test_text_reply_finishes() -> None:
    loop = start()
    assert loop.next() == CallModel()
    loop.on_message(reply(TextBlock(text="hello")))
    assert loop.next() == Finish("end_turn")
    assert loop.text == "hello"
    assert loop.new_messages == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
    ]


def test_tool_round_trip() -> None:
    loop = start()
    loop.on_message(reply(TextBlock(text="checking"), use(1), use(2), stop="tool_use"))
    action = loop.next()
    assert isinstance(action, RunTools) and [c.id for c in action.calls] == ["toolu_1", "toolu_2"]
    loop.on_tool_results(
        [ToolOutcome("toolu_2", "two"), ToolOutcome("toolu_1", "one", is_error=True)]
    )
    results = loop.messages[-1]["content"]
    assert [r["tool_use_id"] for r in results] == ["toolu_1", "toolu_2"]  # in call order
    assert results[0]["is_error"] is True and "is_error" not in results[1]
    assert loop.next() == CallModel()
    assert transcript.problems(loop.messages) == []


def test_max_tokens_inside_a_tool_use_never_runs_it() -> None:
    loop = start(Limits(max_recoveries=1))
    loop.on_message(reply(TextBlock(text="let me"), use(1), stop="max_tokens"))
    assert loop.next() == CallModel()  # recovery, not RunTools
    assert all(
        b.get("type") != "tool_use"
        for m in loop.messages
        for b in m["content"]
        if isinstance(b, dict)
    )
    assert "was not run" in loop.messages[-1]["content"][-1]["text"]
    assert transcript.problems(loop.messages) == []
    loop.on_message(reply(use(2), stop="max_tokens"))
    assert loop.next() == Finish("max_tokens")  # recoveries are bounded


def test_incomplete_tool_input_is_dropped_too() -> None:
    loop = start()
    loop.on_message(reply(use(1), use(2), stop="tool_use"), incomplete=[1])
    action = loop.next()
    assert isinstance(action, RunTools) is False or [c.id for c in action.calls] == ["toolu_1"]


def test_pause_turn_continues_and_refusal_ends() -> None:
    loop = start()
    loop.on_message(reply(TextBlock(text="working"), stop="pause_turn"))
    assert loop.next() == CallModel()
    loop.on_message(reply(TextBlock(text="no"), stop="refusal"))
    assert loop.next() == Finish("refusal")


def test_step_token_and_cost_budgets() -> None:
    loop = start(Limits(max_steps=2))
    loop.on_message(reply(use(1), stop="tool_use"))
    loop.on_tool_results([ToolOutcome("toolu_1", "ok")])
    loop.on_message(reply(use(2), stop="tool_use"))
    loop.on_tool_results([ToolOutcome("toolu_2", "ok")])
    with pytest.raises(LimitExceeded, match="2 model calls"):
        loop.next()
    tokens = start(Limits(max_tokens_total=100))
    tokens.on_message(reply(use(1), stop="tool_use"))
    tokens.on_tool_results([ToolOutcome("toolu_1", "ok")])
    with pytest.raises(LimitExceeded, match="tokens"):
        tokens.next()
    cost = start(Limits(max_cost=0.0001))
    cost.on_message(reply(use(1), stop="tool_use"))
    cost.on_tool_results([ToolOutcome("toolu_1", "ok")])
    with pytest.raises(LimitExceeded, match=r"\$"):
        cost.next()


def test_corrections_are_bounded() -> None:
    loop = start(Limits(max_corrections=1))
    loop.on_message(reply(use(1), stop="tool_use"))
    loop.on_tool_results([ToolOutcome("toolu_1", "bad", is_error=True, refused_input=True)])
    loop.on_message(reply(use(2), stop="tool_use"))
    with pytest.raises(TooManyCorrections):
        loop.on_tool_results([ToolOutcome("toolu_2", "bad", is_error=True, refused_input=True)])


def test_structured_output_finishes_on_an_accepted_answer() -> None:
    loop = start(output_tool="final_result")
    loop.on_message(reply(TextBlock(text="answer is 4")))
    assert loop.next() == CallModel()  # nudged to call the output tool
    loop.on_message(reply(use(1, "final_result"), stop="tool_use"))
    loop.on_tool_results([ToolOutcome("toolu_1", "Answer received.", output=4)])
    assert loop.next() == Finish("output") and loop.output == 4
    assert transcript.problems(loop.messages) == []


def test_history_is_never_rewritten() -> None:
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    loop = Loop([*history, {"role": "user", "content": "c"}], start=2)
    loop.on_message(reply(use(1), stop="max_tokens"))
    assert loop.messages[:2] == history
    assert loop.new_messages[0] == {
        "role": "user",
        "content": [{"type": "text", "text": "c"}, loop.new_messages[0]["content"][1]],
    }


def test_price_uses_cache_multipliers() -> None:
    plain = price("claude-sonnet-4-5", Usage(input_tokens=1_000_000, output_tokens=1_000_000))
    assert plain == pytest.approx(18.0)
    cached = price(
        "claude-sonnet-4-5",
        Usage(cache_read_input_tokens=1_000_000, cache_creation_input_tokens=1_000_000),
    )
    assert cached == pytest.approx(3.0 * 0.1 + 3.0 * 1.25)
    assert price("claude-opus-4-1-20250805", Usage(output_tokens=1_000_000)) == pytest.approx(75.0)


STOPS = st.sampled_from(
    ["end_turn", "tool_use", "max_tokens", "pause_turn", "refusal", "stop_sequence"]
)


@settings(max_examples=300, deadline=None)
@given(
    script=st.lists(
        st.tuples(STOPS, st.integers(0, 3), st.booleans(), st.lists(st.booleans(), max_size=3)),
        min_size=1,
        max_size=12,
    )
)
def test_every_transcript_the_loop_builds_is_sendable(
    script: list[tuple[str, int, bool, list[bool]]],
) -> None:
    loop = Loop(
        [{"role": "user", "content": "go"}],
        start=0,
        limits=Limits(max_steps=50, max_corrections=99),
    )
    ids = iter(range(10_000))
    for stop, n_tools, with_text, errors in script:
        action = loop.next()
        if isinstance(action, Finish):
            break
        if isinstance(action, RunTools):
            loop.on_tool_results(
                [
                    ToolOutcome(c.id, "r", is_error=(errors[i] if i < len(errors) else False))
                    for i, c in enumerate(action.calls)
                ]
            )
            assert transcript.problems(loop.messages) == []
            continue
        blocks: list[Any] = [TextBlock(text="t")] if with_text else []
        blocks += [
            use(next(ids)) for _ in range(n_tools if stop in ("tool_use", "max_tokens") else 0)
        ]
        loop.on_message(reply(*blocks, stop=stop))
        pending = isinstance(loop.next(), RunTools)
        if not pending:
            assert transcript.problems(loop.messages) == []


def test_a_call_needing_approval_pauses_the_run_until_decided() -> None:
    """The pause is the loop's decision: the driver only reports it and resumes it."""
    loop = start(needs_approval=frozenset({"pay"}))
    loop.on_message(reply(use(1, "look"), use(2, "pay"), stop="tool_use"))
    action = loop.next()
    assert isinstance(action, Pause) and [c.id for c in action.calls] == ["toolu_2"]
    resumed = Loop.restore(loop.snapshot(), model="m")
    resumed.needs_approval = frozenset({"pay"})
    resumed.decisions = {"toolu_2": True}
    assert isinstance(resumed.next(), RunTools)
    assert resumed.new_messages == loop.new_messages
