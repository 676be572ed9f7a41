"""What a full server does with a new run: refuse it at once, or, when its clients retry
refusals at once, keep it waiting briefly for the place of a run that ends.

A full server refuses new runs at once with ``Retry-After``: an open stream of arrivals
past capacity is cut to what the server can do, and what it admits stays fast. That rule
alone fails one kind of client. A refusal costs the server its request path (a quarter of
a text turn's CPU), and a client that retries at once (a load tester's virtual users, a
script without backoff) comes straight back: the refusals then fill the core, the server
stays "full" doing little but refusing, and goodput falls to a fifth of what it can do or
less.

Such clients show themselves: refusals outnumber the runs that end (``storm``, two to
one; an open stream at twice capacity gives about one to one; 64 clients in a closed loop
that resend at once gave three to one, and took a fifth of the core with refusals under a
rule of twenty to one).
Then a new run waits in line, in order, and each run that ends lets the next one in: the
server carries what it carried when it became full (a run starts at once while fewer
run), and clients that would have spun wait instead. Only what would wait longer than
``most_wait`` is refused.

Pure: the driver (``serve.service``) ticks it with how full the loop is, tells it when a
run ends or is refused, and keeps the line.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

__all__ = ["Shedding", "Verdict"]


class Verdict(enum.Enum):
    START = "start"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass
class Shedding:
    """``tick`` every few milliseconds with whether the server is full; ``ended`` and
    ``refused`` as runs end and are refused; ``verdict`` for each new run."""

    most_wait: float = 0.1  # seconds a new run may wait in line for a place
    storm: float = 2.0  # refusals per ended run that say the clients retry at once
    horizon: float = 0.25  # seconds the rates are averaged over
    full: bool = False
    rate: float = 0.0  # runs ending per second, a running average over ``horizon``
    refusals: float = 0.0  # runs refused per second, likewise
    carried: int = 0  # runs under way when the server became full

    def tick(self, full: bool, running: int, seconds: float) -> None:
        """``seconds`` since the last tick: the rates fade with them."""
        if full and not self.full:
            self.carried = running
        self.full = full
        fading = math.exp(-seconds / self.horizon)
        self.rate *= fading
        self.refusals *= fading

    def ended(self) -> None:
        """A run ended: counted at once (each adds ``1/horizon``, fading with time)."""
        self.rate += 1 / self.horizon

    def refused(self) -> None:
        self.refusals += 1 / self.horizon

    @property
    def storming(self) -> bool:
        """Refusals far outnumber the runs that end: the clients come straight back."""
        return self.refusals > self.storm * self.rate

    def verdict(self, running: int, waiting: int) -> Verdict:
        """For a new run, with ``running`` under way and ``waiting`` in line ahead of it."""
        if not self.full or (running == 0 and waiting == 0):  # (one always runs)
            return Verdict.START
        if not (self.storming or waiting):
            return Verdict.REFUSE
        if waiting == 0 and running < max(1, self.carried):
            return Verdict.START
        if self.rate > 0 and (waiting + 1) / self.rate <= self.most_wait:
            return Verdict.WAIT
        return Verdict.REFUSE
