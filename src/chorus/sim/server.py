"""The simulator bound to a loopback port: ``async with Simulator() as sim``."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from chorus.sim.app import SimulatorApp
from chorus.sim.config import SimConfig

__all__ = ["Simulator"]


class Simulator(SimulatorApp):
    """The simulator bound to a loopback port, started and stopped with ``async with``."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **kwargs: object,
    ) -> None:
        super().__init__(config, **kwargs)  # type: ignore[arg-type]
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Simulator:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        self._runner = runner
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
