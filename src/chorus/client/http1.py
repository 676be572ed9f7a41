"""The client's default transport: HTTP/1.1 over asyncio, pooled, parsed by llhttp.

A model call is one POST and one response, JSON or server-sent events. aiohttp's
client spends several times the work of the exchange itself on each request
(its request and response objects, cookie jar, tracing hooks, per-chunk stream
reader); at a server's thousands of model calls per second that was the largest
single cost of a turn. This transport does only what such a call needs:

* a pool of keep-alive connections per event loop and per origin (LIFO, so the
  warmest is reused; idle ones are closed after ``keepalive_timeout``), at most
  ``max_connections`` open, TCP keep-alive and no Nagle delay on each;
* one write of a request whose head is encoded once for the client's own
  headers; ``accept-encoding: identity``, since bodies are read as sent;
* responses parsed by ``httptools`` (llhttp: lengths, chunked bodies,
  keep-alive) and buffered as they arrive, with reading paused past
  ``_HIGH_WATER`` bytes so a slow consumer holds no more than that;
* TLS with the system's certificates (or ``ssl_context``), DNS answers kept for
  ``dns_ttl`` seconds, and every address vetted (``vet``) before it is reached.

Errors map as :mod:`chorus.client.transport` documents for every transport;
one check per ``tick`` over the active requests stops those silent for
``read_timeout`` or past their call's deadline (no timer per call). A
connection that a server closed while idle in the pool is dropped when its
close arrives; one closed under a request before any byte came back raises
:class:`APIConnectionError`, which the client's retry policy retries. No HTTP
proxy is used (as with :class:`~chorus.client.transport.AiohttpTransport`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from chorus.client.transport import WatchedTimeouts, describe, keep_alive
from chorus.errors import (
    AddressRefusedError,
    APIConnectionError,
    APITimeoutError,
    ConfigError,
    ConnectionCutError,
    DeadlineExceededError,
    TLSError,
)

__all__ = ["Http1Transport", "request_head"]

_HIGH_WATER = 1 << 20  # bytes buffered unread before the socket stops being read
_MAX_HEAD = 1 << 16  # bytes a response may take to end its headers (aiohttp: 8 KiB a line)
_NEVER = float("inf")
_NO_BODY_STATUSES = frozenset({204, 304})


def request_head(method: str, target: str, host: str, headers: Mapping[str, str]) -> bytes:
    """The request line and headers up to (not including) ``content-length``.

    A line break in a name or value would let a header smuggle another one in:
    refused with :class:`ConfigError` before anything is sent.
    """
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}"]
    if "accept-encoding" not in {k.lower() for k in headers}:
        lines.append("accept-encoding: identity")
    for name, value in headers.items():
        text = f"{name}: {value}"
        if "\r" in text or "\n" in text or not name or ":" in name:
            raise ConfigError(f"header {name!r} has a line break or a bad name")
        lines.append(text)
    try:
        return ("\r\n".join(lines) + "\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"a header is not Latin-1 text: {exc}") from None


class _Origin:
    """Where requests to one URL go, worked out once per URL."""

    __slots__ = ("host", "key", "port", "secure", "target", "where")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not an http(s) URL: {url!r}")
        self.secure = parts.scheme == "https"
        self.host = parts.hostname
        try:
            port = parts.port
        except ValueError:
            raise ConfigError(f"bad port in URL: {url!r}") from None
        self.port = port or (443 if self.secure else 80)
        default = 443 if self.secure else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.where = name if self.port == default else f"{name}:{self.port}"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.key = (self.secure, self.host, self.port)


class _Exchange:
    """One request and its response (the :class:`~chorus.client.transport.Response`).

    The connection's parser feeds it; its reader awaits ``_waiter``. Once the
    response is whole the connection goes back to the pool at once, however much of
    the body is still unread here.
    """

    __slots__ = (
        "_conn",
        "_idle",
        "_parts",
        "_size",
        "_until_close",
        "_waiter",
        "_whole_wanted",
        "checked",
        "error",
        "expired",
        "expires",
        "fired",
        "headed",
        "headers",
        "last",
        "seen",
        "settled",
        "status",
        "url",
        "whole",
    )

    def __init__(self, conn: _Conn, url: str, now: float, expires: float, idle: float) -> None:
        self._conn: _Conn | None = conn
        self.url = url
        self._idle = idle
        self.status = 0
        self.headers: Mapping[str, str] = _EMPTY
        self._parts: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._waiter: asyncio.Future[None] | None = None
        self._until_close = False
        self._whole_wanted = False  # read() is the reader: no pausing for it
        self.headed = False  # the response's headers are in
        self.whole = False  # the response is complete
        self.error: BaseException | None = None  # why it ended early
        self.settled = False  # nothing more will arrive (whole, failed or closed)
        self.last = now
        self.seen = 0  # data arrivals, for the watchdog
        self.checked = 0  # arrivals when the watchdog last looked
        self.expires = expires
        self.fired = False
        self.expired = False

    # ---------------------------------------------------------------- fed by the parser

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def body(self, data: bytes) -> None:
        self._parts.append(data)
        self._size += len(data)
        if self._size > _HIGH_WATER and self._conn is not None and not self._whole_wanted:
            self._conn.pause()
        self._wake()

    def complete(self) -> None:
        self.whole = self.settled = True
        self._conn = None
        self._wake()

    def fail(self, error: BaseException) -> None:
        if self.settled:
            return
        self.error = error
        self.settled = True
        self._conn = None
        self._wake()

    def closed(self, clean: bool) -> None:
        """The connection closed: the end of a body that runs until close (if the server
        closed it cleanly), else a cut."""
        if clean and self._until_close and self.headed:
            self.complete()
        else:
            self.fail(ConnectionCutError("the connection closed mid-body"))

    # ---------------------------------------------------------------- the Response

    async def _next(self) -> None:
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        except asyncio.CancelledError:
            self.close()
            raise

    def _cut(self, what: str) -> ConnectionCutError | DeadlineExceededError:
        if self.expired:
            return DeadlineExceededError(f"{what}: the call's deadline passed")
        if self.fired:
            return ConnectionCutError(f"{what}: nothing received for {self._idle:g} s")
        error = self.error
        text = str(error) if error is not None else "closed"
        return ConnectionCutError(f"{what}: {text}")

    def _take(self) -> bytes:
        parts = self._parts
        data = parts.popleft() if len(parts) == 1 else b"".join(parts)
        parts.clear()
        self._size = 0
        conn = self._conn
        if conn is not None:
            conn.resume()
        return data

    async def read(self) -> bytes:
        if not self.settled:
            self._whole_wanted = True
            conn = self._conn
            if conn is not None:
                conn.resume()
        while not self.settled:
            await self._next()
        if not self.whole:
            raise self._cut("response body cut short")
        return self._take() if self._parts else b""

    def chunks(self) -> _Exchange:
        return self

    def __aiter__(self) -> _Exchange:
        return self

    async def __anext__(self) -> bytes:
        while not self._parts:
            if self.settled:
                if self.whole:
                    raise StopAsyncIteration
                raise self._cut("stream cut")
            await self._next()
        return self._take()

    def close(self) -> None:
        """Done with the response: a connection still carrying it cannot be reused."""
        conn = self._conn
        if conn is not None and not self.settled:
            self.fail(ConnectionCutError("closed by the reader"))
            conn.abort()


_EMPTY: Mapping[str, str] = CIMultiDictProxy(CIMultiDict())


class _Stray(Exception):
    """A response began that no request asked for (raised to stop the parser)."""


class _Conn(asyncio.Protocol):
    """One keep-alive connection and its response parser."""

    def __init__(self, pool: _Pool, key: tuple[bool, str, int]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: _Exchange | None = None
        self.head: list[tuple[str, str]] = []
        self.used = 0  # requests sent
        self.idle_since = 0.0
        self.open = True
        self.placed = False  # it holds one of the pool's places (given back when lost)
        self.aborted = False  # closed by this side
        self.paused = False
        self.since_body = 0  # bytes received since the last byte of a body

    # ---------------------------------------------------------------- asyncio

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.pool.conns.add(self)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # nothing asked: a server that talks out of turn
            self.abort()
            return
        exchange.seen += 1
        self.since_body += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._failed(APIConnectionError(f"{exchange.url}: unexpected protocol upgrade"))
        except httptools.HttpParserError as exc:
            what = "malformed response" if exchange.headed else "malformed response headers"
            error = ConnectionCutError if exchange.headed else APIConnectionError
            self._failed(error(f"{exchange.url}: {what}: {exc}"))
        else:
            if self.since_body > _MAX_HEAD and self.exchange is exchange:
                # Headers, chunk framing and trailers: never this much without a body byte.
                if exchange.headed:
                    self._failed(ConnectionCutError(f"{exchange.url}: too much framing"))
                else:
                    self._failed(APIConnectionError(f"{exchange.url}: response headers too large"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.transport = None
        exchange = self.exchange
        self.exchange = None
        if exchange is not None:
            if exchange.headed:
                exchange.closed(exc is None and not self.aborted)
            else:
                why = f": {exc}" if exc is not None else ""
                again = " (a reused connection)" if self.used > 1 else ""
                exchange.fail(
                    APIConnectionError(
                        f"{exchange.url}: the server closed the connection{again}{why}"
                    )
                )
        self.pool.lost(self)

    # ---------------------------------------------------------------- httptools

    def on_message_begin(self) -> None:
        if self.exchange is None:  # bytes past the response asked for: not reusable
            self.abort()
            raise _Stray

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.headed:
            return  # (trailers: nothing the client reads is in them)
        self.head.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim response: the real one follows
            self.head = []
            return
        headers: CIMultiDict[str] = CIMultiDict(self.head)
        self.head = []
        exchange.status = status
        exchange.headers = CIMultiDictProxy(headers)
        exchange._until_close = (
            status not in _NO_BODY_STATUSES
            and "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )
        exchange.headed = True
        exchange._wake()

    def on_body(self, body: bytes) -> None:
        self.since_body = 0
        exchange = self.exchange
        if exchange is not None:
            exchange.body(body)

    def on_message_complete(self) -> None:
        exchange = self.exchange
        if exchange is None or not exchange.headed:
            return  # (the end of an interim response)
        self.exchange = None
        self.head = []
        keep = self.parser.should_keep_alive() and not exchange._until_close
        if self.paused:
            self.resume()
        exchange.complete()
        if keep and self.open:
            self.pool.idle(self)
        else:
            self.abort()

    # ---------------------------------------------------------------- ours

    def send(self, data: bytes, body: bytes | None, exchange: _Exchange) -> None:
        transport = self.transport
        if transport is None:  # closed between its connect and this request
            exchange.fail(APIConnectionError(f"{exchange.url}: the connection closed at once"))
            return
        self.exchange = exchange
        self.used += 1
        self.since_body = 0
        if body is None:
            transport.write(data)
        elif len(body) < 65536:
            transport.write(data + body)
        else:
            transport.writelines((data, body))

    def _failed(self, error: APIConnectionError) -> None:
        exchange = self.exchange
        self.exchange = None
        if exchange is not None:
            exchange.fail(error)
        self.abort()

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.open = False
        self.aborted = True
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows, and tells the pool


class _Pool:
    """The connections, DNS answers and watchdog of one transport on one event loop."""

    def __init__(self, owner: Http1Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.idle_conns: dict[tuple[bool, str, int], list[_Conn]] = {}
        self.count = 0  # open or opening
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self.dns: dict[tuple[str, int], tuple[float, list[Any]]] = {}
        self.resolving: dict[tuple[str, int], asyncio.Future[list[Any]]] = {}
        self.conns: set[_Conn] = set()
        self.active: set[_Exchange] = set()
        idle = owner.read_timeout
        self.tick = max(0.02, min(1.0, idle / 4)) if idle else 0.0
        self._check_handle: asyncio.TimerHandle | None = None
        self._sweep_handle: asyncio.TimerHandle | None = None
        self.closing = False

    # ---------------------------------------------------------------- connections

    async def conn(self, origin: _Origin, url: str) -> _Conn:
        """A kept-alive connection at once if one is idle; else a new one (or one given
        back), with the wait, DNS and the connect bounded by ``connect_timeout``."""
        conn = self._idle_conn(origin)
        if conn is not None:
            return conn
        deadline = self.loop.time() + self.owner.connect_timeout
        try:
            async with asyncio.timeout_at(deadline):
                return await self._slow_conn(origin, url, deadline)
        except TimeoutError:
            raise APITimeoutError(f"no response from {url}: connect timed out") from None

    def _idle_conn(self, origin: _Origin) -> _Conn | None:
        idle = self.idle_conns.get(origin.key)
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            if conn.open and now - conn.idle_since < self.owner.keepalive_timeout:
                return conn
            conn.abort()
        return None

    async def _slow_conn(self, origin: _Origin, url: str, deadline: float) -> _Conn:
        while self.count >= self.owner.max_connections:
            self._free_a_place()
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # (it was this one's turn: pass it on)
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            conn = self._idle_conn(origin)
            if conn is not None:
                return conn
        # This connection's place, held from here. Given back here if no connection comes
        # of it; else by its connection_lost (``placed``), and so exactly once.
        self.count += 1
        try:
            conn = await self._connect(origin, url, deadline)
            if not conn.open:
                raise APIConnectionError(f"{url}: the connection closed at once")
        except BaseException:
            self.count -= 1
            self._wake_one()
            raise
        conn.placed = True
        return conn

    async def _connect(self, origin: _Origin, url: str, deadline: float) -> _Conn:
        """Each address in turn, each given its share of the time left."""
        owner = self.owner
        addresses = await self._resolve(origin, url)
        last: BaseException | None = None
        for n, (family, type_, proto, _, address) in enumerate(addresses):
            share = (deadline - self.loop.time()) / (len(addresses) - n)
            sock = None
            try:
                sock = socket.socket(family, type_, proto)
                _tune(sock)
                sock.setblocking(False)
                conn = _Conn(self, origin.key)
                async with asyncio.timeout(share if n + 1 < len(addresses) else None):
                    await self.loop.sock_connect(sock, address)
                    await self.loop.create_connection(
                        lambda conn=conn: conn,
                        sock=sock,
                        ssl=owner.tls() if origin.secure else None,
                        server_hostname=origin.host if origin.secure else None,
                        ssl_handshake_timeout=owner.connect_timeout if origin.secure else None,
                    )
                return conn
            except ssl.SSLError as exc:  # (certificate errors included)
                _close(sock)
                raise TLSError(f"TLS failed for {url}: {describe(exc)}") from exc
            except OSError as exc:  # (a timeout of this address's share too: the next)
                _close(sock)
                last = exc
            except BaseException:
                _close(sock)
                raise
        raise APIConnectionError(f"cannot reach {url}: {describe(last)}") from last

    async def _resolve(self, origin: _Origin, url: str) -> list[Any]:
        """The origin's addresses, vetted; one lookup at a time per host, kept a while."""
        host, port = origin.host, origin.port
        key = (host, port)
        known = self.dns.get(key)
        if known is not None and known[0] > self.loop.time():
            return known[1]
        pending = self.resolving.get(key)
        if pending is None:
            pending = self.resolving[key] = asyncio.ensure_future(self._lookup(host, port, url))
            pending.add_done_callback(lambda done: self._resolved(key, done))
        try:
            return await asyncio.shield(pending)
        except APIConnectionError as exc:  # (each asker its own error: tracebacks apart)
            raise type(exc)(exc.message) from exc.__cause__

    def _resolved(self, key: tuple[str, int], done: asyncio.Future[list[Any]]) -> None:
        self.resolving.pop(key, None)
        if not done.cancelled():
            done.exception()  # (read: a lookup whose askers all left is not "never retrieved")

    async def _lookup(self, host: str, port: int, url: str) -> list[Any]:
        try:
            found = await self.loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except OSError as exc:
            raise APIConnectionError(f"cannot reach {url}: {describe(exc)}") from exc
        vet = self.owner.vet
        if vet is not None:
            for *_, address in found:
                refusal = vet(host, str(address[0]), port)
                if refusal is not None:
                    raise AddressRefusedError(refusal)
        try:
            ipaddress.ip_address(host)
        except ValueError:  # (a name: its answers are kept; an address needs no lookup)
            self.dns[(host, port)] = (self.loop.time() + self.owner.dns_ttl, found)
        return found

    def idle(self, conn: _Conn) -> None:
        if self.closing:
            conn.abort()
            return
        conn.idle_since = self.loop.time()
        self.idle_conns.setdefault(conn.key, []).append(conn)
        self._wake_one()
        if self._sweep_handle is None:
            self._sweep_handle = self.loop.call_later(self.owner.keepalive_timeout, self._sweep)

    def lost(self, conn: _Conn) -> None:
        """A connection that was made has closed: its place is free (if it had one)."""
        if conn.placed:
            conn.placed = False
            self.count -= 1
        self.conns.discard(conn)
        idle = self.idle_conns.get(conn.key)
        if idle is not None:
            with contextlib.suppress(ValueError):
                idle.remove(conn)
        self._wake_one()

    def _free_a_place(self) -> None:
        """At the cap with connections idle (to other origins): close the stalest one."""
        stalest = min(
            (idle[0] for idle in self.idle_conns.values() if idle),
            key=lambda c: c.idle_since,
            default=None,
        )
        if stalest is not None:
            self.idle_conns[stalest.key].remove(stalest)
            stalest.abort()  # (its connection_lost frees the place and wakes a waiter)

    def _wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _sweep(self) -> None:
        """Close connections idle past ``keepalive_timeout``."""
        self._sweep_handle = None
        limit = self.loop.time() - self.owner.keepalive_timeout
        left = 0
        for idle in self.idle_conns.values():
            for conn in [c for c in idle if c.idle_since <= limit]:
                idle.remove(conn)
                conn.abort()
            left += len(idle)
        if left:
            self._sweep_handle = self.loop.call_later(self.owner.keepalive_timeout, self._sweep)

    # ---------------------------------------------------------------- the watchdog

    def watch(self, exchange: _Exchange) -> None:
        if not self.tick:
            return
        self.active.add(exchange)
        if self._check_handle is None:
            self._check_handle = self.loop.call_later(self.tick, self._check)

    def unwatch(self, exchange: _Exchange) -> None:
        self.active.discard(exchange)

    def _check(self) -> None:
        """Stop each request silent for ``read_timeout`` or past its deadline."""
        now = self.loop.time()
        idle = self.owner.read_timeout or _NEVER
        for exchange in list(self.active):
            if exchange.settled:
                self.active.discard(exchange)
                continue
            if exchange.seen != exchange.checked:
                exchange.checked = exchange.seen
                exchange.last = now
            if now - exchange.last > idle or now > exchange.expires:
                self.active.discard(exchange)
                exchange.fired = True
                exchange.expired = now > exchange.expires
                conn = exchange._conn
                exchange.fail(ConnectionCutError("stopped by the watchdog"))
                if conn is not None:
                    conn.abort()
        self._check_handle = self.loop.call_later(self.tick, self._check) if self.active else None

    def close(self) -> None:
        self.closing = True
        for handle in (self._check_handle, self._sweep_handle):
            if handle is not None:
                handle.cancel()
        self._check_handle = self._sweep_handle = None
        for idle in self.idle_conns.values():
            idle.clear()
        for conn in list(self.conns):
            conn.abort()


class Http1Transport(WatchedTimeouts):
    """Pooled HTTP/1.1 for model calls; one pool per event loop (loops cannot share sockets)."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        keepalive_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        read_timeout: float | None = 60.0,
        default_headers: Mapping[str, str] | None = None,
        vet: Callable[[str, str, int], str | None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        dns_ttl: float = 300.0,
    ) -> None:
        """``read_timeout``: seconds of silence (before the headers or within the body)
        that end a request; None waits for ever. ``vet(host, address, port)``: why a
        connection to ``address``, which ``host`` resolved to, may not be made (None:
        it may); a refusal raises :class:`AddressRefusedError` and nothing is sent."""
        if max_connections < 1:
            raise ConfigError(f"max_connections must be at least 1, not {max_connections}")
        self.max_connections = max_connections
        self.keepalive_timeout = keepalive_timeout
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.default_headers: Mapping[str, str] | None = default_headers
        self.vet = vet
        self.dns_ttl = dns_ttl
        self._ssl = ssl_context
        self._pools: dict[asyncio.AbstractEventLoop, _Pool] = {}
        self._origins: dict[str, _Origin] = {}
        self._heads: dict[tuple[str, str, str], bytes] = {}

    def tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            for old in [lp for lp in self._pools if lp.is_closed()]:
                del self._pools[old]  # loops that ended without aclose()
            pool = self._pools[loop] = _Pool(self, loop)
        return pool

    def _origin(self, url: str) -> _Origin:
        origin = self._origins.get(url)
        if origin is None:
            origin = _Origin(url)
            if len(self._origins) > 256:
                self._origins.clear()
            self._origins[url] = origin
        return origin

    def _head(self, method: str, origin: _Origin, headers: Mapping[str, str]) -> bytes:
        if headers is self.default_headers:
            key = (method, origin.where, origin.target)
            head = self._heads.get(key)
            if head is None:
                head = request_head(method, origin.target, origin.where, headers)
                if len(self._heads) > 256:
                    self._heads.clear()
                self._heads[key] = head
            return head
        merged = {k.lower(): v for k, v in (self.default_headers or {}).items()}
        merged.update({k.lower(): v for k, v in headers.items()})
        return request_head(method, origin.target, origin.where, merged)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        expires_in: float | None = None,
    ) -> _Exchange:
        """Send, and return once the response headers are in.

        ``expires_in``: seconds left before the call's deadline; past it, the
        watchdog stops the request or its body (:class:`DeadlineExceededError`).
        """
        origin = self._origin(url)
        head = self._head(method, origin, headers)
        data = head + (b"content-length: %d\r\n\r\n" % len(body) if body is not None else b"\r\n")
        pool = self._pool()
        loop = pool.loop
        now = loop.time()
        expires = now + expires_in if expires_in is not None and self.read_timeout else _NEVER
        try:
            conn = await pool.conn(origin, url)
        except APIConnectionError:
            if loop.time() > expires:
                raise DeadlineExceededError("no response before the call's deadline") from None
            raise
        exchange = _Exchange(conn, url, loop.time(), expires, self.read_timeout or _NEVER)
        conn.send(data, body, exchange)
        pool.watch(exchange)
        try:
            while not exchange.headed:
                if exchange.settled:
                    raise self._unanswered(exchange)
                await exchange._next()
        except BaseException:
            pool.unwatch(exchange)
            exchange.close()
            raise
        if not self.read_timeout:
            pool.unwatch(exchange)
        return exchange

    def _unanswered(self, exchange: _Exchange) -> APIConnectionError:
        if exchange.expired:
            return DeadlineExceededError("no response before the call's deadline")
        if exchange.fired:
            return APITimeoutError(
                f"no response from {exchange.url} within {self.read_timeout:g} s"
            )
        error = exchange.error
        if isinstance(error, APIConnectionError) and not isinstance(error, ConnectionCutError):
            return error
        return APIConnectionError(f"{exchange.url}: the server closed the connection")

    async def aclose(self) -> None:
        """Close the pool of the current loop (and forget those of dead loops)."""
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        for old in [lp for lp in self._pools if lp.is_closed()]:
            del self._pools[old]
        if pool is not None:
            pool.close()
            for lookup in list(pool.resolving.values()):
                lookup.cancel()
            for _ in range(2):  # let the aborted connections report their close (TLS: 2)
                await asyncio.sleep(0)


def _tune(sock: socket.socket) -> None:
    """TCP keep-alive, and no Nagle delay (a request is one write)."""
    keep_alive(sock)
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()
