"""A team of agents: work assigned by capability over the bus, and decisions between answers.

``await team.assign("python", "fix the failing test")`` asks only the live agents that
advertise the capability for a bid, awards the task to the best bid by agent id, and waits
for the result. An awardee that fails, goes silent (no heartbeat within its TTL) or misses
its deadline is replaced by the next best bidder, while any is left. Each task carries one
idempotency key: an agent that is handed the same task twice runs it once, and a late
result from an awardee that was given up on still completes the task, once.

Every member runs a small worker on its own inbox: it answers calls for bids from what it
knows of itself (how many tasks it runs and how many wait, so no model call per bid;
a member whose last runs failed bids worse for a cool-down: ``failing_penalty``),
runs the tasks it is awarded with its own context (the task, never the team's history),
and reports the result. Messages per task with k capable agents: 2k + 2.

``await team.decide(question)`` asks members the same question at once and decides between
their answers (:mod:`chorus.team.consensus`); ``team.feedback(decision, truth)``
teaches the weighted strategy who is reliable.

``stream_assign`` and ``stream_decide`` are the same runs, yielding
:mod:`chorus.team.events` as they happen; ``team.listen(fn)`` hears every run's events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
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
    failing_penalty,
)
from chorus.team.asking import Asking, comparable
from chorus.team.bus import Bus, LocalBus
from chorus.team.consensus import (
    Decision,
    Reliability,
    confidence_weighted,
    judged,
    majority,
    reliability_weighted,
)
from chorus.team.delegation import InTask, in_task
from chorus.team.envelope import Address, Envelope, HopLimitError, envelope_id
from chorus.team.events import (
    Awarded,
    AwardEnded,
    BidReceived,
    CalledForBids,
    Decided,
    TaskCompleted,
    TaskFailed,
    TaskResult,
    TeamEvent,
)
from chorus.team.registry import LocalRegistry

if TYPE_CHECKING:
    from chorus.agent.agent import Agent
    from chorus.team.remote import RemoteAgent

__all__ = ["STRATEGIES", "TaskResult", "Team"]

STRATEGIES = ("majority", "confidence", "weighted", "judge", "debate", "self_consistency")
Emit = Callable[[TeamEvent], None]
_log = logging.getLogger("chorus.team")
_DONE_MEMORY = 65_536  # idempotency keys of finished tasks kept (a redelivery comes soon)


class Team:
    """Agents that take work by capability and decide together."""

    def __init__(
        self,
        agents: Sequence[Agent | RemoteAgent],
        *,
        bus: Bus | None = None,
        registry: LocalRegistry | None = None,
        bid_window: float = 0.5,
        task_timeout: float = 120.0,
        max_awards: int = 3,
        max_hops: int = 3,
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
        if not isinstance(max_hops, int) or max_hops < 0:
            raise ConfigError("Team(max_hops=...) is a whole number of delegations, 0 or more")
        self.agents = {a.name: a for a in agents}
        self.registry = registry or LocalRegistry(clock=clock)
        self.metrics = metrics  # a chorus.observe.TeamMetrics, or None
        self.bus: Bus = bus or LocalBus(
            resolve=lambda capability: [m.name for m in self.registry.capable(capability)],
            observe=metrics.message if metrics is not None else None,
        )
        self.bid_window, self.task_timeout, self.max_awards = bid_window, task_timeout, max_awards
        self.max_hops = max_hops
        self.heartbeat_ttl = heartbeat_ttl
        self._clock = clock
        self._me = f"team-{uuid.uuid4().hex[:8]}"
        self._seq = itertools.count(1)
        self._waiting: dict[str, asyncio.Queue[Envelope]] = {}
        self._running: dict[str, int] = dict.fromkeys(names, 0)
        # (failed runs in a row, when the last ended): a failing member bids worse
        self._failing: dict[str, tuple[int, float]] = {}
        self._done: OrderedDict[str, tuple[bool, Any]] = OrderedDict()  # key -> (ok, output)
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._listeners: list[Emit] = []
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
        if self._dispatcher is not None:
            return
        self._dispatcher = asyncio.create_task(self._dispatch())
        for name in self.agents:
            self._workers[name] = asyncio.create_task(self._worker(name))

    async def close(self) -> None:
        tasks = [*self._workers.values(), *([self._dispatcher] if self._dispatcher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        self._dispatcher = None

    def stop_member(self, name: str) -> None:
        """Stop a member as a crash would: its worker and the tasks it runs end, it sends
        nothing more and stops heartbeating, so the registry drops it within its TTL."""
        worker = self._workers.get(name)
        if worker is not None:
            worker.cancel()

    def listen(self, listener: Emit) -> Callable[[], None]:
        """Hear every event of every run of this team; returns the call that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    # ------------------------------------------------------------------ assigning

    async def assign(
        self,
        capability: str | None,
        task: str,
        *,
        task_id: str | None = None,
        hops: int = 0,
    ) -> TaskResult:
        """Have a capable, free agent do ``task``; ``capability`` None finds one by the
        task's words. Raises TaskFailedError when no capable agent could do it."""
        return await self._assign(capability, task, task_id, hops, self._emitter(None))

    def stream_assign(
        self, capability: str | None, task: str, *, task_id: str | None = None
    ) -> AsyncIterator[TeamEvent]:
        """Assign, yielding who was asked, the bids, the awards and the end (the last event
        is TaskCompleted or TaskFailed)."""
        return self._stream(lambda emit: self._assign(capability, task, task_id, 0, emit))

    async def _assign(
        self, capability: str | None, task: str, task_id: str | None, hops: int, emit: Emit
    ) -> TaskResult:
        if not isinstance(task, str) or not task.strip():
            raise ConfigError("assign() needs a task")
        if hops > self.max_hops:
            raise HopLimitError(
                f"a task was delegated {hops} times, past the team's max_hops={self.max_hops}: "
                "a delegation cycle?"
            )
        matched = self.registry.match(task, k=1) if capability is None else []
        task_id = task_id or uuid.uuid4().hex[:12]
        if capability is None:
            if not matched:
                reason = f"no agent advertises anything that matches {task!r}"
                emit(TaskFailed(task_id, reason))
                raise TaskFailedError(reason)
            capability = matched[0][1].name
        self.start()
        inbox = self._waiting[task_id] = asyncio.Queue()
        net = ContractNet(
            task_id,
            capability,
            [m.name for m in self.registry.capable(capability)],
            bid_window=self.bid_window,
            task_timeout=self.task_timeout,
            max_awards=self.max_awards,
        )
        why: str | None = None  # why the last awardee was given up on
        try:
            while True:
                action = net.next(self._clock())
                if isinstance(action, Completed):
                    outcome: tuple[Any, int] = action.result  # type: ignore[assignment]
                    if self.metrics is not None:
                        self.metrics.task(capability, "completed", len(net.tried))
                    result = TaskResult(
                        task_id, action.agent, outcome[0], len(net.tried), outcome[1]
                    )
                    emit(TaskCompleted(task_id, result))
                    return result
                if isinstance(action, Failed):
                    if net.tried:
                        emit(AwardEnded(task_id, net.tried[-1], why or "missed its deadline"))
                        await self._stop_award(net.tried[-1], task_id)  # (it may run on)
                    if self.metrics is not None:
                        self.metrics.task(capability, "failed", len(net.tried))
                    emit(TaskFailed(task_id, action.reason))
                    raise TaskFailedError(action.reason)
                if isinstance(action, CallForBids):
                    emit(CalledForBids(task_id, capability, action.agents, hops))
                    for agent in action.agents:
                        await self._send("cfp", agent, task_id, {"capability": capability})
                    continue
                if isinstance(action, Award):
                    if len(net.tried) > 1:
                        emit(AwardEnded(task_id, net.tried[-2], why or "missed its deadline"))
                        why = None
                        await self._stop_award(net.tried[-2], task_id)
                    emit(Awarded(task_id, action.agent, action.attempt))
                    payload = {"task": task, "key": net.idempotency_key, "hops": hops}
                    await self._send("award", action.agent, task_id, payload)
                    continue
                assert isinstance(action, Wait)
                why = await self._wait(net, inbox, action, emit) or why
        except BaseException:
            if net.phase == "awarded" and net.tried:  # cancelled, or stopped: so is the work
                await self._stop_award(net.tried[-1], task_id)
            raise
        finally:
            self._waiting.pop(task_id, None)

    async def _stop_award(self, agent: str, task_id: str) -> None:
        """Tell an awardee to stop its run of a task nobody waits for any more (best effort:
        a member that never hears it finishes a result no one reads)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._send("cancel", agent, task_id, {})), 1.0)

    async def _wait(
        self, net: ContractNet, inbox: asyncio.Queue[Envelope], action: Wait, emit: Emit
    ) -> str | None:
        """The next reply, or the awardee's liveness checked at least every third of the
        heartbeat TTL: one that went silent is given up on within its TTL, not its deadline.
        Returns why the awardee is being given up on, if it is."""
        now = self._clock()
        slice_ = action.until - now
        if net.phase == "awarded":
            slice_ = min(slice_, self.heartbeat_ttl / 3)
        try:
            reply = await asyncio.wait_for(inbox.get(), max(0.0, slice_))
        except TimeoutError:
            for name in net.tried[-1:]:
                if net.phase == "awarded" and not self.registry.alive(name):
                    net.on_agent_lost(name)
                    return "stopped heartbeating"
            return None
        if reply.kind == "bid":
            score = float(reply.payload["score"])
            emit(BidReceived(net.task_id, reply.sender, score))
            net.on_bid(Bid(reply.sender, score))
        elif reply.kind == "result":
            ok = bool(reply.payload["ok"])
            outcome = (reply.payload["output"], int(reply.payload.get("tokens", 0)))
            net.on_result(reply.sender, ok=ok, result=outcome)
            if not ok and net.tried and reply.sender == net.tried[-1]:
                return f"failed: {reply.payload['output']}"
        return None

    # ------------------------------------------------------------------ deciding

    async def decide(
        self,
        question: str,
        *,
        among: Sequence[str] | None = None,
        strategy: str = "weighted",
        capability: str = "",
        quorum: int = 1,
        judge: Agent | None = None,
        output_type: Any = None,
        rounds: int = 1,
        samples: int = 5,
    ) -> Decision:
        """Ask ``among`` (names; default: every member) the same question at once and
        decide between their answers by ``strategy``:

        * "majority"; "confidence" (each vote weighs the confidence the agent stated);
          "weighted" (each agent's track record on ``capability``, learned from
          :meth:`feedback`);
        * "judge": ``judge`` (an agent) is shown the two leading answers twice, in both
          orders, and asked which is right; a verdict that flips with the order is a tie;
        * "debate": after the first answers, ``rounds`` (1 or 2) more in which each agent
          sees the others' answers and answers again; then the majority;
        * "self_consistency": each agent answers ``samples`` times; the majority of all.

        Each agent sees the question only, never the team's history. An answer is the
        agent's output (its ``answer`` field, if it has one; a ``confidence`` field is its
        stated confidence); with ``output_type`` every agent answers in that type, and
        answers compare by value. Free-text answers compare by their words; given a
        ``judge``, they are first grouped by what they mean. An agent that fails abstains.
        """
        return await self._decide(
            question,
            self._emitter(None),
            among=among,
            strategy=strategy,
            capability=capability,
            quorum=quorum,
            judge=judge,
            output_type=output_type,
            rounds=rounds,
            samples=samples,
        )

    def stream_decide(self, question: str, **options: Any) -> AsyncIterator[TeamEvent]:
        """Decide (the same options as :meth:`decide`), yielding who was asked, each
        answer and verdict, and last the Decided event."""
        return self._stream(lambda emit: self._decide(question, emit, **options))

    async def _decide(
        self,
        question: str,
        emit: Emit,
        *,
        among: Sequence[str] | None = None,
        strategy: str = "weighted",
        capability: str = "",
        quorum: int = 1,
        judge: Agent | None = None,
        output_type: Any = None,
        rounds: int = 1,
        samples: int = 5,
    ) -> Decision:
        if strategy not in STRATEGIES:
            raise ConfigError(
                f"decide(strategy=...) is one of {', '.join(STRATEGIES)}; got {strategy!r}"
            )
        if not isinstance(question, str) or not question.strip():
            raise ConfigError("decide() needs a question")
        if strategy == "judge" and judge is None:
            raise ConfigError('decide(strategy="judge") needs judge=<an agent>')
        if rounds not in (1, 2):
            raise ConfigError(f"decide(rounds=...) is 1 or 2 (a bounded debate); got {rounds!r}")
        if not isinstance(samples, int) or not 1 <= samples <= 20:
            raise ConfigError(f"decide(samples=...) is 1 to 20; got {samples!r}")
        names = list(among) if among is not None else list(self.agents)
        unknown = [n for n in names if n not in self.agents]
        if unknown or not names:
            raise ConfigError(f"decide(among=...) names no member of this team: {unknown}")
        agents = [self.agents[n] for n in names]
        if output_type is not None:
            agents = [a.with_output(output_type) for a in agents]
        asking = Asking(uuid.uuid4().hex[:12], question, emit)
        answers = await asking.everyone(
            agents, samples=samples if strategy == "self_consistency" else 1
        )
        if strategy == "debate":
            answers = await asking.debate(agents, answers, rounds)
        if judge is not None and output_type is None and any(a.output is None for a in agents):
            answers = await asking.group(judge, answers)  # free text: grouped by meaning
        if strategy in ("majority", "debate", "self_consistency"):
            decision = replace(majority(answers, quorum=quorum), strategy=strategy)
        elif strategy == "confidence":
            decision = confidence_weighted(answers, quorum=quorum)
        elif strategy == "judge":
            assert judge is not None
            decision = judged(answers, *await asking.judge(judge, answers))
        else:
            decision = reliability_weighted(
                answers, self.reliability, capability=capability, quorum=quorum
            )
        decision = replace(decision, capability=capability, tokens=asking.tokens)
        if self.metrics is not None:
            self.metrics.decision(strategy, decision.outcome)
        emit(Decided(asking.id, decision))
        return decision

    def feedback(self, decision: Decision, correct: Any) -> None:
        """The truth about a decision, once known: each agent's record learns from it."""
        self.reliability.feedback(decision.answers, comparable(correct), decision.capability)

    # ------------------------------------------------------------------ events

    def _emitter(self, queue: asyncio.Queue[Any] | None) -> Emit:
        listeners = self._listeners

        def emit(event: TeamEvent) -> None:
            if queue is not None:
                queue.put_nowait(event)
            for listener in tuple(listeners):  # one may stop listening as it hears
                try:
                    listener(event)
                except Exception:  # a watcher's fault is not the run's
                    _log.exception("a team listener failed on %s", event.kind)

        return emit

    async def _stream(self, run: Callable[[Emit], Awaitable[Any]]) -> AsyncIterator[TeamEvent]:
        events: asyncio.Queue[Any] = asyncio.Queue()
        end = object()

        async def job() -> None:
            try:
                await run(self._emitter(events))
            finally:
                events.put_nowait(end)

        running = asyncio.create_task(job())
        try:
            while (event := await events.get()) is not end:
                yield event
            with contextlib.suppress(TaskFailedError):  # its TaskFailed event said so
                await running
        finally:
            if not running.done():  # the reader left early: the run stops with it
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)

    # ------------------------------------------------------------------ the members

    async def _worker(self, name: str) -> None:
        agent = self.agents[name]
        runs: set[asyncio.Task[None]] = set()
        doing: dict[str, asyncio.Task[None]] = {}  # task id -> this member's run of it
        try:
            while True:
                envelope = await self.bus.receive(name, wait=self.heartbeat_ttl / 3)
                self.registry.heartbeat(
                    name, load=min(1.0, self._running[name]), queue=self.bus.pending(name)
                )
                if envelope is None:
                    continue
                if envelope.kind == "cfp":
                    failures, last = self._failing.get(name, (0, 0.0))
                    offer = bid(
                        name,
                        load=min(1.0, self._running[name]),
                        queue=len(runs),
                        penalty=failing_penalty(failures, self._clock() - last),
                    )
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
                    doing[envelope.correlation] = run
                    run.add_done_callback(_forget(doing, envelope.correlation))
                elif envelope.kind == "cancel":  # the task was cancelled, or re-awarded
                    stopped = doing.pop(envelope.correlation, None)
                    if stopped is not None:
                        stopped.cancel()
        finally:  # a stopped member's tasks stop with it
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)

    async def _run(self, agent: Agent | RemoteAgent, award: Envelope) -> None:
        key = str(award.payload["key"])
        done = self._done.get(key)
        tokens = 0
        if done is None:
            hops = int(award.payload["hops"])
            in_task.set(InTask(self, award.correlation, agent.name, hops, award.id))
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
                self._failing.pop(agent.name, None)
            else:
                failures = self._failing.get(agent.name, (0, 0.0))[0]
                self._failing[agent.name] = (failures + 1, self._clock())
            if done[0]:
                self._done[key] = done
                if len(self._done) > _DONE_MEMORY:
                    self._done.popitem(last=False)
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


def _forget(doing: dict[str, asyncio.Task[None]], task_id: str) -> Callable[[Any], None]:
    """A done callback: the member's run of ``task_id`` is over (if it is still that run)."""

    def forget(run: Any) -> None:
        if doing.get(task_id) is run:
            del doing[task_id]

    return forget
