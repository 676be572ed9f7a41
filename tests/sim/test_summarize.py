"""The simulated summarizer: bounded, lossy in a predictable way, deterministic."""

from __future__ import annotations

from typing import Any

from chorus.context.compaction import summary_request
from chorus.sim import SimConfig
from chorus.sim.behaviours import plan_reply
from chorus.sim.models import ModelSpec
from chorus.sim.request import MessagesRequest

SPEC = ModelSpec(id="m")


def summarise(messages: list[dict[str, Any]], words: int, behaviour: str = "auto") -> str:
    body = summary_request(messages, model="m", words=words)
    request = MessagesRequest(model=SPEC, messages=body["messages"], max_tokens=body["max_tokens"])
    plan = plan_reply(request, SimConfig(), behaviour)
    return "".join(b.text for b in plan.blocks if b.kind == "text")


def chat(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        text = f"we walked along the river and talked about the weather on walk {i}."
        if i == 5:
            text = "Please note this. The locker code for the Kestrel team is 4821."
        out += [{"role": "user", "content": text}, {"role": "assistant", "content": "Noted."}]
    return out


def test_a_summary_keeps_specific_facts_within_its_word_limit() -> None:
    summary = summarise(chat(40), words=60)
    assert "The locker code for the Kestrel team is 4821." in summary
    assert len(summary.split()) <= 60
    assert summary == summarise(chat(40), words=60)  # deterministic


def test_a_summary_is_lossy_and_never_longer_than_a_quarter_of_its_input() -> None:
    messages = chat(40)
    words_in = sum(len(str(m["content"]).split()) for m in messages)
    summary = summarise(messages, words=10_000)
    assert len(summary.split()) <= words_in // 4
    assert "walk 39" not in summary or "walk 0" not in summary  # something was left out


def test_summaries_are_answered_under_the_recall_behaviour_too() -> None:
    assert "4821" in summarise(chat(10), words=50, behaviour="recall")
    assert "4821" in summarise(chat(10), words=50, behaviour="summarize")
