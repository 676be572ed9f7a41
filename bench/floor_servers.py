"""Minimal servers that answer every POST with one fixed, pre-rendered 10-delta SSE stream.

They bound what any simulator can cost: ``asyncio`` is a bare asyncio.Protocol
HTTP/1.1 server (just enough parsing for keep-alive POSTs with a Content-Length body),
``aiohttp`` is the smallest aiohttp.web handler, and ``aiohttp-decode`` the same handler
decoding the request's JSON: what reading a long history into Python costs any server.
All serve the same bytes `chorus sim` sends for a 10-word echo.

    python bench/floor_servers.py asyncio 8123
"""

from __future__ import annotations

import asyncio
import sys

import msgspec

WORDS = "one two three four five six seven eight nine ten".split()


def stream_body() -> bytes:
    enc = msgspec.json.encode
    events = [
        b'event: message_start\ndata: {"type":"message_start","message":'
        b'{"model":"claude-sonnet-4-5-20250929","id":"msg_fixed","type":"message",'
        b'"role":"assistant","content":[],"stop_reason":null,'
        b'"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,'
        b'"cache_read_input_tokens":0,"output_tokens":1}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n',
        b'event: ping\ndata: {"type": "ping"}\n\n',
    ]
    for i, word in enumerate(WORDS):
        piece = word if i == 0 else " " + word
        events.append(
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
            b'{"type":"text_delta","text":' + enc(piece) + b"}}\n\n"
        )
    events += [
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
        b'"stop_sequence":null},"usage":{"output_tokens":13}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]
    return b"".join(events)


BODY = stream_body()
CHUNKED = b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n"
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\nrequest-id: req_fixed\r\ntransfer-encoding: chunked\r\n\r\n"
)


class FloorProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            pos = head.find(b"content-length:")
            if pos >= 0:
                length = int(
                    head[
                        pos + 15 : head.find(b"\r\n", pos) if head.find(b"\r\n", pos) > 0 else None
                    ]
                )
            total = end + 4 + length
            if len(self.buf) < total:
                return
            self.buf = self.buf[total:]
            assert self.transport is not None
            self.transport.write(HEAD + CHUNKED)


async def serve_asyncio(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FloorProtocol, "127.0.0.1", port)
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


async def serve_aiohttp(port: int, decode: bool = False) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if decode:
            msgspec.json.decode(body)
        resp = web.StreamResponse(
            headers={"content-type": "text/event-stream; charset=utf-8", "request-id": "req_fixed"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(BODY)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/messages", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(f"listening on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    serve = {
        "asyncio": serve_asyncio,
        "aiohttp": serve_aiohttp,
        "aiohttp-decode": lambda port: serve_aiohttp(port, decode=True),
    }[kind]
    try:
        import uvloop

        uvloop.run(serve(port))
    except ImportError:
        asyncio.run(serve(port))


if __name__ == "__main__":
    main()
