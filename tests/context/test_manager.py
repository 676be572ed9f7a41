"""ContextManager: windows within limit that the API accepts, chunked compaction, recall."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.context import (
    BM25,
    ContextManager,
    ContextOverflowError,
    ContextPolicy,
    ContextState,
    Summary,
    exchanges,
    with_cache_breakpoints,
)
from chorus.context.compaction import render, summary_request
from chorus.context.history import Extended, History
from chorus.context.manager import RECALL_HEADER
from chorus.errors import APIConnectionError, ConfigError
from chorus.protocol import transcript
from chorus.sim.config import SimConfig
from chorus.sim.request import parse_messages
from tests.context.test_window import exchange

MODEL = "claude-sonnet-4-5"
TOOLS = [
    {
        "name": "f",
        "description": "A tool.",
        "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
]
_SIM = SimConfig()


def accepted_by_simulator(request: dict[str, Any]) -> None:
    parse_messages(request, version="2023-06-01", lookup=_SIM.model)


def markers(request: dict[str, Any]) -> int:
    text = str(request)
    return text.count("'cache_control'")


@settings(max_examples=200, deadline=None)
@given(
    shape=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([10, 500, 20_000]), st.booleans()),
        min_size=1,
        max_size=14,
    ),
    limit=st.integers(600, 30_000),
    summarised=st.integers(0, 6),
    pinned=st.booleans(),
)
def test_every_layout_is_within_budget_and_accepted_by_the_simulator(
    shape: list[tuple[int, int, bool]], limit: int, summarised: int, pinned: bool
) -> None:
    msgs = [
        m
        for i, (tools, size, image) in enumerate(shape)
        for m in exchange(i, tools=tools, result_size=size, image=image)
    ]
    spans = exchanges(msgs)
    state = ContextState()
    # Summaries over the oldest exchanges, never the newest (the turn in progress).
    for k in range(min(summarised, len(spans) - 1)):
        state.summaries.append(Summary(spans[k][0], spans[k][1], f"summary {k} " * 20))
    if len(spans) > 2:
        state.recalls = {spans[-1][0]: [spans[0][0]]}
    policy = ContextPolicy(max_input_tokens=limit, pinned=("The user is Ada.",) if pinned else ())
    manager = ContextManager(policy)
    try:
        layout = manager.layout(
            msgs, state, model=MODEL, max_tokens=512, system="Be brief.", tools=TOOLS
        )
    except ContextOverflowError:
        return  # only when the newest exchange cannot fit even cut down (test_window)
    assert layout.tokens <= limit
    assert transcript.problems(layout.messages) == []
    request = {
        "model": MODEL,
        "max_tokens": 512,
        "system": layout.system,
        "tools": TOOLS,
        "messages": layout.messages,
    }
    cached = with_cache_breakpoints(request)
    accepted_by_simulator(cached)
    assert markers(cached) <= 4
    # The newest exchange is always there, its tool_use/tool_result pairs whole.
    assert layout.messages[-1]["role"] == msgs[-1]["role"]


def long_history(turns: int, fact_at: int | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(turns):
        text = f"Turn {i}: we talked about the weather and the river walk again."
        if i == fact_at:
            text = "Please note this. The locker code for the Kestrel team is 4821."
        out.append({"role": "user", "content": text})
        out.append({"role": "assistant", "content": [{"type": "text", "text": f"Noted {i}."}]})
    return out


class Summaries:
    """A summarizer double that records what it was asked and keeps nothing specific."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, request: dict[str, Any]) -> str:
        self.requests.append(request)
        return f"Chunk {len(self.requests)}: small talk about the weather."


async def test_compaction_folds_the_oldest_turns_in_chunks_and_keeps_the_prefix_stable() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=1_000, recall=0))
    history = long_history(80)
    prompt = {"role": "user", "content": "And now?"}
    messages = [*history, prompt]
    state = ContextState()
    summarize = Summaries()
    options: dict[str, Any] = {"model": MODEL, "max_tokens": 100, "system": "Be brief."}
    done = await manager.prepare(
        messages, state, prompt_index=len(history), summarize=summarize, **options
    )
    assert done.compacted == len(state.summaries) >= 2
    # Chunks are contiguous, start at the beginning, end on exchange boundaries, and
    # never reach into the turn in progress.
    starts = {s for s, _ in exchanges(messages)}
    assert state.summaries[0].start == 0
    assert all(a.end == b.start for a, b in itertools.pairwise(state.summaries))
    assert all(s.end in starts and s.end <= len(history) for s in state.summaries)
    layout = manager.layout(messages, state, **options)
    assert layout.tokens <= 0.8 * 1_000 + 50
    assert layout.messages[-1] == prompt
    assert layout.messages[0] == messages[state.boundary]
    # The summariser was asked about exactly the chunk's messages.
    first = state.summaries[0]
    asked = summarize.requests[0]["messages"][0]["content"]
    assert render(messages[first.start : first.end]) in asked
    assert summarize.requests[0] == summary_request(
        messages[first.start : first.end], model=MODEL, words=200
    )
    # The next turns add to the conversation; until the next compaction the system prompt
    # (with its summaries) is byte-identical, and a compaction only appends to it.
    before = layout.system
    assert isinstance(before, list)
    for turn in range(40):
        messages += [
            {"role": "assistant", "content": [{"type": "text", "text": f"Reply {turn}."}]},
            {"role": "user", "content": f"Next question {turn} about rivers and weather."},
        ]
        await manager.prepare(
            messages, state, prompt_index=len(messages) - 1, summarize=summarize, **options
        )
        after = manager.layout(messages, state, **options).system
        assert isinstance(after, list)
        assert after[: len(before)] == before or len(after) <= len(before)  # rolled off
        before = after


async def test_a_failed_summary_leaves_the_window_sliding() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=800, recall=0))
    messages = [*long_history(60), {"role": "user", "content": "Go on."}]

    async def broken(request: dict[str, Any]) -> str:
        raise APIConnectionError("summarizer down")

    state = ContextState()
    done = await manager.prepare(
        messages, state, model=MODEL, max_tokens=100, prompt_index=120, summarize=broken
    )
    assert done.compacted == 0 and state.summaries == []
    layout = manager.layout(messages, state, model=MODEL, max_tokens=100)
    assert layout.tokens <= 800 and layout.dropped > 0


async def test_recall_brings_back_an_evicted_fact_marked_as_recalled() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=1_000))
    history = long_history(80, fact_at=3)
    question = {"role": "user", "content": "What is the locker code for the Kestrel team?"}
    messages = [*history, question]
    state = ContextState()
    await manager.prepare(
        messages, state, model=MODEL, max_tokens=100, prompt_index=160, summarize=Summaries()
    )
    assert state.recalls == {160: [6]}  # the exchange that planted the fact
    layout = manager.layout(messages, state, model=MODEL, max_tokens=100)
    assert layout.recalled == 1
    shown = layout.messages[-1]["content"]
    assert shown[0]["text"].startswith(RECALL_HEADER)
    assert "The locker code for the Kestrel team is 4821." in shown[0]["text"]
    assert shown[-1] == {"type": "text", "text": question["content"]}
    assert layout.tokens <= 1_000
    # What outlives the turn: summaries only; the transcript itself was never changed.
    assert ContextState.decode(state.encode()).recalls == {}
    assert messages[-1] == question


async def test_no_recall_when_the_window_already_shows_what_is_asked() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=1_000))
    history = long_history(80)
    prompt = {"role": "user", "content": "We talked about the weather and the river walk again."}
    messages = [*history, prompt]
    state = ContextState()
    await manager.prepare(
        messages, state, model=MODEL, max_tokens=100, prompt_index=160, summarize=Summaries()
    )
    assert state.recalls == {160: []}


def test_bm25_ranks_rare_terms_and_ignores_unrelated_documents() -> None:
    docs = [
        "we walked along the river",
        "The locker code for the Kestrel team is 4821.",
        "The locker code for the Marlow team is 1234.",
        "cooking pasta tonight",
    ]
    ranked = BM25().rank("What is the locker code for the Kestrel team?", docs, 3)
    assert ranked[0][0] == 1
    assert all(i in (1, 2) for i, _ in ranked)
    assert BM25().rank("the and of", docs, 3) == []


def test_oversized_tool_results_are_cut_with_a_note_and_stay_deterministic() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=2_000, tool_result_share=0.1))
    messages = exchange(0, tools=1, result_size=50_000)
    one = manager.layout(messages, ContextState(), model=MODEL, max_tokens=100)
    two = manager.layout(messages, ContextState(), model=MODEL, max_tokens=100)
    assert one.messages == two.messages
    result = one.messages[2]["content"][0]["content"]
    assert len(result) < 2_000 * 0.1 * 3.5 + 200
    assert "characters of this tool result were left out" in result
    assert messages[2]["content"][0]["content"] == "r" * 50_000  # the history is untouched


def test_a_learned_window_tightens_the_budget() -> None:
    manager = ContextManager()
    assert manager.input_limit(MODEL, 1_000) == 199_000
    manager.learn_window(MODEL, 20_000)
    assert manager.input_limit(MODEL, 1_000) == 19_000


def test_unreadable_state_is_dropped_not_fatal() -> None:
    assert ContextState.decode(b"{not json") == ContextState()
    state = ContextState([Summary(0, 2, "s")], {2: [0]})
    assert ContextState.decode(state.encode()) == ContextState([Summary(0, 2, "s")])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_input_tokens": 10}, "at least 256"),
        ({"compact_at": 1.5}, "compact_at"),
        ({"chunk": 0.9}, "chunk must be smaller"),
        ({"recall": -1}, "recall"),
        ({"pinned": "one fact"}, "pinned"),
    ],
)
def test_bad_policies_say_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ContextPolicy(**options)


class Overlap:
    """A stand-in for an embedding retriever: any object with ``rank`` plugs in."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def rank(self, query: str, documents: Any, k: int) -> list[tuple[int, float]]:
        self.queries.append(query)
        words = set(query.lower().split())
        scored = [
            (i, len(words & set(d.lower().split())) / len(words)) for i, d in enumerate(documents)
        ]
        return sorted((p for p in scored if p[1] > 0.5), key=lambda p: -p[1])[:k]


async def test_a_custom_retriever_replaces_bm25() -> None:
    retriever = Overlap()
    manager = ContextManager(ContextPolicy(max_input_tokens=1_000, retriever=retriever))
    history = long_history(80, fact_at=3)
    question = {"role": "user", "content": "What is the locker code for the Kestrel team?"}
    state = ContextState()
    layout = await manager.prepare(
        [*history, question],
        state,
        model=MODEL,
        max_tokens=100,
        prompt_index=160,
        summarize=Summaries(),
    )
    assert retriever.queries and "Kestrel" in retriever.queries[0]
    assert layout.recalled == 1 and state.recalls == {160: [6]}


def reads(n: int, size: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "user", "content": "read the files"}]
    for i in range(n):
        out.append(
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": f"t{i}", "name": "read", "input": {}}],
            }
        )
        out.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"t{i}", "content": "x " * size}
                ],
            }
        )
    return out


def test_several_capped_tool_results_are_cut_further_rather_than_overflow() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=2_000))
    layout = manager.layout(reads(4, 5_000), ContextState(), model=MODEL, max_tokens=100)
    assert layout.tokens <= 2_000
    assert transcript.problems(layout.messages) == []
    notes = [str(m["content"][0]["content"]) for m in layout.messages[2::2]]
    assert all("characters of this tool result were left out" in n for n in notes)
    # A result cut twice says how much was left out in all, once.
    assert all(n.count("left out") == 1 for n in notes)


def test_cuts_go_deep_enough_when_the_estimate_has_learned_a_low_ratio() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=2_000))
    manager.estimator.observe(MODEL, estimated_raw=1_000, actual=800)
    messages = [
        {"role": "user", "content": "p" * 8_000},
        *reads(1, 850)[1:],
    ]
    layout = manager.layout(messages, ContextState(), model=MODEL, max_tokens=100)
    assert layout.tokens <= 2_000 and layout.truncated == 1


def test_the_newest_summary_shows_even_when_longer_than_its_share() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=1_200, recall=0))
    messages = long_history(20)
    state = ContextState([Summary(0, 10, "word " * 200), Summary(10, 20, "fact " * 200)])
    layout = manager.layout(
        [*messages, {"role": "user", "content": "go on"}], state, model=MODEL, max_tokens=100
    )
    assert layout.summaries == 1 and isinstance(layout.system, list)
    shown = layout.system[-1]["text"]
    assert shown.startswith("Summary of earlier conversation (messages 11-20)") and "fact" in shown
    assert layout.tokens <= 1_200


def test_summaries_of_a_longer_conversation_are_ignored() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=2_000))
    history = long_history(1)
    prompt = {"role": "user", "content": "new prompt"}
    state = ContextState([Summary(0, 4, "earlier stuff")])
    layout = manager.layout([*history, prompt], state, model=MODEL, max_tokens=100)
    assert layout.messages[-1] == prompt and layout.summaries == 0


async def test_the_turn_in_progress_is_never_split_by_its_own_nudges() -> None:
    """The loop may add a user text message inside a turn (a nudge to call the output tool);
    that starts a new exchange, but a window must never keep the nudge without the turn's
    own prompt: the turn is laid out whole, or not at all."""
    manager = ContextManager(ContextPolicy(max_input_tokens=1_000, compaction=False, recall=0))
    nudge = {"role": "user", "content": [{"type": "text", "text": "Answer with the tool."}]}
    for size in (100, 600):
        turn = [
            {"role": "user", "content": "Which river did we walk along? " + "context " * size},
            {"role": "assistant", "content": [{"type": "text", "text": "The river."}]},
            nudge,
        ]
        messages = [*long_history(40), *turn]
        try:
            layout = await manager.prepare(
                messages,
                ContextState(),
                model=MODEL,
                max_tokens=100,
                prompt_index=80,
                summarize=Summaries(),
            )
        except ContextOverflowError:
            assert size == 600  # the turn alone is over the limit
            continue
        assert size == 100
        assert layout.messages[-3:] == turn and layout.tokens <= 1_000


async def test_a_summarizer_bug_is_not_hidden() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=800, recall=0))
    messages = [*long_history(60), {"role": "user", "content": "Go on."}]

    async def buggy(request: dict[str, Any]) -> str:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        await manager.prepare(
            messages, ContextState(), model=MODEL, max_tokens=100, prompt_index=120, summarize=buggy
        )


async def test_recall_finds_a_fact_from_turn_10_at_turn_20000_without_reindexing() -> None:
    manager = ContextManager(ContextPolicy(max_input_tokens=1_000))
    history = History(long_history(20_000, fact_at=10))
    state = ContextState([Summary(0, 39_900, "Small talk about the weather.")])
    question = {"role": "user", "content": "What is the locker code for the Kestrel team?"}
    run = Extended(history, [question])
    await manager.prepare(
        run, state, model=MODEL, max_tokens=100, prompt_index=40_000, summarize=Summaries()
    )
    assert state.recalls == {40_000: [20]}  # turn 10's exchange, out of 20,000
    layout = manager.layout(run, state, model=MODEL, max_tokens=100)
    assert (
        "The locker code for the Kestrel team is 4821." in layout.messages[-1]["content"][0]["text"]
    )
    assert layout.tokens <= 1_000
    # The next turn, on the same history read afresh (a held session between turns): the
    # index of evicted turns is the one built before, extended, not built again.
    (index,) = manager._evicted.values()
    spans = index.spans
    history.extend([question, {"role": "assistant", "content": [{"type": "text", "text": "4821"}]}])
    history.cool()
    again = {"role": "user", "content": "What did we talk about in turn 12?"}
    state = ContextState([Summary(0, 39_902, "Small talk about the weather.")])
    await manager.prepare(
        Extended(history, [again]),
        state,
        model=MODEL,
        max_tokens=100,
        prompt_index=40_002,
        summarize=Summaries(),
    )
    assert state.recalls == {40_002: [24]}
    assert list(manager._evicted.values()) == [index] and index.spans is spans


async def test_the_state_keeps_only_summaries_a_window_could_still_show() -> None:
    # Summaries are shown newest first within their share; older ones roll off. The state
    # keeps a few windows' worth, not one per compaction since the conversation began, so
    # what is stored (and rewritten with each compaction) does not grow with it.
    manager = ContextManager(ContextPolicy(max_input_tokens=1_000))
    state = ContextState()
    messages: list[dict[str, Any]] = []
    sizes = []
    for turn in range(400):
        messages += long_history(1)
        messages[-2]["content"] = f"Turn {turn}: we talked about the weather and the river again."
        question = {"role": "user", "content": f"And on day {turn}?"}
        await manager.prepare(
            [*messages, question],
            state,
            model=MODEL,
            max_tokens=100,
            prompt_index=len(messages),
            summarize=Summaries(),
        )
        state.recalls = {}
        sizes.append(len(state.summaries))
    assert state.boundary > 600  # compaction kept going
    shown = manager.layout([*messages, question], state, model=MODEL, max_tokens=100).summaries
    assert 1 <= shown <= len(state.summaries) <= 4 * shown + 1
    assert max(sizes[200:]) == max(sizes[300:])  # bounded, not growing
