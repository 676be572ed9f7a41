"""The default transport (chorus.client.http1) against raw HTTP/1.1 servers on loopback.

Each server here is a few lines of asyncio that answer as a real server may:
chunked bodies split anywhere, keep-alive and ``Connection: close``, bodies that
run until close, interim responses, connections closed while idle, cuts after
any byte. Faults named are those of reference/reliability.md §3 (4: a
connection reset or a cut mid-body; 5: TLS errors and timeouts).
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import struct
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from chorus.client.http1 import Http1Transport, request_head
from chorus.errors import (
    AddressRefusedError,
    APIConnectionError,
    APITimeoutError,
    ConfigError,
    ConnectionCutError,
    TLSError,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEADERS = {"content-type": "application/json", "x-api-key": "k"}


class Server:
    """A loopback server running ``handler`` per connection (by default: answer each
    request with its own body, keeping the connection alive); counts connections."""

    def __init__(
        self, handler: Handler | None = None, context: ssl.SSLContext | None = None
    ) -> None:
        self.handler = handler or self.echo
        self.context = context
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=self.context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def url(self, path: str = "/v1/messages", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def echo(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await self.request(reader)
            writer.write(json_reply(body))
            await writer.drain()

    async def request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body


def json_reply(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    return head + b"".join(extra) + b"content-length: %d\r\n\r\n" % len(body) + body


def chunked(parts: list[bytes]) -> bytes:
    out = [
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    ]
    out += [b"%x\r\n%s\r\n" % (len(p), p) for p in parts]
    return b"".join(out) + b"0\r\n\r\n"


SSE = [
    b'event: message_start\ndata: {"type":"message_start"}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","x":"'
    + b"y" * 300
    + b'"}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]


async def test_a_json_reply_and_its_headers_case_insensitively() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await srv.request(reader)
        writer.write(json_reply(body[::-1], b"Retry-After: 3\r\nrequest-id: req_1\r\n"))
        await writer.drain()
        await reader.read()

    transport = Http1Transport(default_headers=HEADERS)
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"abc")
        assert resp.status == 200
        assert resp.headers["retry-after"] == "3" and resp.headers.get("REQUEST-ID") == "req_1"
        assert await resp.read() == b"cba"
        await transport.aclose()
    head = srv.requests[0]
    assert head.startswith(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"accept-encoding: identity\r\n" in head and b"content-length: 3\r\n" in head


async def test_keep_alive_reuses_one_connection_and_close_does_not() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await srv.request(reader)
            close = body == b"close"
            writer.write(json_reply(body, b"connection: close\r\n" if close else b""))
            await writer.drain()
            if close:
                return

    transport = Http1Transport()
    async with Server(handler) as srv:
        for i in range(5):
            resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"%d" % i)
            assert await resp.read() == b"%d" % i
        assert srv.connections == 1
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"close")
        assert await resp.read() == b"close"
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"after")
        assert await resp.read() == b"after"
        assert srv.connections == 2
        await transport.aclose()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await srv.request(reader)
        writer.write(json_reply(body))
        await writer.drain()  # keep-alive, then the server's idle timeout closes it

    transport = Http1Transport()
    async with Server(handler) as srv:
        for i in range(3):
            resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"%d" % i)
            assert await resp.read() == b"%d" % i
            await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        assert srv.connections == 3
        await transport.aclose()


@pytest.mark.parametrize("seed", range(6))
async def test_a_chunked_stream_split_anywhere_arrives_whole(seed: int) -> None:
    """Fault 4's opposite: the bytes arrive in arbitrary pieces, and nothing is lost."""
    rng = random.Random(seed)
    wire = chunked(SSE)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        at = 0
        while at < len(wire):
            step = rng.randint(1, 40)
            writer.write(wire[at : at + step])
            await writer.drain()
            at += step
            await asyncio.sleep(0)
        await reader.read()

    transport = Http1Transport()
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        got = b"".join([chunk async for chunk in resp.chunks()])
        await transport.aclose()
    assert got == b"".join(SSE)


@pytest.mark.parametrize("seed", range(8))
async def test_f4_a_cut_after_any_byte_is_a_cut_never_a_short_body(seed: int) -> None:
    wire = chunked(SSE) if seed % 2 else json_reply(b'{"type":"message","x":"' + b"z" * 400 + b'"}')
    end = random.Random(seed).randrange(1, len(wire) - 1)
    head_end = wire.index(b"\r\n\r\n") + 4

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(wire[:end])
        await writer.drain()
        writer.transport.abort()

    transport = Http1Transport()
    async with Server(handler) as srv:
        if end < head_end:
            with pytest.raises(APIConnectionError) as info:
                await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
            assert not isinstance(info.value, ConnectionCutError)  # nothing was answered
        else:
            resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
            with pytest.raises(ConnectionCutError):
                if seed % 2:
                    async for _ in resp.chunks():
                        pass
                else:
                    await resp.read()
        await transport.aclose()


async def test_a_body_that_runs_until_close_and_an_interim_response() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"a":')
        await writer.drain()
        writer.write(b"1}")
        await writer.drain()

    transport = Http1Transport()
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        assert resp.status == 200
        assert await resp.read() == b'{"a":1}'
        await transport.aclose()


async def test_a_malformed_response_is_a_connection_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()
        await reader.read()

    transport = Http1Transport()
    async with Server(handler) as srv:
        with pytest.raises(APIConnectionError, match="malformed"):
            await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        await transport.aclose()


async def test_a_slow_reader_holds_a_bounded_buffer_and_gets_every_byte() -> None:
    size = 6 << 20
    blob = bytes(range(256)) * (size // 256)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(json_reply(blob))
        await writer.drain()
        await reader.read()

    transport = Http1Transport()
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        got, most = [], 0
        async for chunk in resp.chunks():
            got.append(chunk)
            most = max(most, len(chunk))
            await asyncio.sleep(0.001)
        await transport.aclose()
    assert b"".join(got) == blob
    assert most < 3 << 20  # reading paused near 1 MiB unread, never the whole body


async def test_at_most_max_connections_are_open() -> None:
    open_now = most = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while True:
                body = await srv.request(reader)
                await asyncio.sleep(0.01)
                writer.write(json_reply(body))
                await writer.drain()
        finally:
            open_now -= 1

    transport = Http1Transport(max_connections=2)
    async with Server(handler) as srv:

        async def one(i: int) -> bytes:
            resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"%d" % i)
            return await resp.read()

        got = await asyncio.gather(*[one(i) for i in range(10)])
        await transport.aclose()
    assert got == [b"%d" % i for i in range(10)]
    assert most == 2 and srv.connections == 2


async def test_a_reader_that_stops_early_closes_the_connection() -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(chunked(SSE)[:200])
        await writer.drain()
        await reader.read()  # returns once the client closes
        closed.set()

    transport = Http1Transport()
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        resp.close()
        await asyncio.wait_for(closed.wait(), 5)
        await transport.aclose()


async def test_a_cancelled_request_frees_its_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await srv.request(reader)
        if body == b"hang":
            await reader.read()
            return
        writer.write(json_reply(body))
        await writer.drain()
        await reader.read()

    transport = Http1Transport(max_connections=1)
    async with Server(handler) as srv:
        task = asyncio.ensure_future(
            transport.send("POST", srv.url(), headers=HEADERS, body=b"hang")
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        resp = await asyncio.wait_for(
            transport.send("POST", srv.url(), headers=HEADERS, body=b"next"), 5
        )
        assert await resp.read() == b"next"
        await transport.aclose()


async def test_f5_silence_before_the_headers_and_within_the_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await srv.request(reader)
        if body == b"body":
            writer.write(chunked(SSE)[:150])
            await writer.drain()
        await reader.read()

    transport = Http1Transport(read_timeout=0.2)
    async with Server(handler) as srv:
        with pytest.raises(APITimeoutError, match=r"within 0\.2 s"):
            await transport.send("POST", srv.url(), headers=HEADERS, body=b"head")
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"body")
        with pytest.raises(ConnectionCutError, match=r"nothing received for 0\.2 s"):
            async for _ in resp.chunks():
                pass
        await transport.aclose()


async def test_nothing_listening_and_a_refused_address() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with Server(handler) as srv:
        port = srv.port
    with pytest.raises(APIConnectionError, match="cannot reach"):
        await Http1Transport().send("POST", f"http://127.0.0.1:{port}/", headers={}, body=None)
    vetted = Http1Transport(vet=lambda host, address, port: f"{address} is private")
    with pytest.raises(AddressRefusedError, match=r"127\.0\.0\.1 is private"):
        await vetted.send("POST", "http://localhost:9/", headers={}, body=None)


def test_request_heads_refuse_smuggled_headers() -> None:
    head = request_head("POST", "/v1/messages", "api.example", {"x-a": "1"})
    assert head == (
        b"POST /v1/messages HTTP/1.1\r\nhost: api.example\r\n"
        b"accept-encoding: identity\r\nx-a: 1\r\n"
    )
    for bad in ({"x-a": "1\r\nx-b: 2"}, {"x\nb": "1"}, {"": "1"}, {"x-a": "\u2603"}):
        with pytest.raises(ConfigError):
            request_head("POST", "/", "h", bad)
    with pytest.raises(ConfigError, match="not an http"):
        Http1Transport()._origin("ftp://example.com/")


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


async def test_f5_tls_verified_against_its_certificate_or_refused(
    self_signed: tuple[Path, Path],
) -> None:
    key, cert = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async with Server(None, context) as srv:
        url = f"https://localhost:{srv.port}/v1/messages"
        with pytest.raises(TLSError):
            await Http1Transport().send("POST", url, headers=HEADERS, body=b"x")
        trusting = Http1Transport(ssl_context=ssl.create_default_context(cafile=str(cert)))
        for body in (b"one", b"two"):
            resp = await trusting.send("POST", url, headers=HEADERS, body=body)
            assert await resp.read() == body
        await trusting.aclose()
    assert srv.connections == 1  # (the refused handshake never got that far) one, kept alive


async def test_endless_response_headers_are_refused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nx-pad: ")
        for _ in range(200):
            writer.write(b"a" * 1000)
            await writer.drain()
        await reader.read()

    transport = Http1Transport()
    async with Server(handler) as srv:
        with pytest.raises(APIConnectionError, match="headers too large"):
            await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        await transport.aclose()


async def test_a_whole_body_past_the_buffer_mark_is_read_whole() -> None:
    blob = b"x" * (3 << 20)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(json_reply(blob))
        await writer.drain()
        await reader.read()

    transport = Http1Transport(read_timeout=2.0)
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        await asyncio.sleep(0.2)  # the buffer fills past its mark before read() is called
        assert await resp.read() == blob
        await transport.aclose()


async def test_trailers_and_stray_bytes_never_reach_the_next_response() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
            b"retry-after: 999\r\nx-should-retry: false\r\n\r\n"
        )
        await writer.drain()
        await srv.request(reader)
        writer.write(json_reply(b"{}") + b"HTTP/1.1 200 OK\r\nx-phantom: 1\r\n")
        await writer.drain()
        await reader.read()

    transport = Http1Transport()
    async with Server(handler) as srv:
        first = await transport.send("POST", srv.url(), headers=HEADERS, body=b"1")
        assert await first.read() == b"abc" and "retry-after" not in first.headers
        second = await transport.send("POST", srv.url(), headers=HEADERS, body=b"2")
        assert await second.read() == b"{}"
        assert "retry-after" not in second.headers and "x-should-retry" not in second.headers
        await asyncio.sleep(0.05)
        third = await transport.send("POST", srv.url(), headers=HEADERS, body=b"3")
        assert await third.read() == b"abc"  # (on a new connection)
        assert "x-phantom" not in third.headers
        await transport.aclose()
    assert srv.connections == 2  # the connection with stray bytes was not reused


async def test_a_reset_is_a_cut_even_for_a_body_that_runs_until_close() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"partial":')
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a reset, not a close

    transport = Http1Transport()
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        with pytest.raises(ConnectionCutError):
            await resp.read()
        await transport.aclose()


async def test_a_waiter_whose_turn_came_as_it_was_cancelled_passes_it_on() -> None:
    go = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        await go.wait()
        writer.write(json_reply(b"ok", b"connection: close\r\n"))  # the one place frees
        await writer.drain()

    transport = Http1Transport(max_connections=1)
    async with Server(handler) as srv:

        def send() -> asyncio.Future[Any]:
            return asyncio.ensure_future(
                transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
            )

        first = send()
        await asyncio.sleep(0.02)
        second, third = send(), send()  # both wait for the one place
        await asyncio.sleep(0.02)
        go.set()
        assert await (await first).read() == b"ok"
        second.cancel()  # its turn has come (woken), but it is cancelled before it runs
        assert await (await asyncio.wait_for(third, 5)).read() == b"ok"
        await asyncio.sleep(0.01)
        pool = next(iter(transport._pools.values()))
        assert pool.count == 0 and not pool.waiters  # (each reply closed its connection)
        await transport.aclose()


def _two_addresses(port: int) -> Callable[..., Awaitable[list[Any]]]:
    hole = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))
    good = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))

    async def lookup(*args: Any, **kwargs: Any) -> list[Any]:
        await asyncio.sleep(0.6)  # a slow resolver: the connect's budget is shared with it
        return [hole, good]

    return lookup


async def test_f5_a_silent_first_address_gets_its_share_and_the_next_is_tried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    real_connect, tried = loop.sock_connect, []

    async def connect(sock: socket.socket, address: Any) -> None:
        tried.append(address[0])
        if address[0] == "127.0.0.2":
            await asyncio.sleep(100)  # dropped on the floor, as a black-holed address is
        await real_connect(sock, address)

    async with Server() as srv:
        monkeypatch.setattr(loop, "getaddrinfo", _two_addresses(srv.port))
        monkeypatch.setattr(loop, "sock_connect", connect)
        transport = Http1Transport(connect_timeout=1.0)
        url = srv.url().replace("127.0.0.1", "api.example")
        resp = await transport.send("POST", url, headers=HEADERS, body=b"hi")
        assert await resp.read() == b"hi"
        assert tried == ["127.0.0.2", "127.0.0.1"]
        pool = next(iter(transport._pools.values()))
        assert pool.count == 1
        await transport.aclose()


async def test_a_connect_cancelled_or_failing_gives_its_place_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()

    async def hang(sock: socket.socket, address: Any) -> None:
        await asyncio.sleep(100)

    monkeypatch.setattr(loop, "sock_connect", hang)
    transport = Http1Transport(connect_timeout=0.2)
    task = asyncio.ensure_future(
        transport.send("POST", "http://127.0.0.1:9/", headers={}, body=None)
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(APITimeoutError, match="connect timed out"):
        await transport.send("POST", "http://127.0.0.1:9/", headers={}, body=None)
    pool = next(iter(transport._pools.values()))
    assert pool.count == 0

    def no_sockets(*args: Any) -> socket.socket:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr("chorus.client.http1.socket.socket", no_sockets)
    with pytest.raises(APIConnectionError, match="Too many open files"):
        await transport.send("POST", "http://127.0.0.1:9/", headers={}, body=None)
    assert pool.count == 0
    await transport.aclose()


async def test_many_first_connections_share_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups = 0
    loop = asyncio.get_running_loop()

    async def lookup(host: str, port: int, **kwargs: Any) -> list[Any]:
        nonlocal lookups
        lookups += 1
        await asyncio.sleep(0.05)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    async with Server() as srv:
        monkeypatch.setattr(loop, "getaddrinfo", lookup)
        transport = Http1Transport()
        url = srv.url().replace("127.0.0.1", "api.example")

        async def one(i: int) -> bytes:
            resp = await transport.send("POST", url, headers=HEADERS, body=b"%d" % i)
            return await resp.read()

        assert await asyncio.gather(*[one(i) for i in range(8)]) == [b"%d" % i for i in range(8)]
        await transport.aclose()
    assert lookups == 1


async def test_endless_trailers_close_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n")
        for _ in range(100):
            writer.write(b"".join(b"x-t%d: %s\r\n" % (j, b"v" * 100) for j in range(100)))
            await writer.drain()
        await reader.read()

    transport = Http1Transport()
    async with Server(handler) as srv:
        resp = await transport.send("POST", srv.url(), headers=HEADERS, body=b"{}")
        with pytest.raises(ConnectionCutError, match="too much framing"):
            async for _ in resp.chunks():
                pass
        await transport.aclose()
