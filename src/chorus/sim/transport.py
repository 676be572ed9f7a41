"""The simulator behind the client's :class:`~chorus.client.transport.Transport` seam.

``Claude(transport=SimTransport())`` talks to a simulator that this transport
starts on 127.0.0.1 at its first request, inside the caller's event loop, and
stops on ``aclose``. Requests still cross a real socket (so what is tested is
what runs), but the client never knows a simulator is there: whatever base URL
it was given, the scheme and host are replaced by the simulator's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from chorus.client.claude import Claude
from chorus.client.http1 import Http1Transport
from chorus.client.transport import Response
from chorus.clock import Clock
from chorus.sim.config import SimConfig
from chorus.sim.server import Simulator

__all__ = ["SimTransport", "simulated_client"]


class SimTransport:
    """A transport answered by an in-process simulator, started on first use."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        clock: Clock | None = None,
        inner: Http1Transport | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.inner = inner or Http1Transport()
        self.simulator: Any = None
        self._starting: asyncio.Future[None] | None = None

    @property
    def watches_deadlines(self) -> bool:
        return self.inner.watches_deadlines

    @property
    def deadline_timer_below(self) -> float:
        return self.inner.deadline_timer_below

    @property
    def base_url(self) -> str | None:
        """The running simulator's URL, or None before the first request."""
        return self.simulator.base_url if self.simulator is not None else None

    async def start(self) -> str:
        """Start the simulator once, however many first requests arrive together."""
        if self.simulator is None:
            if self._starting is None:
                self._starting = asyncio.ensure_future(self._start())
            await asyncio.shield(self._starting)
        return str(self.simulator.base_url)

    async def _start(self) -> None:
        sim = Simulator(self.config, clock=self.clock)
        await sim.start()
        self.simulator = sim

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        expires_in: float | None = None,
    ) -> Response:
        base = await self.start()
        parts = urlsplit(url)
        target = base + parts.path + (f"?{parts.query}" if parts.query else "")
        return await self.inner.send(
            method, target, headers=headers, body=body, expires_in=expires_in
        )

    async def aclose(self) -> None:
        await self.inner.aclose()
        if self.simulator is not None:
            await self.simulator.stop()
            self.simulator = None
        self._starting = None


def simulated_client(config: SimConfig | None = None, **kwargs: Any) -> Claude:
    """A :class:`~chorus.client.Claude` answered by the built-in simulator: no key, no network."""
    kwargs.setdefault("api_key", "sk-chorus-simulator")
    kwargs.setdefault("base_url", "http://simulator.invalid")
    return Claude(transport=SimTransport(config), **kwargs)
