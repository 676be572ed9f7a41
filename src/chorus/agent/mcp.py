"""Tools from MCP servers, over stdio or streamable HTTP, with the official ``mcp`` package.

::

    async with MCPServer(command=["python", "server.py"]) as fs:     # or url="http://127.0.0.1:8000/mcp"
        agent = Agent(model=..., tools=[Prefixed(fs, "fs")], client=claude)
        await agent.run("...")

The server validates its own inputs; a result with ``isError`` reaches the
model as an error result. The connection lives inside ``async with`` (the
``mcp`` client runs background tasks that must end where they began).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from chorus.agent.tools import Tool, ToolRetry
from chorus.errors import ConfigError

__all__ = ["MCPServer"]


class MCPServer:
    """One MCP server as a toolset."""

    def __init__(
        self,
        *,
        command: Sequence[str] | None = None,
        url: str | None = None,
        env: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = 60.0,
    ) -> None:
        if (command is None) == (url is None):
            raise ConfigError(
                "MCPServer needs exactly one of command=[...] (stdio) or url=... (HTTP)"
            )
        if command is not None and not command:
            raise ConfigError("MCPServer(command=...) is empty")
        self.command = list(command) if command is not None else None
        self.url = url
        self.env = env
        self.headers = headers
        self.timeout = timeout
        self._stack: contextlib.AsyncExitStack | None = None
        self._session: Any = None
        self._tools: list[Tool] | None = None

    async def __aenter__(self) -> MCPServer:
        try:
            from mcp import ClientSession, StdioServerParameters
            from mcp.client import streamable_http
            from mcp.client.stdio import stdio_client
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("MCP tools need the mcp package: pip install 'chorus[mcp]'") from exc
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            if self.command is not None:
                params = StdioServerParameters(
                    command=self.command[0], args=self.command[1:], env=self.env
                )
                read, write = await stack.enter_async_context(stdio_client(params))
            else:
                assert self.url is not None
                if hasattr(streamable_http, "streamable_http_client"):  # mcp >= 1.2x
                    import httpx

                    http = await stack.enter_async_context(httpx.AsyncClient(headers=self.headers))
                    client = streamable_http.streamable_http_client(self.url, http_client=http)
                else:  # pragma: no cover - older mcp
                    client = streamable_http.streamablehttp_client(self.url, headers=self.headers)
                read, write, _ = await stack.enter_async_context(client)
            session = await stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._session = stack, session
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack, self._session, self._tools = self._stack, None, None, None
        if stack is not None:
            await stack.aclose()

    async def list_tools(self) -> list[Tool]:
        if self._session is None:
            raise ConfigError("use the MCP server inside 'async with MCPServer(...)'")
        if self._tools is None:
            listed = await self._session.list_tools()
            self._tools = [self._wrap(t) for t in listed.tools]
        return list(self._tools)

    def _wrap(self, spec: Any) -> Tool:
        name = spec.name

        async def call(arguments: dict[str, Any]) -> Any:
            result = await self._session.call_tool(name, arguments)
            text = "\n".join(
                getattr(c, "text", "") for c in result.content if getattr(c, "text", None)
            )
            if result.isError:
                raise ToolRetry(text or f"{name} failed")
            if result.structuredContent is not None and not text:
                return result.structuredContent
            return text

        schema = dict(spec.inputSchema or {"type": "object"})
        schema.setdefault("type", "object")
        return Tool(
            name=name,
            description=spec.description or name,
            input_schema=schema,
            fn=call,
            args_type=None,
            timeout=self.timeout,
            is_async=True,
        )
