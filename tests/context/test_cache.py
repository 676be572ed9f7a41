"""Cache breakpoints at stable anchors; successive turns read the prompt cache."""

from __future__ import annotations

import copy
from typing import Any

from chorus.agent import Agent, tool
from chorus.agent.session import Session
from chorus.client import Claude
from chorus.context import with_cache_breakpoints
from chorus.protocol import transcript
from chorus.sim import Simulator


def markers(request: dict[str, Any]) -> list[str]:
    found = []
    for i, t in enumerate(request.get("tools") or []):
        if "cache_control" in t:
            found.append(f"tools.{i}")
    system = request.get("system")
    if isinstance(system, list):
        found += [f"system.{i}" for i, b in enumerate(system) if "cache_control" in b]
    for i, m in enumerate(request["messages"]):
        if isinstance(m["content"], list):
            found += [
                f"messages.{i}.{j}" for j, b in enumerate(m["content"]) if "cache_control" in b
            ]
    return found


CONVERSATION = [
    {"role": "user", "content": "first question"},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
    {"role": "user", "content": "second question"},
]


def test_anchors_are_stable_and_at_most_four() -> None:
    request = {
        "model": "m",
        "tools": [
            {"name": "a", "input_schema": {"type": "object"}},
            {"name": "b", "input_schema": {"type": "object"}},
        ],
        "system": "Be brief.",
        "messages": copy.deepcopy(CONVERSATION),
    }
    before = copy.deepcopy(request)
    out = with_cache_breakpoints(request)
    assert request == before  # pure: the input is not changed
    assert markers(out) == ["tools.1", "system.0", "messages.3.0"]  # never the newest message
    assert transcript.problems(out["messages"]) == []
    in_turn = with_cache_breakpoints({"model": "m", "messages": CONVERSATION[:3]})
    assert markers(in_turn) == ["messages.1.0"]  # the step before, inside one tool loop


def test_a_request_with_markers_is_left_alone() -> None:
    request = {
        "model": "m",
        "system": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}],
        "messages": CONVERSATION,
    }
    assert with_cache_breakpoints(request) is request


@tool
def lookup(topic: str) -> str:
    """Look up a topic in the manual."""
    return f"manual entry on {topic}"


async def test_successive_turns_read_the_cache() -> None:
    manual = "The manual covers installation, upgrades, backups and recovery in detail. " * 120
    async with Simulator() as sim:
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(model="claude-sonnet-4-5", system=manual, tools=[lookup], client=claude)
        session = Session(agent, "cached")
        reads, totals = [], []
        for question in ["please lookup backups", "thanks", "and lookup recovery", "ok"]:
            result = await session.send(question)
            u = result.usage
            reads.append(u.cache_read_input_tokens)
            totals.append(
                u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
            )
        await claude.aclose()
    assert reads[0] > 0  # the second call of the first turn already reads the first one's prefix
    assert all(r > 0 for r in reads[1:])
    assert sum(reads) / sum(totals) > 0.6
