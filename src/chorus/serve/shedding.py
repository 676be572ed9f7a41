"""What a full server does with a new run: start it, keep it waiting briefly, or refuse it.

Refusing every new run while the server is full looks safe and is not. A refusal costs the
server its request path (a quarter of a text turn's CPU), and a client that retries at once
(a load tester's virtual users, a script without backoff) comes straight back: the refusals
then fill the core, the server stays "full" doing nothing useful, and goodput falls towards
zero: a fifth of what the server can do, or less.

So a full server keeps carrying the load it carried when it was last not full: a run that
ends frees its place for the next. A new run beyond that waits, in order, for a place, as
long as the places free up fast enough for it to start within ``most_wait`` seconds (a
closed group of clients then waits instead of spinning). Only what would wait longer is
refused, at once, with ``Retry-After``: an open stream of arrivals past capacity is cut
to what the server can do, whatever its clients' manners.

Pure: the driver (``serve.service``) tells it how full the loop is every tick and when a
run ends, and keeps the waiting runs.
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
    """``tick`` every few milliseconds with whether the server is full and how many runs it
    has; ``ended`` when a run ends; ``verdict`` for each new run."""

    most_wait: float = 1.0  # seconds a new run may wait for a place when the server is full
    memory: float = 0.7  # seconds over which the load carried when not full is forgotten
    horizon: float = 0.25  # seconds the rate of ending runs is averaged over
    full: bool = False
    carried: float = 0.0  # runs the server carried when it was last not full
    rate: float = 0.0  # runs ending per second, a running average over ``horizon``

    def tick(self, full: bool, running: int, seconds: float) -> None:
        """``seconds`` since the last tick. Not full, ``carried`` follows the load, rising
        at once and falling slowly (a lull between bursts is not the server's measure)."""
        self.full = full
        self.rate *= math.exp(-seconds / self.horizon)
        if not full:
            fading = math.exp(-seconds / self.memory)
            self.carried = max(float(running), self.carried * fading)

    def ended(self) -> None:
        """A run ended: counted in the rate at once (each end adds ``1/horizon``, fading
        with time), so the next arrival already knows a place freed."""
        self.rate += 1 / self.horizon

    def places(self, running: int) -> float:
        """How many more runs may start now (``inf`` when not full; at least one in all)."""
        if not self.full:
            return math.inf
        return max(1.0, self.carried) - running

    def verdict(self, running: int, waiting: int) -> Verdict:
        """For a new run, with ``running`` runs under way and ``waiting`` ahead of it."""
        if not self.full or (waiting == 0 and self.places(running) >= 1):
            return Verdict.START
        if self.rate > 0 and (waiting + 1) / self.rate <= self.most_wait:
            return Verdict.WAIT
        return Verdict.REFUSE
