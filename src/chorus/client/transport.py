"""The HTTP boundary: one small interface, one aiohttp implementation.

:class:`Transport` is all the client needs: send a request, get a
:class:`Response` whose body can be read whole or chunk by chunk. aiohttp's
exceptions are mapped to chorus errors here and nowhere else:

* nothing received (refused, reset, DNS) -> :class:`APIConnectionError`
* the certificate does not verify -> :class:`TLSError` (never retried)
* no response headers in time -> :class:`APITimeoutError`
* the body stops early or goes silent -> :class:`ConnectionCutError`

:class:`AiohttpTransport` keeps one pooled ``ClientSession`` per event loop
(sessions cannot cross loops), with keep-alive, TCP keep-alive and a
connection limit, and closes them cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp

from chorus.errors import APIConnectionError, APITimeoutError, ConnectionCutError, TLSError

__all__ = ["AiohttpTransport", "Response", "Transport"]


class Response(Protocol):
    status: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None
    ) -> Response: ...

    async def aclose(self) -> None: ...


class _AiohttpResponse:
    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ConnectionCutError(f"response body cut short: {_describe(exc)}") from exc
        finally:
            self._resp.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ConnectionCutError(f"stream cut: {_describe(exc)}") from exc
        finally:
            self._resp.release()

    def close(self) -> None:
        self._resp.close()


class AiohttpTransport:
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
    ) -> None:
        self.max_connections = max_connections
        self.max_connections_per_host = max_connections_per_host
        self.keepalive_timeout = keepalive_timeout
        self.timeout = aiohttp.ClientTimeout(
            total=None,
            connect=connect_timeout,
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # Sent with every request; a request passing this very mapping sends nothing
        # more, which spares aiohttp merging headers on every call.
        self.default_headers: Mapping[str, str] | None = default_headers
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

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
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                auto_decompress=False,
                headers=self.default_headers,
            )
            self._sessions[loop] = session
        return session

    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None
    ) -> Response:
        try:
            resp = await self._session().request(
                method,
                url,
                data=body,
                headers=None if headers is self.default_headers else headers,
                allow_redirects=False,
            )
        except TimeoutError as exc:
            raise APITimeoutError(f"no response from {url}: timed out") from exc
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
            raise TLSError(f"TLS failed for {url}: {_describe(exc)}") from exc
        except aiohttp.ClientError as exc:
            raise APIConnectionError(f"cannot reach {url}: {_describe(exc)}") from exc
        return _AiohttpResponse(resp)

    async def aclose(self) -> None:
        """Close the session of the current loop (and forget those of dead loops)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        for old in [lp for lp in self._sessions if lp.is_closed()]:
            del self._sessions[old]
        if session is not None:
            await session.close()


def _keepalive_socket(addr_info: Any) -> socket.socket:
    """TCP keep-alive on every connection, as the official SDK sets it (60 s, 5 probes)."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 5)
    return sock


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
