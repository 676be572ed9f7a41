"""The least a served text turn can cost on chorus's HTTP stack: the floor under ``chorus serve``.

An aiohttp.web handler on uvloop that reads the turn's JSON body, makes the turn's one
model call with a pooled, kept-alive aiohttp client session, and answers JSON with the
reply's text and usage. No agent, no context, no store, no limits, no metrics: what is
left of a turn's CPU and latency here is the HTTP stack's, and the machine's. Its request
to the model is the same every time, where a chorus session's grows with its history (a
few turns in the bench).
``bench/server.py`` runs it beside ``chorus serve`` at the same offered loads, so the
share of a turn that is chorus's own, and the p99 this machine allows at all, are read
from the same run.

With ``TURN_FLOOR_LOG=path`` it is the *durable* floor: before it answers, a turn's reply
is appended to that file and made durable (``fdatasync``), many turns to a sync, by one
thread that starts the next sync the moment the last returns. That is the least any server
must wait before it acknowledges a durable turn; what is left above it is the disk's.

    ANTHROPIC_BASE_URL=http://127.0.0.1:PORT python bench/turn_floor.py   # TURN_FLOOR_PORT: its own
"""

from __future__ import annotations

import asyncio
import os
import threading

import aiohttp
import msgspec
from aiohttp import web

REQUEST = msgspec.json.encode(
    {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hello there, how are you today?"}],
    }
)


class GroupSyncLog:
    """Group commit at its least: records queued from the loop, written and synced by one
    thread in batches; each record's future is resolved once its batch is durable, or
    fails with the disk's error (and every later append at once)."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.loop = loop
        self.queued: list[tuple[bytes, asyncio.Future[None]]] = []
        self.ready = threading.Condition()
        self.failed: OSError | None = None
        threading.Thread(target=self._sync, daemon=True).start()

    def append(self, record: bytes) -> asyncio.Future[None]:
        if self.failed is not None:
            raise self.failed
        future = self.loop.create_future()
        with self.ready:
            self.queued.append((record, future))
            self.ready.notify()
        return future

    def _sync(self) -> None:
        while True:
            with self.ready:
                while not self.queued:
                    self.ready.wait()
                batch, self.queued = self.queued, []
            error = self.failed  # (after a failure, what was queued meanwhile fails too)
            if error is None:
                try:
                    data = memoryview(b"".join(record for record, _ in batch))
                    while data:
                        data = data[os.write(self.fd, data) :]
                    os.fdatasync(self.fd)
                except OSError as exc:
                    error = self.failed = exc
            self.loop.call_soon_threadsafe(_resolve, [future for _, future in batch], error)


def _resolve(futures: list[asyncio.Future[None]], error: OSError | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


async def main() -> None:
    url = os.environ["ANTHROPIC_BASE_URL"].rstrip("/") + "/v1/messages"
    headers = {
        "x-api-key": os.environ.get("ANTHROPIC_API_KEY", "sk-floor"),
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    connector = aiohttp.TCPConnector(limit=1000)  # as chorus's client: no pool cap below it
    session = aiohttp.ClientSession(connector=connector, headers=headers)
    path = os.environ.get("TURN_FLOOR_LOG")
    log = GroupSyncLog(path, asyncio.get_running_loop()) if path else None

    async def turn(request: web.Request) -> web.Response:
        msgspec.json.decode(await request.read())
        async with session.post(url, data=REQUEST) as response:
            reply = msgspec.json.decode(await response.read())
        body = msgspec.json.encode({"output": reply["content"][0]["text"], "usage": reply["usage"]})
        if log is not None:
            await log.append(body + b"\n")
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/agents/{agent}/sessions/{session}/turns", turn)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(os.environ.get("TURN_FLOOR_PORT", "0")))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"turn floor listening on http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
