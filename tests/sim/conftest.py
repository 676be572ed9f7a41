"""In-process simulator fixtures: a real server on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import msgspec
import pytest

from chorus.clock import FakeClock
from chorus.protocol import EventDecoder
from chorus.protocol.types import StreamEvent
from chorus.sim import SimConfig, Simulator, config_from_dict

HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
MODEL = "claude-sonnet-4-5"


class Reply:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    def events(self) -> list[StreamEvent]:
        decoder = EventDecoder()
        return decoder.feed(self.body) + decoder.flush()


class Client:
    """Raw HTTP against a running simulator (no SDK in the way)."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session

    async def post(
        self,
        path: str,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
    ) -> Reply:
        h = dict(HEADERS)
        h.update(headers or {})
        data = raw if raw is not None else msgspec.json.encode(body)
        h.setdefault("content-type", "application/json")
        async with self.session.post(self.sim.base_url + path, data=data, headers=h) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        h = dict(HEADERS)
        h.update(headers or {})
        async with self.session.get(self.sim.base_url + path, headers=h) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def message(self, headers: dict[str, str] | None = None, **params: Any) -> Reply:
        params.setdefault("model", MODEL)
        params.setdefault("max_tokens", 256)
        return await self.post("/v1/messages", params, headers)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


@asynccontextmanager
async def running(
    config: SimConfig | dict[str, Any] | None = None, **kw: Any
) -> AsyncIterator[Client]:
    if isinstance(config, dict):
        config = config_from_dict(config)
    async with Simulator(config, **kw) as sim, aiohttp.ClientSession() as session:
        yield Client(sim, session)


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with running() as c:
        yield c


@pytest.fixture
def make_client() -> Callable[..., Any]:
    """``async with make_client({...config...}, clock=FakeClock()) as c``."""
    return running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
