"""A real ``chorus serve`` app on loopback, its agents answered by a real simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from chorus.client import Claude
from chorus.serve.config import ServeConfig, check_serve_config
from chorus.serve.demo import demo_config
from chorus.serve.run import SERVER_CLIENT, build
from chorus.sim import Simulator, config_from_dict


@dataclass
class Served:
    url: str
    http: aiohttp.ClientSession
    sim: Simulator
    service: Any

    async def post(self, path: str, body: Any, **headers: str) -> tuple[int, Any, Any]:
        async with self.http.post(self.url + path, json=body, headers=headers) as r:
            return r.status, await _body(r), r.headers

    async def get(self, path: str, **headers: str) -> tuple[int, Any, Any]:
        async with self.http.get(self.url + path, headers=headers) as r:
            return r.status, await _body(r), r.headers

    async def delete(self, path: str, **headers: str) -> tuple[int, Any, Any]:
        async with self.http.delete(self.url + path, headers=headers) as r:
            return r.status, await _body(r), r.headers

    async def events(
        self, path: str, body: Any = None, *, most: int | None = None, **headers: str
    ) -> list[tuple[int, str, Any]]:
        """Read SSE events (at most ``most``, then drop the connection)."""
        method = self.http.post if body is not None else self.http.get
        got: list[tuple[int, str, Any]] = []
        async with method(self.url + path, json=body, headers=headers) as r:
            assert r.status == 200, await r.text()
            event_id, kind = 0, ""
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    event_id = int(line[4:])
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    got.append((event_id, kind, msgspec.json.decode(line[6:])))
                    if most is not None and len(got) >= most:
                        break
        return got


async def _body(response: aiohttp.ClientResponse) -> Any:
    if response.content_type == "application/json":
        return await response.json()
    return await response.text()


def config(**overrides: Any) -> ServeConfig:
    base = msgspec.to_builtins(demo_config())
    base["store"] = {"memory": True}
    base.update(overrides)
    return check_serve_config(msgspec.convert(base, ServeConfig), "test config")


@asynccontextmanager
async def served(
    serve_config: ServeConfig | None = None, *, sim: dict[str, Any] | None = None
) -> AsyncIterator[Served]:
    sim_config = config_from_dict({"latency": {"ttft": 0, "tokens_per_second": 0}, **(sim or {})})
    async with Simulator(sim_config) as simulator:
        claude = Claude(api_key="sk-test", base_url=simulator.base_url, **SERVER_CLIENT)
        service, app = await build(serve_config or config(), client=claude)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as http:
            try:
                yield Served(f"http://127.0.0.1:{port}", http, simulator, service)
            finally:
                await runner.cleanup()
                await service.close()
                await service.store.close()
                await claude.aclose()
