"""Who does a task: a contract net as a pure state machine, like the agent's loop.

One :class:`ContractNet` per task. It asks only the capable, healthy agents it was given
for bids; a bid is computed by the bidder from its own load, queue and price, with no
model call (:func:`bid`); the award goes to the best bid by agent id, never by matching a
string a model wrote. If the awardee fails, crashes or misses its deadline, the task goes
to the next best bid, and so on while any bidder is left: the task completes as long as
one capable agent is alive. It carries one idempotency key, so a re-awarded task that the
first awardee did finish after all is applied once.

The driver asks :meth:`ContractNet.next` what to do and reports what happened:

    net = ContractNet("task-1", "python", candidates=["a", "b", "c"])
    while not isinstance(action := net.next(now), (Completed, Failed)):
        match action:
            case CallForBids(agents):   send a call for bids to each; net.on_bid(...)
            case Award(agent):          send the task; later net.on_result(agent, ok=...)
            case Wait(until):           sleep until then, or until a message arrives

Messages per task with k capable agents: k calls for bids, at most k bids, one award and
one result: 2k + 2, whatever the size of the team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Award",
    "Bid",
    "CallForBids",
    "Completed",
    "ContractNet",
    "Failed",
    "Wait",
    "bid",
    "failing_penalty",
]

FAILING = 1000.0  # what a failing member adds to its bids: more than any working one's


@dataclass(frozen=True, slots=True)
class Bid:
    """What an agent offers for a task: lower ``score`` is better."""

    agent: str
    score: float


def bid(agent: str, *, load: float, queue: int, price: float = 0.0, penalty: float = 0.0) -> Bid:
    """A bid from what the agent knows of itself: how busy it is (``load`` in [0, 1] of its
    concurrency, ``queue`` tasks waiting), what a task costs it, and how it has been doing
    (``penalty``: :func:`failing_penalty`). No model call."""
    if not 0 <= load <= 1 or queue < 0 or price < 0 or penalty < 0:
        raise ValueError("a bid needs 0 <= load <= 1 and queue, price, penalty >= 0")
    return Bid(agent, load + queue + price + penalty)


def failing_penalty(failures: int, since: float, *, longest: float = 60.0) -> float:
    """What a member adds to its bids after ``failures`` failed runs in a row, the last one
    ``since`` seconds ago: out-bid by any member that works for a cool-down that doubles
    with each failure (1 s, 2 s, 4 s ... up to ``longest``), then nothing, so its next
    award is a probe. A member that is down (a remote server gone, a model in an outage)
    then costs the team one failed award per cool-down, not one per task; when it is the
    only capable member, it is still awarded the task."""
    if failures <= 0:
        return 0.0
    cooldown = min(longest, 2.0 ** min(failures - 1, 30))
    return FAILING if since < cooldown else 0.0


@dataclass(frozen=True, slots=True)
class CallForBids:
    agents: tuple[str, ...]
    deadline: float  # bids after this are not waited for


@dataclass(frozen=True, slots=True)
class Award:
    agent: str
    deadline: float  # the awardee's result is due by then
    attempt: int  # 1 for the first award, 2 after one re-award, ...


@dataclass(frozen=True, slots=True)
class Wait:
    until: float


@dataclass(frozen=True, slots=True)
class Completed:
    agent: str
    result: object


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


Action = CallForBids | Award | Wait | Completed | Failed
_Phase = Literal["new", "bidding", "awarded", "completed", "failed"]


@dataclass
class ContractNet:
    """The allocation of one task among ``candidates`` (capable and healthy, by the registry)."""

    task_id: str
    capability: str
    candidates: list[str]
    bid_window: float = 1.0  # how long bids are waited for
    task_timeout: float = 60.0  # how long an awardee has for its result
    max_awards: int = 3  # awards tried before the task fails
    phase: _Phase = "new"
    bids: dict[str, Bid] = field(default_factory=dict)
    tried: list[str] = field(default_factory=list)  # awardees, in order
    _deadline: float = 0.0
    _result: Completed | Failed | None = None

    def __post_init__(self) -> None:
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError("candidates must be distinct agents")
        if self.bid_window <= 0 or self.task_timeout <= 0 or self.max_awards < 1:
            raise ValueError("bid_window and task_timeout must be > 0, max_awards >= 1")

    @property
    def idempotency_key(self) -> str:
        """The same for every award of this task: an awardee applies it at most once."""
        return f"task:{self.task_id}"

    def next(self, now: float) -> Action:
        """What the driver does now."""
        if self._result is not None:
            return self._result
        if self.phase == "new":
            if not self.candidates:
                return self._fail(f"no capable agent is available for {self.capability!r}")
            self.phase = "bidding"
            self._deadline = now + self.bid_window
            return CallForBids(tuple(self.candidates), self._deadline)
        if self.phase == "bidding":
            if len(self.bids) < len(self.candidates) and now < self._deadline:
                return Wait(self._deadline)
            return self._award(now)
        if self.phase == "awarded":
            if now >= self._deadline:  # the awardee hung: the next best bid gets it
                return self._award(now)
            return Wait(self._deadline)
        raise AssertionError(self.phase)

    def on_bid(self, offer: Bid) -> None:
        """A bid arrived; late bids, and bids from agents not asked, are ignored."""
        if self.phase == "bidding" and offer.agent in self.candidates:
            self.bids.setdefault(offer.agent, offer)

    def on_result(self, agent: str, *, ok: bool, result: object = None) -> None:
        """The awardee reports: done (``ok``) or failed. A result from an earlier awardee
        that was given up on still completes the task (once)."""
        if self._result is not None or agent not in self.tried:
            return
        if ok:
            self.phase = "completed"
            self._result = Completed(agent, result)
        elif agent == self.tried[-1]:
            self._deadline = float("-inf")  # re-awarded at the next step

    def on_agent_lost(self, agent: str) -> None:
        """The registry says the agent is gone (no heartbeat within its TTL)."""
        self.bids.pop(agent, None)
        if self.phase == "awarded" and self.tried and self.tried[-1] == agent:
            self._deadline = float("-inf")

    def _award(self, now: float) -> Action:
        ranked = sorted(
            (b for b in self.bids.values() if b.agent not in self.tried),
            key=lambda b: (b.score, b.agent),
        )
        if len(self.tried) >= self.max_awards:
            return self._fail(f"task {self.task_id!r} failed after {len(self.tried)} awards")
        if not ranked:
            why = "no agent bid" if not self.tried else "every bidder failed or timed out"
            return self._fail(f"task {self.task_id!r}: {why}")
        awardee = ranked[0].agent
        self.tried.append(awardee)
        self.phase = "awarded"
        self._deadline = now + self.task_timeout
        return Award(awardee, self._deadline, len(self.tried))

    def _fail(self, reason: str) -> Failed:
        self.phase = "failed"
        self._result = Failed(reason)
        return self._result
