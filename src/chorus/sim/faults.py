"""Fault plans at work: which attempt gets which fault, deterministically.

The grammar is :mod:`chorus.sim.faultplan`. After the last step every attempt
succeeds. Plans come from a request header (steps consumed by successive
attempts of the same request body; a header that does not parse is answered
400 in the API's error shape), from the config per model (consumed by
successive requests), or from a seeded stochastic process with bursts.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from dataclasses import dataclass

from chorus.sim.config import SimConfig
from chorus.sim.faultplan import OK, FaultStep, parse_plan
from chorus.sim.request import SimError

__all__ = ["FaultPicker", "FaultStep", "LedgerEntry", "parse_plan"]


@dataclass(slots=True)
class LedgerEntry:
    """One attempt as the simulator saw it."""

    seq: int
    time: float
    request_id: str
    path: str
    model: str | None
    stream: bool
    fault: str
    status: int
    events_sent: int = 0
    attempt: int = 1
    body_hash: str = ""  # set for attempts under a header plan
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    outcome: str = "ok"  # ok | error | reset | cut | sse_error | client_gone
    ended: float = 0.0  # when the attempt's answer ended (its stream closed, or was cut)


class FaultPicker:
    """Decides the fault for each attempt and keeps the attempt ledger."""

    def __init__(self, config: SimConfig, start_time: float) -> None:
        self._config = config
        self._start = start_time
        self._model_plans: dict[str, deque[FaultStep]] = {
            key: deque(parse_plan(plan)) for key, plan in config.faults.items()
        }
        self._header_attempts: dict[str, int] = {}
        self._parsed_headers: dict[str, list[FaultStep]] = {}
        self._counter = 0
        self._stochastic: list[tuple[FaultStep, float]] = []
        if config.stochastic:
            self._stochastic = [
                (parse_plan(step)[0], rate) for step, rate in config.stochastic.rates.items()
            ]
            self._bursts = [(parse_plan(b.fault)[0], b) for b in config.stochastic.bursts]
        else:
            self._bursts = []
        self.ledger: deque[LedgerEntry] = deque(maxlen=config.ledger_size)
        self._seq = 0

    def pick(
        self, *, header_plan: str | None, body: bytes, model: str | None, now: float
    ) -> tuple[FaultStep, int, str]:
        """The step for this attempt, the attempt number of this body, and the body hash.

        Only header plans need the body's identity (attempts of one request share a
        plan), so only they pay for hashing it; other attempts get an empty hash.
        """
        self._counter += 1
        if header_plan:
            digest = hashlib.blake2b(body, digest_size=8).hexdigest() if body else ""
            key = header_plan + "\0" + digest
            attempt = self._header_attempts.get(key, 0) + 1
            self._header_attempts[key] = attempt
            steps = self._parsed_headers.get(header_plan)
            if steps is None:
                try:
                    steps = parse_plan(header_plan)
                except ValueError as exc:
                    raise SimError(400, f"x-chorus-fault: {exc}") from None
                if len(self._parsed_headers) < 4096:  # distinct plans kept, not unbounded
                    self._parsed_headers[header_plan] = steps
            return (steps[attempt - 1] if attempt <= len(steps) else OK), attempt, digest
        digest = ""
        if model is not None and self._model_plans:
            queue = self._model_plans.get(model) or self._model_plans.get("*")
            if queue:
                return queue.popleft(), 1, digest
        if self._bursts:
            elapsed = now - self._start
            for step, burst in self._bursts:
                offset = elapsed - burst.start
                if offset < 0:
                    continue
                if burst.every > 0:
                    offset %= burst.every
                if offset < burst.duration:
                    return step, 1, digest
        if self._stochastic:
            rng = random.Random(self._config.seed * 1_000_003 + self._counter)
            x = rng.random()
            for step, rate in self._stochastic:
                if x < rate:
                    return step, 1, digest
                x -= rate
        return OK, 1, digest

    def record(self, entry: LedgerEntry) -> LedgerEntry:
        self._seq += 1
        entry.seq = self._seq
        self.ledger.append(entry)
        return entry

    def next_seq(self) -> int:
        return self._seq + 1
