"""The Claude API simulator: a faithful Messages API for tests, benchmarks and offline work.

Run it as ``chorus sim --port 8080`` or in-process::

    async with Simulator() as sim:
        client = anthropic.AsyncAnthropic(base_url=sim.base_url, api_key="sk-sim")

or behind chorus's own client: ``claude = simulated_client()`` (a
:class:`~chorus.client.Claude` whose transport is a :class:`SimTransport`).
"""

from __future__ import annotations

from chorus.sim.config import SimConfig, config_from_dict, load_config
from chorus.sim.faults import LedgerEntry, parse_plan
from chorus.sim.server import Simulator
from chorus.sim.transport import SimTransport, simulated_client

__all__ = [
    "LedgerEntry",
    "SimConfig",
    "SimTransport",
    "Simulator",
    "config_from_dict",
    "load_config",
    "parse_plan",
    "simulated_client",
]
