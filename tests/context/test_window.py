"""fit(): always within limit, always sendable, never splits a tool_use from its result."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.context import ContextOverflowError, TokenEstimator, estimate_message, exchanges, fit
from chorus.protocol import transcript


def exchange(
    i: int, *, tools: int = 0, result_size: int = 20, image: bool = False
) -> list[dict[str, Any]]:
    first: Any = f"question {i}"
    if image:
        first = [
            {"type": "text", "text": f"question {i}"},
            {"type": "image", "source": {"type": "url", "url": "https://example.invalid/x.png"}},
        ]
    out: list[dict[str, Any]] = [{"role": "user", "content": first}]
    for t in range(tools):
        tid = f"toolu_{i}_{t}"
        out.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": tid, "name": "f", "input": {"n": t}}],
            }
        )
        out.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": tid, "content": "r" * result_size}
                ],
            }
        )
    out.append({"role": "assistant", "content": [{"type": "text", "text": f"answer {i} " * 5}]})
    return out


def conversation(n: int, **kw: Any) -> list[dict[str, Any]]:
    return [m for i in range(n) for m in exchange(i, **kw)]


def test_everything_fits_untouched() -> None:
    msgs = conversation(3, tools=1)
    window = fit(msgs, limit=100_000)
    assert window.messages == msgs and window.dropped == 0 and window.truncated == 0


def test_oldest_whole_exchanges_go_first() -> None:
    msgs = conversation(10, tools=2)
    window = fit(msgs, limit=200)
    assert window.dropped > 0
    assert window.messages == msgs[window.dropped :]
    assert window.messages[0] == {
        "role": "user",
        "content": f"question {window.messages[0]['content'][9:]}",
    }
    assert transcript.problems(window.messages) == []
    assert window.tokens <= 200


def test_input_is_never_changed() -> None:
    msgs = conversation(2, tools=1, result_size=50_000)
    snapshot = [dict(m) for m in msgs]
    fit(msgs, limit=3_000)
    assert msgs == snapshot


def test_huge_tool_result_in_the_latest_exchange_is_cut_with_a_note() -> None:
    msgs = conversation(1, tools=1, result_size=100_000)
    window = fit(msgs, limit=5_000)
    assert window.truncated == 1 and window.tokens <= 5_000
    result = window.messages[2]["content"][0]["content"]
    assert "characters of this tool result were left out" in result
    assert result.startswith("r" * 200)


def test_overflow_when_nothing_can_be_cut() -> None:
    msgs = [{"role": "user", "content": "x" * 100_000}]
    with pytest.raises(ContextOverflowError, match="latest exchange"):
        fit(msgs, limit=1_000)
    with pytest.raises(ContextOverflowError, match="no room"):
        fit(msgs, limit=1_000, fixed=1_000)


def test_exchanges_keep_tool_pairs_together() -> None:
    msgs = conversation(2, tools=2)
    assert exchanges(msgs) == [(0, 6), (6, 12)]


def test_estimator_learns_from_usage() -> None:
    est = TokenEstimator()
    msgs = conversation(2)
    raw = est.raw(msgs)
    est.observe("m", estimated_raw=raw, actual=raw // 2)
    assert est.ratio["m"] == pytest.approx(0.5, rel=0.01)
    assert est.error["m"] == pytest.approx(1.0, rel=0.02)  # the uncalibrated estimate was 2x
    assert est.estimate(msgs, "m") == pytest.approx(raw * 0.5 * est.margin, abs=1.5)
    est.observe("m", estimated_raw=raw, actual=raw // 2)
    assert abs(est.error["m"]) < 0.02


@settings(max_examples=300, deadline=None)
@given(
    shape=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([10, 500, 20_000]), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    limit=st.integers(400, 30_000),
)
def test_every_window_is_within_budget_and_sendable(
    shape: list[tuple[int, int, bool]], limit: int
) -> None:
    msgs = [
        m
        for i, (tools, size, image) in enumerate(shape)
        for m in exchange(i, tools=tools, result_size=size, image=image)
    ]
    try:
        window = fit(msgs, limit=limit)
    except ContextOverflowError:
        last = exchanges(msgs)[-1]
        # Only when the newest exchange cannot fit even with its tool results cut down.
        assert sum(estimate_message(m) for m in msgs[last[0] :]) > limit
        return
    assert window.tokens <= limit
    assert sum(estimate_message(m) for m in window.messages) == window.tokens
    assert transcript.problems(window.messages) == []
    assert window.messages[-1] == msgs[-1] or window.truncated
