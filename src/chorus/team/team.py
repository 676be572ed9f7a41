"""A team of agents: work assigned by capability over the bus, and decisions between answers.

``await team.assign("python", "fix the failing test")`` asks only the live agents that
advertise the capability for a bid, awards the task to the best bid by agent id, and waits
for the result. An awardee that fails, or misses its deadline, is replaced by the next best
bidder, while any is left. Each task carries one idempotency key: an agent that is handed
the same task twice runs it once, and a late result from an awardee that was given up on
still completes the task, once.

Every member runs a small worker on its own inbox: it answers calls for bids from what it
knows of itself (how many tasks it runs and how many wait, so no model call per bid),
runs the tasks it is awarded with its own context (the task, never the team's history),
and reports the result. Messages per task with k capable agents: 2k + 2.

``await team.decide(question)`` asks members the same question at once and decides between
their answers (:mod:`chorus.team.consensus`); ``team.feedback(decision, truth)``
teaches the weighted strategy who is reliable.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chorus.errors import ConfigError, TaskFailedError
from chorus.team.allocation import (
    Award,
    Bid,
    CallForBids,
    Completed,
    ContractNet,
    Failed,
    Wait,
    bid,
)
from chorus.team.bus import Bus, LocalBus
from chorus.team.consensus import (
    Answer,
    Decision,
    Reliability,
    candidates,
    confidence_weighted,
    judged,
    majority,
    reliability_weighted,
)
from chorus.team.envelope import Address, Envelope, envelope_id
from chorus.team.registry import LocalRegistry

if TYPE_CHECKING:
    from chorus.agent.agent import Agent

__all__ = ["TaskResult", "Team"]


@dataclass(frozen=True, slots=True)
class TaskResult:
    """A task's outcome: who did it, what it returned, and how many awards it took."""

    task_id: str
    agent: str
    output: Any
    awards: int
    tokens: int = 0  # model tokens (input and output) the task's run used


class Team:
    """Agents that take work by capability and decide together."""

    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        bus: Bus | None = None,
        registry: LocalRegistry | None = None,
        bid_window: float = 0.5,
        task_timeout: float = 120.0,
        max_awards: int = 3,
        heartbeat_ttl: float = 30.0,
        options: int = 4,
        metrics: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = [a.name for a in agents]
        if not agents:
            raise ConfigError("a team needs at least one agent")
        if len(set(names)) != len(names):
            raise ConfigError(f"agents in a team need distinct names; got {names}")
        self.agents = {a.name: a for a in agents}
        self.registry = registry or LocalRegistry(clock=clock)
        self.metrics = metrics  # a chorus.observe.TeamMetrics, or None
        self.bus: Bus = bus or LocalBus(
            resolve=lambda capability: [m.name for m in self.registry.capable(capability)],
            observe=metrics.message if metrics is not None else None,
        )
        self.bid_window, self.task_timeout, self.max_awards = bid_window, task_timeout, max_awards
        self.heartbeat_ttl = heartbeat_ttl
        self._clock = clock
        self._me = f"team-{uuid.uuid4().hex[:8]}"
        self._seq = itertools.count(1)
        self._waiting: dict[str, asyncio.Queue[Envelope]] = {}
        self._running: dict[str, int] = dict.fromkeys(names, 0)
        self._done: dict[str, tuple[bool, Any]] = {}  # idempotency key -> (ok, output)
        self._tasks: list[asyncio.Task[None]] = []
        self.reliability = Reliability(options=options)
        for agent in agents:
            self.registry.advertise(agent.name, agent.capabilities, ttl=heartbeat_ttl)
            self.bus.register(agent.name)
        self.bus.register(self._me)

    async def __aenter__(self) -> Team:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        """Start each member's worker (assign() does it when needed)."""
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._dispatch()))
        for name in self.agents:
            self._tasks.append(asyncio.create_task(self._worker(name)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def stop_member(self, name: str) -> None:
        """Stop a member's worker, as a crash would: it answers nothing from now on."""
        index = list(self.agents).index(name) + 1
        if self._tasks:
            self._tasks[index].cancel()

    async def assign(
        self, capability: str | None, task: str, *, task_id: str | None = None
    ) -> TaskResult:
        """Have a capable, free agent do ``task``; ``capability`` None finds one by the
        task's words. Raises TaskFailedError when no capable agent could do it."""
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("assign() needs a task")
        if capability is None:
            matched = self.registry.match(task, k=1)
            if not matched:
                raise TaskFailedError(f"no agent advertises anything that matches {task!r}")
            capability = matched[0][1].name
        self.start()
        task_id = task_id or uuid.uuid4().hex[:12]
        inbox = self._waiting[task_id] = asyncio.Queue()
        net = ContractNet(
            task_id,
            capability,
            [m.name for m in self.registry.capable(capability)],
            bid_window=self.bid_window,
            task_timeout=self.task_timeout,
            max_awards=self.max_awards,
        )
        try:
            while True:
                action = net.next(self._clock())
                if isinstance(action, Completed):
                    outcome: tuple[Any, int] = action.result  # type: ignore[assignment]
                    if self.metrics is not None:
                        self.metrics.task(capability, "completed", len(net.tried))
                    return TaskResult(task_id, action.agent, outcome[0], len(net.tried), outcome[1])
                if isinstance(action, Failed):
                    if self.metrics is not None:
                        self.metrics.task(capability, "failed", len(net.tried))
                    raise TaskFailedError(action.reason)
                if isinstance(action, CallForBids):
                    for agent in action.agents:
                        await self._send("cfp", agent, task_id, {"capability": capability})
                    continue
                if isinstance(action, Award):
                    payload = {"task": task, "key": net.idempotency_key}
                    await self._send("award", action.agent, task_id, payload)
                    continue
                assert isinstance(action, Wait)
                try:
                    reply = await asyncio.wait_for(
                        inbox.get(), max(0.0, action.until - self._clock())
                    )
                except TimeoutError:
                    for name in net.tried[-1:]:
                        if not self.registry.alive(name):
                            net.on_agent_lost(name)
                    continue
                if reply.kind == "bid":
                    net.on_bid(Bid(reply.sender, float(reply.payload["score"])))
                elif reply.kind == "result":
                    ok = bool(reply.payload["ok"])
                    outcome = (reply.payload["output"], int(reply.payload.get("tokens", 0)))
                    net.on_result(reply.sender, ok=ok, result=outcome)
        finally:
            self._waiting.pop(task_id, None)

    async def decide(
        self,
        question: str,
        *,
        among: Sequence[str] | None = None,
        strategy: str = "weighted",
        capability: str = "",
        quorum: int = 1,
        judge: Agent | None = None,
    ) -> Decision:
        """Ask ``among`` (names; default: every member) the same question at once and
        decide between their answers by ``strategy``: "majority", "confidence" or
        "weighted" (each agent's track record on ``capability``, learned from
        :meth:`feedback`). An answer is the agent's output (its ``answer`` field, if it
        has one; a ``confidence`` field is its stated confidence); an agent that fails
        abstains. Each agent sees the question only, not the others' answers.

        "judge": ``judge`` (an agent) is shown the two leading answers twice, in both orders,
        and asked which is right; a verdict that flips with the order is a tie."""
        if strategy not in ("majority", "confidence", "weighted", "judge"):
            raise ConfigError(
                "decide(strategy=...) is one of majority, confidence, weighted, judge; "
                f"got {strategy!r}"
            )
        if strategy == "judge" and judge is None:
            raise ConfigError('decide(strategy="judge") needs judge=<an agent>')
        names = list(among) if among is not None else list(self.agents)
        unknown = [n for n in names if n not in self.agents]
        if unknown or not names:
            raise ConfigError(f"decide(among=...) names no member of this team: {unknown}")
        answers = await asyncio.gather(*(self._answer(self.agents[n], question) for n in names))
        if strategy == "majority":
            decision = majority(answers, quorum=quorum)
        elif strategy == "confidence":
            decision = confidence_weighted(answers, quorum=quorum)
        elif strategy == "judge":
            assert judge is not None
            decision = await self._judge(judge, question, answers)
        else:
            decision = reliability_weighted(
                answers, self.reliability, capability=capability, quorum=quorum
            )
        if self.metrics is not None:
            self.metrics.decision(strategy, decision.outcome)
        return replace(decision, capability=capability)  # what feedback() learns about

    def feedback(self, decision: Decision, correct: Any) -> None:
        """The truth about a decision, once known: each agent's record learns from it."""
        self.reliability.feedback(decision.answers, _comparable(correct), decision.capability)

    async def _judge(self, judge: Agent, question: str, answers: list[Answer]) -> Decision:
        pair = candidates(answers)
        if len(pair) < 2:
            return judged(answers, pair[0] if pair else None, pair[0] if pair else None)
        ask = (
            "{question}\n\nTwo answers were given.\nAnswer 1: {a}\nAnswer 2: {b}\n"
            "Which answer is right? Reply with 1 or 2 only."
        )
        first, swapped = await asyncio.gather(
            self._verdict(judge, ask.format(question=question, a=pair[0], b=pair[1])),
            self._verdict(judge, ask.format(question=question, a=pair[1], b=pair[0])),
        )
        pick_first = {1: pair[0], 2: pair[1]}.get(first) if first else None
        pick_swapped = {1: pair[1], 2: pair[0]}.get(swapped) if swapped else None
        return judged(answers, pick_first, pick_swapped)

    @staticmethod
    async def _verdict(judge: Agent, prompt: str) -> int | None:
        """1 or 2, the first of them the judge's reply names; None if it names neither."""
        try:
            text = str((await judge.run(prompt)).output)
        except Exception:  # a judge that fails gives no verdict: a tie
            return None
        for char in text:
            if char in "12":
                return int(char)
        return None

    async def _answer(self, agent: Agent, question: str) -> Answer:
        try:
            output = (await agent.run(question)).output
        except Exception:  # one member's failure is its abstention, not the team's
            return Answer(agent.name, None)
        value = _field(output, "answer", output)
        confidence = _field(output, "confidence", None)
        return Answer(
            agent.name,
            _comparable(value),
            float(confidence) if isinstance(confidence, int | float) else None,
        )

    # ------------------------------------------------------------------ the members

    async def _worker(self, name: str) -> None:
        agent = self.agents[name]
        runs: set[asyncio.Task[None]] = set()
        while True:
            envelope = await self.bus.receive(name, wait=self.heartbeat_ttl / 3)
            self.registry.heartbeat(
                name, load=min(1.0, self._running[name]), queue=self.bus.pending(name)
            )
            if envelope is None:
                continue
            if envelope.kind == "cfp":
                offer = bid(name, load=min(1.0, self._running[name]), queue=len(runs))
                await self._send(
                    "bid",
                    envelope.sender,
                    envelope.correlation,
                    {"score": offer.score},
                    sender=name,
                )
            elif envelope.kind == "award":
                run = asyncio.create_task(self._run(agent, envelope))
                runs.add(run)
                run.add_done_callback(runs.discard)

    async def _run(self, agent: Agent, award: Envelope) -> None:
        key = str(award.payload["key"])
        done = self._done.get(key)
        tokens = 0
        if done is None:
            self._running[agent.name] += 1
            try:
                result = await agent.run(str(award.payload["task"]))
                done = (True, result.output)
                tokens = result.usage.input_tokens + result.usage.output_tokens
            except Exception as exc:  # the task failed here: the team re-awards it
                done = (False, f"{type(exc).__name__}: {exc}")
            finally:
                self._running[agent.name] -= 1
            if done[0]:
                self._done[key] = done
        payload = {"ok": done[0], "output": done[1], "tokens": tokens}
        await self._send("result", award.sender, award.correlation, payload, sender=agent.name)

    async def _dispatch(self) -> None:
        """Route what members send the team to the task it belongs to."""
        while True:
            envelope = await self.bus.receive(self._me)
            if envelope is None:
                continue
            waiting = self._waiting.get(envelope.correlation)
            if waiting is not None:
                waiting.put_nowait(envelope)

    async def _send(
        self, kind: str, to: str, correlation: str, payload: Any, *, sender: str | None = None
    ) -> None:
        sender = sender or self._me
        envelope = Envelope(
            envelope_id(sender, kind, correlation, next(self._seq)),
            kind,
            sender,
            Address("agent", to),
            correlation,
            payload=payload,
        )
        await self.bus.send(envelope)


def _field(output: Any, name: str, default: Any) -> Any:
    if isinstance(output, dict):
        return output.get(name, default)
    return getattr(output, name, default)


def _comparable(value: Any) -> Any:
    """Answers compare by value: text by its stripped, case-folded words, anything that
    does not hash (a dict, a list) by its sorted JSON."""
    if isinstance(value, str):
        return " ".join(value.split()).casefold()
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)
    return value
