"""A real simulator on loopback and a chorus client sharing one fake clock."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from chorus.client import Claude
from chorus.clock import FakeClock
from chorus.observe import Metrics
from chorus.sim import Simulator, config_from_dict

MODEL = "claude-sonnet-4-5"


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


class Rig:
    def __init__(self, sim: Simulator, claude: Claude, clock: FakeClock, metrics: Metrics) -> None:
        self.sim = sim
        self.claude = claude
        self.clock = clock
        self.metrics = metrics

    def attempts(self, path: str = "/v1/messages") -> list[Any]:
        return [e for e in self.sim.ledger if e.path == path]

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    async def create(self, text: str, *, fault: str | None = None, **kw: Any) -> Any:
        headers = {"x-chorus-fault": fault} if fault else None
        kw.setdefault("max_tokens", 256)
        return await self.claude.messages.create(
            model=kw.pop("model", MODEL), messages=user(text), extra_headers=headers, **kw
        )


@asynccontextmanager
async def rig(
    sim_config: dict[str, Any] | None = None, **client_options: Any
) -> AsyncIterator[Rig]:
    clock = FakeClock()
    metrics = Metrics()
    config = config_from_dict(sim_config or {})
    async with Simulator(config, clock=clock) as sim:
        claude = Claude(
            api_key="sk-test",
            base_url=sim.base_url,
            clock=clock,
            rng=random.Random(7),
            observers=[metrics],
            **client_options,
        )
        try:
            yield Rig(sim, claude, clock, metrics)
        finally:
            await claude.aclose()


@pytest.fixture
def make_rig() -> Callable[..., Any]:
    return rig
