"""Simulator configuration: frozen values, loaded from YAML/JSON with one-line errors.

Everything is optional; ``SimConfig()`` is a fast, fault-free, limit-free
simulator answering every model in :data:`DEFAULT_MODELS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import msgspec

from chorus.config_files import read_data
from chorus.errors import ConfigError
from chorus.sim.faultplan import parse_plan
from chorus.sim.models import DEFAULT_MODELS, ModelSpec
from chorus.sim.registry import names

__all__ = [
    "Burst",
    "LatencyConfig",
    "RateLimitConfig",
    "ScriptRule",
    "SimConfig",
    "StochasticFaults",
    "ToolRule",
    "load_config",
]


class _Frozen(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class LatencyConfig(_Frozen, frozen=True, forbid_unknown_fields=True):
    """How long replies take. All zero means "as fast as possible"."""

    ttft: float = 0.0  # median seconds before the first token
    ttft_sigma: float = 0.0  # lognormal spread of ttft (0 = always the median)
    tokens_per_second: float = 0.0  # 0 = all output at once after ttft
    ping_interval: float = 0.0  # keep-alive pings during long pauses (0 = none)


class RateLimitConfig(_Frozen, frozen=True, forbid_unknown_fields=True):
    """Per-model token buckets (reference §6.4); 0 disables a bucket."""

    rpm: int = 0
    itpm: int = 0
    otpm: int = 0
    output_estimate: Literal["max_tokens", "actual"] = "actual"
    count_cache_reads: bool = False


class Burst(_Frozen, frozen=True, forbid_unknown_fields=True):
    """A recurring window in which every request gets ``fault``."""

    fault: str = "529"
    start: float = 0.0  # seconds after the simulator started
    duration: float = 5.0
    every: float = 0.0  # 0 = once


class StochasticFaults(_Frozen, frozen=True, forbid_unknown_fields=True):
    """Seeded random faults: ``rates`` maps a fault step to its probability."""

    rates: dict[str, float] = {}
    bursts: tuple[Burst, ...] = ()


class ScriptRule(_Frozen, frozen=True, forbid_unknown_fields=True):
    """A scripted reply, matched on the last user message."""

    match: str = ""  # substring (case-insensitive); "re:<pattern>" for a regex; "" = any
    reply: str | None = None
    tool: str | None = None  # call this tool instead of replying with text
    input: dict[str, Any] = {}
    stop_reason: str | None = None
    thinking: str | None = None


class ToolRule(_Frozen, frozen=True, forbid_unknown_fields=True):
    """Call ``tool`` with ``input`` when the last user message contains ``when``."""

    when: str
    tool: str
    input: dict[str, Any] = {}


class QuizProfile(_Frozen, frozen=True, forbid_unknown_fields=True):
    """How one model does on the ``quiz`` behaviour's questions."""

    accuracy: float = 0.5
    group: str = ""  # models in one group share their wrong answers (see quiz.correlation)
    confidence: float | None = None  # None: about its accuracy; a number: always that
    position_bias: float = 0.0  # as a judge: chance it picks the first answer shown, unread


class QuizConfig(_Frozen, frozen=True, forbid_unknown_fields=True):
    """The ``quiz`` behaviour: a profile per model id (``"*"`` for the rest)."""

    profiles: dict[str, QuizProfile] = {}
    correlation: float = 0.0  # chance a wrong answer is its group's shared wrong answer
    conformity: float = 0.5  # in a debate: chance a model takes the answer most others gave
    self_agreement: float = 0.6  # a repeated sample: chance it repeats the model's first answer


class SimConfig(_Frozen, frozen=True, forbid_unknown_fields=True):
    """Everything a simulator is configured with (from YAML or JSON, or ``config_from_dict``)."""

    seed: int = 0
    behaviour: str = "auto"  # a name in chorus.sim.registry (auto, echo, ..., quiz)
    template: str = "You said: {last_user}"
    script: tuple[ScriptRule, ...] = ()
    tool_rules: tuple[ToolRule, ...] = ()
    models: tuple[ModelSpec, ...] = DEFAULT_MODELS
    api_keys: tuple[str, ...] = ()  # empty = any non-empty key is accepted
    latency: LatencyConfig = LatencyConfig()
    rate_limits: dict[str, RateLimitConfig] = {}  # model id, alias or "*"
    faults: dict[str, str] = {}  # model id or "*" -> fault plan applied to successive requests
    stochastic: StochasticFaults | None = None
    virtual_time: bool = False
    max_body_bytes: int = 32 * 1024 * 1024
    ledger_size: int = 100_000
    cache_ttl_default: Literal["5m", "1h"] = "5m"
    quiz: QuizConfig | None = None

    def model(self, name: str) -> ModelSpec | None:
        for spec in self.models:
            if spec.id == name or name in spec.aliases:
                return spec
        return None


def load_config(path: str | Path, **overrides: Any) -> SimConfig:
    """Read a YAML or JSON file into a :class:`SimConfig`; errors name the bad field."""
    p = Path(path)
    raw = read_data(p, "simulator config") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping at the top level")
    if "script" in raw and isinstance(raw["script"], str):
        raw["script"] = load_script(p.parent / raw["script"])
    raw.update(overrides)
    return config_from_dict(raw, source=str(p))


def load_script(path: str | Path) -> list[dict[str, Any]]:
    """A script file: a list of rules, or ``{"rules": [...]}``."""
    raw = read_data(path, "script")
    if isinstance(raw, dict):
        raw = raw.get("rules", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: a script is a list of rules")
    return raw


def config_from_dict(raw: dict[str, Any], *, source: str = "config") -> SimConfig:
    try:
        config = msgspec.convert(raw, SimConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    _check(config, source)
    return config


def _check(config: SimConfig, source: str) -> None:
    for key, plan in config.faults.items():
        try:
            parse_plan(plan)
        except ValueError as exc:
            raise ConfigError(f"{source}: faults.{key}: {exc}") from exc
    if config.stochastic:
        for step, rate in config.stochastic.rates.items():
            try:
                parse_plan(step)
            except ValueError as exc:
                raise ConfigError(f"{source}: stochastic.rates: {exc}") from exc
            if not 0 <= rate <= 1:
                raise ConfigError(f"{source}: stochastic.rates.{step}: must be within 0..1")
        for burst in config.stochastic.bursts:
            try:
                parse_plan(burst.fault)
            except ValueError as exc:
                raise ConfigError(f"{source}: stochastic.bursts: {exc}") from exc
    if config.quiz is not None:
        for name in ("correlation", "conformity", "self_agreement"):
            if not 0 <= getattr(config.quiz, name) <= 1:
                raise ConfigError(f"{source}: quiz.{name} must be within 0..1")
        for model, profile in config.quiz.profiles.items():
            if not 0 <= profile.accuracy <= 1:
                raise ConfigError(f"{source}: quiz.profiles.{model}.accuracy must be within 0..1")
            if profile.confidence is not None and not 0 <= profile.confidence <= 1:
                raise ConfigError(f"{source}: quiz.profiles.{model}.confidence must be within 0..1")
            if not 0 <= profile.position_bias <= 1:
                raise ConfigError(
                    f"{source}: quiz.profiles.{model}.position_bias must be within 0..1"
                )
    known = names()
    if config.behaviour not in known:
        raise ConfigError(
            f"{source}: behaviour {config.behaviour!r} is not one of {', '.join(known)}"
        )
    for spec in config.models:
        if spec.behaviour is not None and spec.behaviour not in known:
            raise ConfigError(f"{source}: models.{spec.id}.behaviour {spec.behaviour!r} unknown")
