"""Team runs as they happen (events), the patterns, delegation and its hop limit, members
lost mid-task, and the strategies that ask more than once (debate, self-consistency)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import msgspec
import pytest

from chorus.agent import Agent
from chorus.errors import ConfigError, TaskFailedError
from chorus.team import (
    AnswerGiven,
    Awarded,
    AwardEnded,
    BidReceived,
    CalledForBids,
    Capability,
    Decided,
    QuestionAsked,
    TaskCompleted,
    TaskFailed,
    Team,
    TeamEvent,
    VerdictGiven,
    delegate_tool,
    fan_out,
    pipeline,
    supervise,
)
from chorus.testing import ScriptedModel

PY = [Capability("python", "writes and fixes Python code")]
SQL = [Capability("sql", "tunes slow database queries")]
DOCS = [Capability("docs", "writes documentation")]


def last_text(request: dict[str, Any]) -> str:
    content = request["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(str(b.get("content", b.get("text", ""))) for b in content)


def member(name: str, caps: list[Capability], reply: Any, **options: Any) -> Agent:
    return Agent(
        model="claude-sonnet-4-5",
        client=ScriptedModel(reply),
        name=name,
        capabilities=caps,
        context=False,
        **options,
    )


def hanging(name: str) -> tuple[Agent, asyncio.Event, asyncio.Event]:
    """A python member whose model call never answers, and events that say when the call
    started and when it was stopped."""
    started, stopped = asyncio.Event(), asyncio.Event()

    class Hanging:
        def __init__(self) -> None:
            self.messages = self

        async def create(self, **request: Any) -> Any:
            started.set()
            try:
                await asyncio.sleep(3600)
            finally:
                stopped.set()

    agent = Agent(model="m", client=Hanging(), name=name, capabilities=PY, context=False)
    return agent, started, stopped


def echoing(name: str, caps: list[Capability]) -> Agent:
    return member(name, caps, lambda r: f"{name} did: {last_text(r)}")


def calls(name: str, args: dict[str, Any], then: Any) -> Any:
    """A reply function: call tool ``name`` with ``args`` first, then reply ``then(request)``."""

    def reply(request: dict[str, Any]) -> Any:
        last = request["messages"][-1]
        if isinstance(last["content"], list) and last["content"][0].get("type") == "tool_result":
            return then(request)
        return {"content": [{"type": "tool_use", "id": "tu_1", "name": name, "input": args}]}

    return reply


async def collect(stream: Any) -> list[TeamEvent]:
    return [event async for event in stream]


async def test_an_assignment_streams_who_was_asked_the_bids_the_award_and_the_end() -> None:
    agents = [echoing(f"py{i}", PY) for i in range(3)] + [echoing("db", SQL)]
    async with Team(agents, bid_window=0.2) as team:
        events = await collect(team.stream_assign("python", "fix the failing test"))
        failed = await collect(team.stream_assign("cobol", "port the ledger"))
    kinds = [type(e) for e in events]
    assert kinds[0] is CalledForBids and kinds[-1] is TaskCompleted
    assert set(events[0].agents) == {"py0", "py1", "py2"}  # type: ignore[attr-defined]
    assert kinds.count(BidReceived) == 3 and kinds.count(Awarded) == 1
    done = events[-1].result  # type: ignore[attr-defined]
    assert done.agent.startswith("py") and done.output.endswith("fix the failing test")
    assert len({e.id for e in events}) == 1  # every event names its task  # type: ignore
    assert [type(e) for e in failed] == [TaskFailed]


async def test_a_member_that_stops_heartbeating_mid_task_is_replaced_within_its_ttl() -> None:
    started = asyncio.Event()

    class Stuck:  # a model call that never returns, as if its process froze
        def __init__(self) -> None:
            self.messages = self

        async def create(self, **request: Any) -> Any:
            started.set()
            await asyncio.sleep(3600)

    stuck = Agent(model="m", client=Stuck(), name="a", capabilities=PY, context=False)
    team = Team([stuck, echoing("b", PY)], bid_window=0.1, task_timeout=60, heartbeat_ttl=0.3)
    async with team:
        seen: list[TeamEvent] = []
        team.listen(seen.append)
        job = asyncio.create_task(team.assign("python", "fix it"))
        await started.wait()  # "a" was awarded the task and is working on it
        team.stop_member("a")  # and now it dies: no result, no more heartbeats
        done = await asyncio.wait_for(job, 10)  # its deadline is 60 s: the TTL found it
    assert (done.agent, done.awards) == ("b", 2)
    ended = [e for e in seen if isinstance(e, AwardEnded)]
    assert [(e.agent, e.reason) for e in ended] == [("a", "stopped heartbeating")]


async def test_a_member_hands_part_of_its_task_to_a_capable_colleague() -> None:
    coder = member(
        "coder",
        PY,
        calls(
            "delegate",
            {"capability": "sql", "task": "make the orders query fast"},
            lambda r: f"fixed, and the DBA says: {last_text(r)}",
        ),
        tools=[delegate_tool],
    )
    dba_model = ScriptedModel(lambda r: "added an index on orders.customer_id")
    dba = Agent(model="m", client=dba_model, name="dba", capabilities=SQL, context=False)
    async with Team([coder, dba], bid_window=0.1) as team:
        done = await team.assign("python", "the orders page is slow; fix it")
    assert done.agent == "coder" and "added an index" in done.output
    (asked,) = dba_model.requests
    assert asked["messages"] == [{"role": "user", "content": "make the orders query fast"}]


async def test_a_delegation_cycle_across_members_stops_at_the_hop_limit() -> None:
    def bounce(to: str) -> Any:
        return calls(
            "delegate", {"capability": to, "task": "please handle this"}, lambda r: last_text(r)
        )

    ping = member("ping", PY, bounce("sql"), tools=[delegate_tool])
    pong = member("pong", SQL, bounce("python"), tools=[delegate_tool])
    async with Team([ping, pong], bid_window=0.1, max_hops=3) as team:
        seen: list[TeamEvent] = []
        team.listen(seen.append)
        done = await asyncio.wait_for(team.assign("python", "start"), 10)
    depths = [e.hops for e in seen if isinstance(e, CalledForBids)]
    assert depths == [0, 1, 2, 3]  # the task, then three delegations, then refused
    assert "HopLimitError" in done.output and "max_hops=3" in done.output
    with pytest.raises(ConfigError, match="max_hops"):
        Team([ping], max_hops=-1)


async def test_delegate_outside_a_team_task_tells_the_model_to_do_the_work() -> None:
    loner = member(
        "loner",
        [],
        calls("delegate", {"capability": "x", "task": "y"}, last_text),
        tools=[delegate_tool],
    )
    result = await loner.run("do it")
    assert "only while doing a team's task" in result.output


async def test_a_supervisor_splits_a_task_among_workers_and_combines_their_results() -> None:
    def plan(request: dict[str, Any]) -> Any:
        results = [
            b
            for m in request["messages"]
            if isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        if not results:
            return {
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "delegate",
                        "input": {"capability": "python", "task": "write parse()"},
                    },
                    {
                        "type": "tool_use",
                        "id": "t2",
                        "name": "delegate",
                        "input": {"capability": "docs", "task": "document parse()"},
                    },
                ]
            }
        return "combined: " + " | ".join(str(b["content"]) for b in results)

    boss = Agent(
        model="m", client=ScriptedModel(plan), name="boss", tools=[delegate_tool], context=False
    )
    async with Team([echoing("coder", PY), echoing("writer", DOCS)], bid_window=0.1) as team:
        result = await supervise(team, boss, "ship a parser with docs")
        with pytest.raises(ConfigError, match="delegate tool"):
            await supervise(team, echoing("plain", []), "x")
    assert result.output == ("combined: coder did: write parse() | writer did: document parse()")


async def test_a_pipeline_feeds_each_result_to_the_next_step() -> None:
    async with Team([echoing("coder", PY), echoing("writer", DOCS)], bid_window=0.1) as team:
        steps = [("python", "write code for: {input}"), ("docs", "document this")]
        first, second = await pipeline(team, steps, "a CSV reader")
    assert first.output == "coder did: write code for: a CSV reader"
    assert second.output == "writer did: document this\n\ncoder did: write code for: a CSV reader"
    assert second.agent == "writer"


async def test_fan_out_asks_k_capable_members_and_decides() -> None:
    agents = [
        member("a", PY, lambda r: "use a dict"),
        member("b", PY, lambda r: "use a dict"),
        member("c", PY, lambda r: "use a list"),
        member("d", SQL, lambda r: "use an index"),
    ]
    async with Team(agents, bid_window=0.1) as team:
        decision = await fan_out(team, "python", "how to count words?", k=3, strategy="majority")
    assert (decision.answer, decision.outcome) == ("use a dict", "agreed")
    assert {a.agent for a in decision.answers} == {"a", "b", "c"}


async def test_a_debate_round_lets_agents_revise_after_seeing_the_others() -> None:
    def stubborn(answer: str) -> Any:
        return lambda r: answer

    def swayed(r: dict[str, Any]) -> str:  # says C, but follows the others when shown them
        return "A" if "The others answered:" in last_text(r) else "C"

    team = Team(
        [member("a", [], stubborn("A")), member("b", [], stubborn("B")), member("c", [], swayed)]
    )
    plain = await team.decide("which?", strategy="majority")
    assert plain.outcome == "tie"
    events = await collect(team.stream_decide("which?", strategy="debate", rounds=2))
    decision = events[-1].decision  # type: ignore[attr-defined]
    assert (decision.answer, decision.outcome, decision.strategy) == ("a", "agreed", "debate")
    rounds = [e.round for e in events if isinstance(e, QuestionAsked)]
    assert rounds == [1, 2, 3]  # two more rounds: a and b still disagree after the first
    assert decision.tokens == 20 * 9  # 3 agents x 3 rounds, 20 tokens per scripted call
    with pytest.raises(ConfigError, match="rounds"):
        await team.decide("which?", strategy="debate", rounds=3)


async def test_self_consistency_votes_over_samples_of_the_same_agent() -> None:
    cycle = itertools.cycle(["A", "B", "A", "C", "A"])
    team = Team([member("solo", [], lambda r: next(cycle))])
    events = await collect(team.stream_decide("which?", strategy="self_consistency", samples=5))
    decision = events[-1].decision  # type: ignore[attr-defined]
    assert (decision.answer, decision.votes["a"]) == ("a", 3.0)
    assert sum(isinstance(e, AnswerGiven) for e in events) == 5
    with pytest.raises(ConfigError, match="samples"):
        await team.decide("which?", strategy="self_consistency", samples=0)


class Choice(msgspec.Struct):
    answer: str
    confidence: float


async def test_answers_compare_by_value_with_an_output_type() -> None:
    def structured(answer: str, confidence: float) -> Any:
        def reply(request: dict[str, Any]) -> Any:
            assert request["tool_choice"]["type"] == "tool"  # asked for the type
            name = request["tool_choice"]["name"]
            args = {"answer": answer, "confidence": confidence}
            return {"content": [{"type": "tool_use", "id": "o", "name": name, "input": args}]}

        return reply

    team = Team(
        [
            member("a", [], structured("B", 0.9)),
            member("b", [], structured("b ", 0.6)),
            member("c", [], structured("C", 0.99)),
        ]
    )
    decision = await team.decide("which?", strategy="majority", output_type=Choice)
    assert (decision.answer, decision.outcome) == ("b", "agreed")
    confident = await team.decide("which?", strategy="confidence", output_type=Choice)
    assert confident.answer == "b"  # 0.9 + 0.6 outweighs 0.99
    assert team.agents["a"].output is None  # the member itself is unchanged


async def test_a_judge_groups_free_text_answers_that_mean_the_same() -> None:
    def judge_reply(request: dict[str, Any]) -> str:
        prompt = last_text(request)
        if "Group the answers" in prompt:  # 1. it is paris  2. lyon  3. paris
            return "1, 3\n2"
        return "1" if "Answer 1: it is paris" in prompt else "2"

    judge = member("judge", [], judge_reply)
    team = Team(
        [
            member("a", [], lambda r: "Paris"),
            member("b", [], lambda r: "It is Paris"),
            member("c", [], lambda r: "Lyon"),
        ]
    )
    ungrouped = await team.decide("Capital of France?", strategy="majority")
    assert ungrouped.outcome == "tie"  # three different strings
    events = await collect(team.stream_decide("Capital of France?", strategy="judge", judge=judge))
    decision = events[-1]
    assert isinstance(decision, Decided)
    assert (decision.decision.answer, decision.decision.outcome) == ("it is paris", "agreed")
    verdicts = sorted((v.order, v.pick) for v in events if isinstance(v, VerdictGiven))
    assert verdicts == [(1, "it is paris"), (2, "it is paris")]
    unreadable = member("judge2", [], lambda r: "they all differ")
    kept = await team.decide("Capital?", strategy="majority", judge=unreadable)
    assert kept.outcome == "tie"  # a grouping it cannot read leaves the answers as they were


async def test_bad_decide_options_say_what_is_wrong() -> None:
    team = Team([echoing("a", [])])
    with pytest.raises(ConfigError, match="needs a question"):
        await team.decide("  ")
    with pytest.raises(ConfigError, match="one of majority"):
        await team.decide("?", strategy="vote")


async def test_a_reader_that_leaves_a_stream_early_stops_the_run() -> None:
    slow, started, stopped = hanging("a")
    async with Team([slow], bid_window=0.05) as team:
        stream = team.stream_assign("python", "fix it")
        async for event in stream:
            if isinstance(event, Awarded):
                break
        await stream.aclose()  # type: ignore[attr-defined]
        assert not team._waiting  # the assignment is gone
        await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(stopped.wait(), 5)  # closing the team stopped the member's run


async def test_a_cancelled_assignment_stops_the_members_run_while_the_team_goes_on() -> None:
    slow, started, stopped = hanging("a")
    async with Team([slow], bid_window=0.05) as team:
        assigning = asyncio.create_task(team.assign("python", "fix it"))
        await asyncio.wait_for(started.wait(), 5)
        assigning.cancel()  # whoever asked has gone: the awardee is told to stop
        await asyncio.wait_for(stopped.wait(), 5)  # the team is still open
        assert team._running["a"] == 0


async def test_an_awardee_that_missed_the_deadline_of_a_failed_task_is_stopped() -> None:
    slow, started, stopped = hanging("a")
    async with Team([slow], bid_window=0.05, task_timeout=0.3, max_awards=1) as team:
        with pytest.raises(TaskFailedError):
            await team.assign("python", "fix it")
        await asyncio.wait_for(stopped.wait(), 5)  # not left running past the failure
        assert started.is_set() and team._running["a"] == 0


async def test_a_task_no_one_matches_streams_its_failure() -> None:
    async with Team([echoing("a", PY)], bid_window=0.05) as team:
        events = await collect(team.stream_assign(None, "bake a cake"))
    assert [type(e) for e in events] == [TaskFailed]
    assert "matches" in events[0].reason  # type: ignore[attr-defined]


async def test_supervise_leaves_no_team_task_behind() -> None:
    from chorus.team.delegation import in_task

    boss = member("boss", [], lambda r: "nothing to split", tools=[delegate_tool])
    async with Team([echoing("a", PY)], bid_window=0.05) as team:
        await supervise(team, boss, "x")
    assert in_task.get() is None


async def test_a_listener_that_fails_or_leaves_does_not_break_the_run() -> None:
    heard: list[str] = []
    async with Team([echoing("a", PY)], bid_window=0.05) as team:

        def broken(event: TeamEvent) -> None:
            raise RuntimeError("watcher down")

        stop: list[Any] = []
        stop.append(team.listen(lambda e: stop[0]()))  # leaves as soon as it hears
        team.listen(broken)
        team.listen(lambda e: heard.append(e.kind))
        done = await team.assign("python", "fix it")
        stop[0]()  # stopping twice is harmless
    assert done.agent == "a" and heard[-1] == "task_completed"


async def test_a_debate_keeps_the_members_that_abstained() -> None:
    def broken(request: dict[str, Any]) -> str:
        raise RuntimeError("down")

    team = Team(
        [member("a", [], lambda r: "A"), member("b", [], lambda r: "B"), member("c", [], broken)]
    )
    decision = await team.decide("which?", strategy="debate")
    assert sorted(a.agent for a in decision.answers) == ["a", "b", "c"]
    assert next(a for a in decision.answers if a.agent == "c").value is None
