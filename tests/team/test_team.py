"""A team assigns work by capability over the bus: to the best bid, once, surviving failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chorus.agent import Agent
from chorus.errors import ConfigError, TaskFailedError
from chorus.team import Capability, Team
from chorus.testing import ScriptedModel

PY = [Capability("python", "writes and fixes Python code")]
SQL = [Capability("sql", "tunes slow database queries")]


def member(name: str, capabilities: list[Capability], reply: Any = None) -> Agent:
    model = ScriptedModel(
        reply or (lambda request: f"{name} did: {request['messages'][-1]['content']}")
    )
    return Agent(
        model="claude-sonnet-4-5", client=model, name=name, capabilities=capabilities, context=False
    )


class Hanging:
    """A client whose model never answers (until cancelled)."""

    def __init__(self) -> None:
        self.messages = self

    async def create(self, **request: Any) -> Any:
        await asyncio.sleep(3600)


async def test_a_task_goes_to_a_capable_agent_in_2k_plus_2_messages() -> None:
    agents = [member(f"py{i}", PY) for i in range(3)] + [member(f"db{i}", SQL) for i in range(20)]
    async with Team(agents, bid_window=0.2) as team:
        done = await team.assign("python", "fix the failing test")
        assert done.agent.startswith("py") and done.output.endswith("fix the failing test")
        assert done.awards == 1
        stats = team.bus.stats()
    sent = sum(stats["sent"].values())
    assert sent == 2 * 3 + 2  # three calls for bids, three bids, one award, one result
    assert stats["sent"] == {"cfp": 3, "bid": 3, "award": 1, "result": 1}


async def test_a_task_that_names_no_capability_finds_one_by_its_words() -> None:
    async with Team([member("coder", PY), member("dba", SQL)], bid_window=0.1) as team:
        done = await team.assign(None, "the database queries are slow")
    assert done.agent == "dba"


async def test_an_awardee_that_fails_is_replaced_and_the_task_runs_once() -> None:
    def broken(request: dict[str, Any]) -> str:
        raise RuntimeError("tool crashed")

    bad = member("a", PY, broken)  # bids best (alphabetical tie-break), then fails
    good = member("b", PY)
    async with Team([bad, good], bid_window=0.1) as team:
        done = await team.assign("python", "fix it")
    assert (done.agent, done.awards) == ("b", 2)


async def test_an_awardee_that_hangs_or_dies_is_replaced_at_its_deadline() -> None:
    hung = Agent(
        model="claude-sonnet-4-5", client=Hanging(), name="a", capabilities=PY, context=False
    )
    async with Team([hung, member("b", PY)], bid_window=0.1, task_timeout=0.3) as team:
        done = await team.assign("python", "fix it")
        assert (done.agent, done.awards) == ("b", 2)
    async with Team([member("a", PY), member("b", PY)], bid_window=0.1, task_timeout=0.3) as team:
        team.start()
        team.stop_member("a")  # crashed: answers nothing, not even a bid
        done = await team.assign("python", "fix it")
        assert done.agent == "b"


async def test_no_capable_agent_is_a_clear_failure() -> None:
    async with Team([member("coder", PY)], bid_window=0.1) as team:
        with pytest.raises(TaskFailedError, match="no capable agent"):
            await team.assign("cobol", "port the ledger")
        with pytest.raises(TaskFailedError, match="matches"):
            await team.assign(None, "bake a cake")
    with pytest.raises(ConfigError, match="distinct names"):
        Team([member("x", PY), member("x", SQL)])


def voter(name: str, answers: list[str]) -> Agent:
    """A member that answers the n-th question with ``answers[n]``."""
    script = iter(answers)
    return member(name, [], lambda request: next(script))


async def test_the_team_decides_and_learns_who_to_trust() -> None:
    truths = ["A", "B", "C", "D"] * 10
    strong = voter("strong", truths)  # always right
    herd = [voter(f"herd{i}", ["B", "C", "D", "A"] * 10) for i in range(2)]  # agree, always wrong
    team = Team([strong, *herd])
    for truth in truths[:20]:  # the weighted strategy learns from the truth
        decision = await team.decide(f"question about {truth}?", capability="quiz")
        team.feedback(decision, truth)
    first = await Team([voter("s", ["A"]), voter("h1", ["B"]), voter("h2", ["B"])]).decide("?")
    assert first.answer == "b"  # with no record yet, the herd outvotes the strong one
    early = decision  # the 20th: by then the strong one's record outweighs the herd
    majority_right = weighted_right = 0
    for truth in truths[20:30]:
        weighted = await team.decide("next question?", capability="quiz")
        weighted_right += weighted.answer == truth.casefold()
    for truth in truths[30:]:
        plain = await team.decide("next question?", strategy="majority")
        majority_right += plain.answer == truth.casefold()
    assert weighted_right == 10 and majority_right == 0
    assert early.answer == "d" and set(early.votes) == {"a", "d"}
    with pytest.raises(ConfigError, match="strategy"):
        await team.decide("?", strategy="vibes")
    with pytest.raises(ConfigError, match="no member"):
        await team.decide("?", among=["nobody"])


async def test_a_member_that_fails_abstains() -> None:
    def broken(request: dict[str, Any]) -> str:
        raise RuntimeError("down")

    team = Team([member("a", [], lambda r: "yes"), member("b", [], broken)])
    decision = await team.decide("ok?", strategy="majority")
    assert decision.answer == "yes" and [a.value for a in decision.answers] == ["yes", None]
    none = await Team([member("b", [], broken)]).decide("ok?")
    assert none.outcome == "abstained"


def judge_that(pick: Any) -> Agent:
    """A judge double: ``pick(prompt)`` returns its reply."""
    return member("judge", [], lambda request: pick(request["messages"][-1]["content"]))


async def test_a_judge_sees_both_orders_and_a_verdict_that_follows_the_order_is_a_tie() -> None:
    team = Team([voter("a", ["Paris"]), voter("b", ["Lyon"]), voter("c", ["Paris"])])

    def fair(prompt: str) -> str:  # picks Paris wherever it stands
        return "1" if "Answer 1: paris" in prompt else "2"

    decision = await team.decide("Capital of France?", strategy="judge", judge=judge_that(fair))
    assert (decision.answer, decision.outcome) == ("paris", "agreed")
    team = Team([voter("a", ["Paris"]), voter("b", ["Lyon"])])
    biased = await team.decide("Capital?", strategy="judge", judge=judge_that(lambda p: "1"))
    assert (biased.answer, biased.outcome) == (None, "tie")  # it always picks the first shown
    team = Team([voter("a", ["Paris"]), voter("b", ["Paris"])])
    same = await team.decide("Capital?", strategy="judge", judge=judge_that(lambda p: "2"))
    assert (same.answer, same.outcome) == ("paris", "agreed")  # nothing to judge: one answer
    with pytest.raises(ConfigError, match="needs judge"):
        await team.decide("Capital?", strategy="judge")


def test_the_team_and_capabilities_are_on_the_chorus_face() -> None:
    import chorus

    assert chorus.Team is Team and chorus.Capability is Capability


async def test_a_team_exports_its_messages_tasks_and_decisions_as_metrics() -> None:
    from prometheus_client import CollectorRegistry

    from chorus.observe import TeamMetrics

    registry = CollectorRegistry()
    agents = [member("a", PY), member("b", PY), voter("c", ["yes"])]
    async with Team(agents, bid_window=0.1, metrics=TeamMetrics(registry)) as team:
        await team.assign("python", "fix it")
        with pytest.raises(TaskFailedError):
            await team.assign("cobol", "port it")
        await team.decide("ok?", among=["c"], strategy="majority")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("chorus_team_messages_total", kind="cfp", outcome="delivered") == 2
    assert value("chorus_team_messages_total", kind="award", outcome="sent") == 1
    assert value("chorus_team_tasks_total", capability="python", outcome="completed") == 1
    assert value("chorus_team_tasks_total", capability="cobol", outcome="failed") == 1
    assert value("chorus_team_task_awards_count", capability="python") == 1
    assert value("chorus_team_decisions_total", strategy="majority", outcome="agreed") == 1


async def test_a_member_that_failed_is_not_awarded_again_during_its_cool_down() -> None:
    """A member that is down costs the team one failed award, not one per task: after a
    failure it bids worse than any working member until its cool-down passes."""
    tried: list[str] = []

    def broken(request: dict[str, Any]) -> str:
        tried.append("a")
        raise RuntimeError("the server is gone")

    now = [0.0]
    bad = member("a", PY, broken)  # bids best (alphabetical tie-break)
    good = member("b", PY)
    async with Team([bad, good], bid_window=0.1, clock=lambda: now[0]) as team:
        first = await team.assign("python", "task one")
        second = await team.assign("python", "task two")
        third = await team.assign("python", "task three")
        assert (first.agent, first.awards) == ("b", 2)
        assert (second.agent, second.awards) == ("b", 1)  # a, failing, was out-bid
        assert (third.agent, third.awards) == ("b", 1)
        assert tried == ["a"]
        now[0] = 1.5  # past its first cool-down (1 s): its next award is a probe
        fourth = await team.assign("python", "task four")
        assert (fourth.agent, fourth.awards) == ("b", 2) and tried == ["a", "a"]
        now[0] = 3.0  # two failures in a row: 2 s of cool-down from 1.5
        fifth = await team.assign("python", "task five")
        assert (fifth.agent, fifth.awards) == ("b", 1) and tried == ["a", "a"]


async def test_a_failing_member_that_is_the_only_one_capable_is_still_awarded() -> None:
    calls = iter([RuntimeError("down"), "done at last"])

    def flaky(request: dict[str, Any]) -> str:
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async with Team([member("a", PY, flaky)], bid_window=0.1, max_awards=1) as team:
        with pytest.raises(TaskFailedError):
            await team.assign("python", "task one")
        done = await team.assign("python", "task two")  # in its cool-down, yet the only one
    assert done.output == "done at last"
