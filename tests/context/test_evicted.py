"""The evicted-turn index agrees with a fresh scan, however eviction grows (context/evicted.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.context.compaction import render
from chorus.context.evicted import CANDIDATES, EvictedTurns
from chorus.context.recall import terms
from chorus.context.window import exchanges

WORDS = ["ferry", "pier", "fare", "crowns", "tuesday", "oslo", "rain", "limit"]


def prompt(words: list[str]) -> dict[str, Any]:
    return {"role": "user", "content": " ".join(words) or "hello"}


def reply(words: list[str]) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": " ".join(words) or "ok"}]}


def tool_turn(i: int) -> list[dict[str, Any]]:
    call = {"type": "tool_use", "id": f"t{i}", "name": "w", "input": {}}
    result = {"type": "tool_result", "tool_use_id": f"t{i}", "content": "sunny"}
    return [{"role": "assistant", "content": [call]}, {"role": "user", "content": [result]}]


turns = st.lists(
    st.tuples(
        st.lists(st.sampled_from(WORDS), max_size=3),
        st.booleans(),
        st.lists(st.sampled_from(WORDS), max_size=3),
    ),
    min_size=1,
    max_size=12,
)


def conversation(spec: list[tuple[list[str], bool, list[str]]]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i, (asked, with_tool, answered) in enumerate(spec):
        messages.append(prompt(asked))
        if with_tool:
            messages.extend(tool_turn(i))
        messages.append(reply(answered))
    return messages


@settings(max_examples=200, deadline=None)
@given(
    spec=turns,
    cuts=st.lists(st.integers(0, 60), min_size=1, max_size=5),
    query=st.sets(st.sampled_from(WORDS)),
)
def test_the_index_matches_a_fresh_scan(spec, cuts, query) -> None:
    messages = conversation(spec)
    index = EvictedTurns()
    for cut in (min(c, len(messages)) for c in cuts):  # in any order: eviction may shrink
        if cut == 0:
            continue
        index.update(messages, cut)
        spans = list(index.complete(cut))
        tail = index.tail(cut)
        if tail is not None:
            spans.append(tail)
        assert spans == exchanges(messages[:cut])
        expected = [
            i
            for i, (s, e) in enumerate(index.complete(cut))
            if set(query) & set(terms(render(messages[s:e])))
        ]
        assert index.matching(set(query), cut) == expected


def test_another_conversation_rebuilds_the_index() -> None:
    first = conversation([(["ferry"], False, ["ok"]), (["pier"], False, ["ok"])])
    index = EvictedTurns()
    index.update(first, 4)
    other = conversation([(["rain"], False, ["ok"]), (["oslo"], False, ["ok"])])
    index.update(other, 4)
    assert index.matching({"ferry"}, 4) == [] and index.matching({"rain"}, 4) == [0]


def test_a_lookup_hands_on_a_bounded_number_of_turns_rare_words_first() -> None:
    # 600 turns all about the ferry, one of them (turn 3) also about the vault: a lookup for
    # both costs the same as in a short conversation, and the turn naming the vault is in.
    spec = [(["ferry", "vault"] if t == 3 else ["ferry"], False, ["ok"]) for t in range(600)]
    messages = conversation(spec)
    index = EvictedTurns()
    index.update(messages, len(messages))
    found = index.matching({"ferry", "vault"}, len(messages))
    assert len(found) == CANDIDATES
    assert found[0] == 3  # the rare word's turn, however old
    complete = len(index.complete(len(messages)))
    assert found[1:] == list(range(complete - CANDIDATES + 1, complete))  # the newest others
    assert index.matching({"ferry"}, len(messages), most=5) == list(range(complete - 5, complete))
