"""The HTTP boundary: one small interface, and the aiohttp implementation.

:class:`Transport` is all the client needs: send a request, get a
:class:`Response` whose body can be read whole or chunk by chunk. aiohttp's
exceptions are mapped to chorus errors here and nowhere else:

* nothing received (refused, reset, DNS) -> :class:`APIConnectionError`
* the certificate does not verify -> :class:`TLSError` (never retried)
* no response headers in time -> :class:`APITimeoutError`
* the body stops early or goes silent -> :class:`ConnectionCutError`
* the call's deadline passes while waiting (``expires_in``) -> :class:`DeadlineExceededError`

:class:`AiohttpTransport` keeps one pooled ``ClientSession`` per event loop
(sessions cannot cross loops), with keep-alive, TCP keep-alive and a
connection limit, and closes them cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import aiohttp
import aiohttp.abc

from chorus.errors import (
    AddressRefusedError,
    APIConnectionError,
    APITimeoutError,
    ConnectionCutError,
    DeadlineExceededError,
    TLSError,
)

__all__ = ["AiohttpTransport", "Response", "Transport", "WatchedTimeouts", "describe", "keep_alive"]


class Response(Protocol):
    """A response whose headers are in: read its body whole, or chunk by chunk."""

    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """The client's one I/O seam: send a request, get a :class:`Response`."""

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        expires_in: float | None = None,
    ) -> Response: ...

    async def aclose(self) -> None: ...


_NEVER = float("inf")


class _Watch:
    """One request under the watchdog: when it last made progress, when its call's
    deadline passes, and how to stop it."""

    __slots__ = ("expired", "expires", "fired", "last", "resp", "task")

    def __init__(self, now: float, task: asyncio.Task[Any] | None, expires: float) -> None:
        self.last = now
        self.expires = expires
        self.task = task
        self.resp: aiohttp.ClientResponse | None = None
        self.fired = False
        self.expired = False


class _Watchdog:
    """Idle detection for every request of one event loop with a single periodic check.

    aiohttp's per-read timeout re-arms a timer on every chunk received; at
    thousands of streams that timer churn costs more than all of chorus's own
    work per event. One check per ``tick`` over the active requests does the
    same job: a request silent for ``idle`` seconds, or still running when its
    call's deadline passes, is stopped (before headers: its task is cancelled;
    after: its response is closed). A body that trickles in is thus bounded by
    the deadline too, to within one tick, without a timer per call.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float) -> None:
        self.loop = loop
        self.idle = idle
        self.tick = max(0.02, min(1.0, idle / 4))
        self.active: set[_Watch] = set()
        self._handle: asyncio.TimerHandle | None = None

    def watch(self, task: asyncio.Task[Any] | None, expires_in: float | None = None) -> _Watch:
        now = self.loop.time()
        watch = _Watch(now, task, now + expires_in if expires_in is not None else _NEVER)
        self.active.add(watch)
        if self._handle is None:
            self._handle = self.loop.call_later(self.tick, self._check)
        return watch

    def done(self, watch: _Watch) -> None:
        self.active.discard(watch)

    def _check(self) -> None:
        now = self.loop.time()
        for watch in [w for w in self.active if now - w.last > self.idle or now > w.expires]:
            watch.fired = True
            watch.expired = now > watch.expires
            self.active.discard(watch)
            if watch.resp is not None:
                watch.resp.close()
            elif watch.task is not None:
                watch.task.cancel()
        self._handle = self.loop.call_later(self.tick, self._check) if self.active else None

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _AiohttpResponse:
    __slots__ = ("_dog", "_resp", "_watch", "headers", "status")

    def __init__(
        self, resp: aiohttp.ClientResponse, dog: _Watchdog | None, watch: _Watch | None
    ) -> None:
        self._resp = resp
        self._dog = dog
        self._watch = watch
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    def _cut(self, exc: BaseException, what: str) -> ConnectionCutError | DeadlineExceededError:
        watch = self._watch
        if watch is not None and watch.expired:
            return DeadlineExceededError(f"{what}: the call's deadline passed")
        if watch is not None and watch.fired and self._dog is not None:
            return ConnectionCutError(f"{what}: nothing received for {self._dog.idle:g} s")
        return ConnectionCutError(f"{what}: {describe(exc)}")

    def _finish(self) -> None:
        self._resp.release()
        if self._dog is not None and self._watch is not None:
            self._dog.done(self._watch)

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._cut(exc, "response body cut short") from exc
        finally:
            self._finish()

    def chunks(self) -> AsyncIterator[bytes]:
        return _Chunks(self)

    def close(self) -> None:
        self._resp.close()
        if self._dog is not None and self._watch is not None:
            self._dog.done(self._watch)


class _Chunks:
    """The body as it arrives. An iterator object rather than an async generator: the
    event loop keeps no per-call generator hooks, and each chunk is one call less deep."""

    __slots__ = ("_clock", "_read", "_resp", "_watch")

    def __init__(self, resp: _AiohttpResponse) -> None:
        self._resp = resp
        self._read = resp._resp.content.readany
        self._watch = resp._watch
        self._clock = resp._dog.loop.time if resp._dog is not None else None

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._resp._finish()
            raise self._resp._cut(exc, "stream cut") from exc
        if not chunk:
            self._resp._finish()
            raise StopAsyncIteration
        if self._watch is not None and self._clock is not None:
            self._watch.last = self._clock()
        return chunk


class _Refused(OSError):
    """An address the transport's ``vet`` refused (raised inside aiohttp's connector)."""


class _Vetted(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver, with every address it finds vetted before a connection is made
    to it: what aiohttp connects to is what was vetted, whatever DNS answers next time."""

    def __init__(self, vet: Callable[[str, str, int], str | None]) -> None:
        self._vet = vet
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            refusal = self._vet(host, result["host"], port)
            if refusal is not None:
                raise _Refused(errno.EACCES, refusal)
        return found

    async def close(self) -> None:
        await self._inner.close()


def _refusal_in(exc: BaseException) -> _Refused | None:
    """The vetting refusal behind an aiohttp connection error, if that is what it was."""
    seen: BaseException | None = exc
    for _ in range(8):  # (aiohttp wraps it once or twice)
        if seen is None:
            return None
        if isinstance(seen, _Refused):
            return seen
        wrapped = getattr(seen, "os_error", None)
        seen = wrapped if isinstance(wrapped, BaseException) else seen.__cause__
    return None


class WatchedTimeouts:
    """What a transport whose watchdog stops requests tells the engine: whether it stops
    them at their call's deadline, and from how far off a call needs no timer of its own.
    For a transport with ``connect_timeout`` and ``read_timeout`` (None: not watched)."""

    connect_timeout: float
    read_timeout: float | None

    @property
    def watches_deadlines(self) -> bool:
        """The watchdog stops a request or its body once its ``expires_in`` passes."""
        return bool(self.read_timeout)

    @property
    def deadline_timer_below(self) -> float:
        """A call with more time left than this needs no deadline timer of its own: the
        connect timeout and the watchdog (idle, and ``expires_in``) stop it in time."""
        if not self.read_timeout:
            return float("inf")
        return self.connect_timeout + self.read_timeout


class AiohttpTransport(WatchedTimeouts):
    """Pooled aiohttp transport, one session per event loop."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        max_connections_per_host: int = 0,
        keepalive_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        read_timeout: float | None = 60.0,
        default_headers: Mapping[str, str] | None = None,
        vet: Callable[[str, str, int], str | None] | None = None,
    ) -> None:
        """``vet(host, address, port)``: why a connection to ``address``, which ``host``
        resolved to, may not be made (None: it may). Every address a resolution gives is
        vetted before any connection, and the connection goes to a vetted address; a
        refusal raises :class:`AddressRefusedError` and nothing is sent."""
        self.max_connections = max_connections
        self.max_connections_per_host = max_connections_per_host
        self.keepalive_timeout = keepalive_timeout
        # No sock_read: idle reads are watched by one _Watchdog per loop instead.
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout
        )
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # Sent with every request; a request passing this very mapping sends nothing
        # more, which spares aiohttp merging headers on every call.
        self.default_headers: Mapping[str, str] | None = default_headers
        self._vet = vet
        # (a connector does not close a resolver it was given: aclose does)
        self._resolvers: dict[asyncio.AbstractEventLoop, _Vetted] = {}
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._dogs: dict[asyncio.AbstractEventLoop, _Watchdog] = {}

    def _watchdog(self) -> _Watchdog | None:
        if not self.read_timeout:
            return None
        loop = asyncio.get_running_loop()
        dog = self._dogs.get(loop)
        if dog is None:
            dog = self._dogs[loop] = _Watchdog(loop, self.read_timeout)
        return dog

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            for old in [lp for lp in self._sessions if lp.is_closed()]:
                del self._sessions[old]  # loops that ended without aclose()
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=self.max_connections_per_host,
                keepalive_timeout=self.keepalive_timeout,
                ttl_dns_cache=300,
                socket_factory=_keepalive_socket,
                resolver=self._vetted() if self._vet is not None else None,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                auto_decompress=False,
                headers=self.default_headers,
            )
            self._sessions[loop] = session
        return session

    def _vetted(self) -> _Vetted:
        assert self._vet is not None
        resolver = self._resolvers[asyncio.get_running_loop()] = _Vetted(self._vet)
        return resolver

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        expires_in: float | None = None,
    ) -> Response:
        """Send, and return once the response headers are in.

        ``expires_in``: seconds left before the call's deadline; past it, the
        watchdog stops the request or its body (:class:`DeadlineExceededError`).
        """
        dog = self._watchdog()
        watch = dog.watch(asyncio.current_task(), expires_in) if dog is not None else None
        resp = None
        try:
            resp = await self._session().request(
                method,
                url,
                data=body,
                headers=None if headers is self.default_headers else headers,
                allow_redirects=False,
            )
        except asyncio.CancelledError:
            if watch is None or not watch.fired:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            assert dog is not None
            if watch.expired:
                raise DeadlineExceededError("no response before the call's deadline") from None
            raise APITimeoutError(f"no response from {url} within {dog.idle:g} s") from None
        except TimeoutError as exc:
            raise APITimeoutError(f"no response from {url}: timed out") from exc
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            raise TLSError(f"TLS failed for {url}: {describe(exc)}") from exc
        except aiohttp.ClientError as exc:
            refused = _refusal_in(exc)
            if refused is not None:
                raise AddressRefusedError(refused.strerror or str(refused)) from exc
            raise APIConnectionError(f"cannot reach {url}: {describe(exc)}") from exc
        finally:
            if watch is not None:
                watch.task = None
                if resp is None and dog is not None:
                    dog.done(watch)
        if watch is not None and dog is not None:
            # Still watched (unless it fired just now): from here on, idle means no body.
            watch.resp = resp
            watch.last = dog.loop.time()
        return _AiohttpResponse(resp, dog, watch)

    async def aclose(self) -> None:
        """Close the session of the current loop (and forget those of dead loops)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        for old in [lp for lp in self._sessions if lp.is_closed()]:
            del self._sessions[old]
        dog = self._dogs.pop(loop, None)
        if dog is not None:
            dog.stop()
        if session is not None:
            await session.close()
        resolver = self._resolvers.pop(loop, None)
        if resolver is not None:
            await resolver.close()


def _keepalive_socket(addr_info: Any) -> socket.socket:
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    keep_alive(sock)
    return sock


def keep_alive(sock: socket.socket) -> None:
    """TCP keep-alive on a connection, as the official SDK sets it (60 s, 5 probes)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 5)


def describe(exc: BaseException | None) -> str:
    """An exception in one line for an error message: its type, and its text if any."""
    if exc is None:
        return "no address"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
