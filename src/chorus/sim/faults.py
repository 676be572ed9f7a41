"""Fault plans: which attempt gets which fault, deterministically.

A plan is a list of steps separated by ``;``. A step is a name, optional
``(key=value, ...)`` parameters and an optional ``*N`` repeat::

    429(retry_after=2)*2; ok          two rate limits, then success
    529; 500(should_retry=false)      overloaded, then a 500 the client must not retry
    cut(after=5)                      stream cut after 5 events
    sse_error(after=3, type=overloaded_error)
    reset; stall(seconds=30); bad_tool_json; max_tokens_tool; stop(reason=refusal)

After the last step every attempt succeeds. Plans come from a request header
(steps consumed by successive attempts of the same request body), from the
config per model (consumed by successive requests), or from a seeded
stochastic process with bursts.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from chorus.sim.config import SimConfig

__all__ = ["FaultPicker", "FaultStep", "LedgerEntry", "parse_plan"]

STATUS_FAULTS = {400, 401, 402, 403, 404, 408, 409, 413, 429, 500, 502, 503, 504, 529}
NAMED_FAULTS = {
    "ok": set(),
    "reset": set(),
    "stall": {"seconds"},
    "stall_mid": {"after", "seconds"},
    "cut": {"after"},
    "sse_error": {"after", "type", "message"},
    "bad_tool_json": set(),
    "max_tokens_tool": set(),
    "stop": {"reason"},
}
STATUS_PARAMS = {"retry_after", "retry_after_ms", "should_retry", "spend_cap", "message"}
STOP_REASONS = {"end_turn", "max_tokens", "refusal", "pause_turn", "model_context_window_exceeded"}

_STEP = re.compile(r"^\s*([a-z_0-9]+)\s*(?:\((.*)\))?\s*(?:\*\s*(\d+))?\s*$")


@dataclass(frozen=True, slots=True)
class FaultStep:
    kind: str  # "ok", "status", or a named transport / in-band fault
    status: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        name = str(self.status) if self.kind == "status" else self.kind
        if not self.params:
            return name
        return name + "(" + ",".join(f"{k}={v}" for k, v in self.params.items()) + ")"

    def int_param(self, name: str, default: int) -> int:
        return int(self.params.get(name, default))

    def float_param(self, name: str, default: float) -> float:
        return float(self.params.get(name, default))


OK = FaultStep("ok")


def parse_plan(text: str) -> list[FaultStep]:
    """Parse a plan; raises ValueError naming the bad step."""
    steps: list[FaultStep] = []
    for raw in text.split(";"):
        if not raw.strip():
            continue
        m = _STEP.match(raw)
        if not m:
            raise ValueError(f"cannot read fault step {raw.strip()!r}")
        name, args, repeat = m.group(1), m.group(2), m.group(3)
        params = _params(args or "", raw.strip())
        if name.isdigit():
            status = int(name)
            if status not in STATUS_FAULTS:
                raise ValueError(f"fault status {status} is not one of {sorted(STATUS_FAULTS)}")
            unknown = set(params) - STATUS_PARAMS
            step = FaultStep("status", status, params)
        elif name in NAMED_FAULTS:
            unknown = set(params) - NAMED_FAULTS[name]
            step = FaultStep(name, 0, params)
            if name == "stop" and params.get("reason") not in STOP_REASONS:
                raise ValueError(f"stop(reason=...) must be one of {sorted(STOP_REASONS)}")
        else:
            raise ValueError(
                f"unknown fault {name!r}; known: status codes, {', '.join(sorted(NAMED_FAULTS))}"
            )
        if unknown:
            raise ValueError(f"fault {name!r} takes no parameter {sorted(unknown)[0]!r}")
        count = int(repeat) if repeat else 1
        if not 1 <= count <= 10_000:
            raise ValueError(f"repeat count in {raw.strip()!r} must be 1..10000")
        steps.extend([step] * count)
    return steps


def _params(args: str, raw: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for part in args.split(","):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"parameter {part.strip()!r} in {raw!r} needs key=value")
        value = value.strip()
        params[key.strip()] = (
            value.lower() == "true" if value.lower() in ("true", "false") else _number(value)
        )
    return params


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


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
                steps = parse_plan(header_plan)
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
