"""The fault plan grammar: which fault each attempt gets, written as text. Pure.

A plan is a list of steps separated by ``;``. A step is a name, optional
``(key=value, ...)`` parameters and an optional ``*N`` repeat::

    429(retry_after=2)*2; ok          two rate limits, then success
    529; 500(should_retry=false)      overloaded, then a 500 the client must not retry
    cut(after=5)                      stream cut after 5 events
    sse_error(after=3, type=overloaded_error)
    reset; stall(seconds=30); bad_tool_json; max_tokens_tool; stop(reason=refusal)

:func:`parse_plan` reads one and says, in one line, what is wrong with a bad one:
an unknown name, an unknown or mistyped parameter, a repeat out of range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NAMED_FAULTS",
    "OK",
    "STATUS_FAULTS",
    "STATUS_PARAMS",
    "STOP_REASONS",
    "FaultStep",
    "parse_plan",
]

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

# What each parameter must be: a number of seconds or events (>= 0), a flag, or text.
_NUMBER_PARAMS = {"after", "seconds", "retry_after", "retry_after_ms"}
_FLAG_PARAMS = {"should_retry", "spend_cap"}

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
        _check_types(name, params)
        count = int(repeat) if repeat else 1
        if not 1 <= count <= 10_000:
            raise ValueError(f"repeat count in {raw.strip()!r} must be 1..10000")
        steps.extend([step] * count)
    return steps


def _check_types(name: str, params: dict[str, Any]) -> None:
    for key, value in params.items():
        if key in _NUMBER_PARAMS and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 0
        ):
            raise ValueError(f"fault {name!r}: {key} must be a number >= 0, not {value!r}")
        if key in _FLAG_PARAMS and not isinstance(value, bool):
            raise ValueError(f"fault {name!r}: {key} must be true or false, not {value!r}")


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
