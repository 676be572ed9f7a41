"""What a full server does with a new run: start it in a place a run has left, keep it
waiting briefly for one, or refuse it at once.

Runs asked for faster than runs end (``outpaced``: by ``outpace`` over ``pace_horizon``)
are an open stream of arrivals past what the server can do: a full server then refuses
new runs at once with ``Retry-After``, the stream is cut to what it can do, and what it
admits stays fast. Clients in a closed loop (each sends its next turn when its last one
ends: load testers, agents calling agents, a pool of workers) ask for runs only as fast as
runs end, however busy the core is; refusing them gains nothing, since they only come
back. A full server carries them: what it ran when it became full, and as many as have
run at once since; a new run starts in a place one has left, or waits in line, in order,
for the next run that ends. Only what would wait longer than ``most_wait`` is refused.
A refused session that asks again within a second is counted once (``refused(again=
True)``): a client retrying is the same demand, or an open stream's refusals would look
like a rising one.

A refusal costs the server its request path (a quarter of a text turn's CPU), and clients
that retry refusals at once (a load tester's virtual users, a script without backoff)
come straight back: the refusals can then fill the core, the server stays "full" doing
little but refusing, and goodput falls to a fifth of what it can do or less. Such clients
show themselves: refusals outnumber the runs that end (``storm``, two to one; an open
stream at twice capacity gives about one to one; 64 clients in a closed loop that resend
at once gave three to one). Then, too, a new run takes a place left or waits in line.

Pure: the driver (``serve.service``) ticks it with how full the loop is, tells it when a
run is let in, ends or is refused, and keeps the line.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from dataclasses import dataclass, field

__all__ = ["Shedding", "Verdict"]


class Verdict(enum.Enum):
    START = "start"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass
class Shedding:
    """``tick`` every few milliseconds with whether the server is full; ``ended``,
    ``admitted`` and ``refused`` as runs end, are let in and are refused; ``verdict`` for
    each new run."""

    most_wait: float = 0.1  # seconds a new run may wait in line for a place
    storm: float = 2.0  # refusals per ended run that say the clients retry at once
    outpace: float = 1.05  # runs asked for per ended run that say arrivals outrun the server
    horizon: float = 0.25  # seconds the rates are averaged over
    pace_horizon: float = 1.0  # seconds ``asked`` and ``done`` are averaged over
    full: bool = False
    rate: float = 0.0  # runs ending per second, a running average over ``horizon``
    refusals: float = 0.0  # runs refused per second, likewise
    asked: float = 0.0  # runs let in or refused per second, over ``pace_horizon``
    done: float = 0.0  # runs ending per second, likewise
    carried: int = 0  # runs the full server carries: those under way when it became full,
    # and, while its arrivals do not outpace it, as many as have run at once since
    # A refused asker that asks again within ``retry_window`` seconds is the same demand.
    # (A client that waits the refusal's whole Retry-After, 1 s, comes back just past it
    # and counts again: a longer window would count as retries an open stream's next
    # turns of the same sessions.)
    retry_window: float = 1.0
    most_askers: int = 4096  # refused askers remembered, the most recent
    clock: float = 0.0  # seconds of ticks so far: the rule's own time
    _refused_at: OrderedDict[str, float] = field(default_factory=OrderedDict, repr=False)

    def tick(self, full: bool, running: int, seconds: float) -> None:
        """``seconds`` since the last tick: the rates fade with them."""
        self.clock += seconds
        if full and not self.full:
            self.carried = running
        elif full and not self.outpaced:
            self.carried = max(self.carried, running)
        self.full = full
        fading = math.exp(-seconds / self.horizon)
        self.rate *= fading
        self.refusals *= fading
        pacing = math.exp(-seconds / self.pace_horizon)
        self.asked *= pacing
        self.done *= pacing

    def ended(self) -> None:
        """A run ended: counted at once (each adds ``1/horizon``, fading with time)."""
        self.rate += 1 / self.horizon
        self.done += 1 / self.pace_horizon

    def refused(self, again: bool = False) -> None:
        """``again``: the same asker was refused a moment ago (a client retrying at once):
        a storm's sign, but no new demand."""
        self.refusals += 1 / self.horizon
        if not again:
            self.asked += 1 / self.pace_horizon

    def admitted(self, again: bool = False) -> None:
        """``again``: it was refused before, and counted then."""
        if not again:
            self.asked += 1 / self.pace_horizon

    def refused_by(self, asker: str | None) -> None:
        """A refusal of ``asker`` (a session; None: not known): ``again`` when it was
        refused within ``retry_window`` and not let in since."""
        again = False
        if asker is not None:
            last = self._refused_at.pop(asker, None)
            again = last is not None and self.clock - last < self.retry_window
            self._refused_at[asker] = last if again and last is not None else self.clock
            while len(self._refused_at) > self.most_askers:
                self._refused_at.popitem(last=False)
        self.refused(again)

    def admitted_by(self, asker: str | None) -> None:
        """``asker`` let in: counted already if it was refused within ``retry_window``."""
        last = self._refused_at.pop(asker, None) if asker is not None else None
        self.admitted(last is not None and self.clock - last < self.retry_window)

    @property
    def storming(self) -> bool:
        """Refusals far outnumber the runs that end: the clients come straight back."""
        return self.refusals > self.storm * self.rate

    @property
    def outpaced(self) -> bool:
        """Runs are asked for faster than they end: an open stream past what the server
        can do (clients in a closed loop ask for one as one ends)."""
        return self.asked > self.outpace * self.done

    def verdict(self, running: int, waiting: int) -> Verdict:
        """For a new run, with ``running`` under way and ``waiting`` in line ahead of it."""
        if not self.full or (running == 0 and waiting == 0):  # (one always runs)
            return Verdict.START
        left = waiting == 0 and running < max(1, self.carried)  # a place a run has left
        if left and (self.storming or not self.outpaced):  # (not to an open stream)
            return Verdict.START
        if self.outpaced and not (self.storming or waiting):
            return Verdict.REFUSE  # (an open stream past capacity: cut at once)
        if self.rate > 0 and (waiting + 1) / self.rate <= self.most_wait:
            return Verdict.WAIT
        return Verdict.REFUSE
