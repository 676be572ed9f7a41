"""Toolsets: groups of tools that compose by wrapping.

``Prefixed(toolset, "fs")`` renames, ``Filtered(toolset, {"read", "list"})``
keeps some, ``Combined(a, b)`` joins; an agent takes toolsets beside single
tools. A toolset resolves its tools asynchronously, which is what lets an MCP
server (:mod:`chorus.agent.mcp`) be one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from chorus.agent.tools import Tool, from_function
from chorus.errors import ConfigError

__all__ = ["Combined", "Filtered", "Prefixed", "ToolList", "Toolset"]


@runtime_checkable
class Toolset(Protocol):
    async def list_tools(self) -> list[Tool]: ...


class ToolList:
    """Plain tools (or functions) as a toolset."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]]) -> None:
        self._tools = [t if isinstance(t, Tool) else from_function(t) for t in tools]

    async def list_tools(self) -> list[Tool]:
        return list(self._tools)


class Prefixed:
    def __init__(self, inner: Toolset, prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    async def list_tools(self) -> list[Tool]:
        return [
            dataclasses.replace(t, name=f"{self.prefix}_{t.name}")
            for t in await self.inner.list_tools()
        ]


class Filtered:
    def __init__(self, inner: Toolset, keep: Iterable[str] | Callable[[Tool], bool]) -> None:
        self.inner = inner
        if callable(keep):
            self.keep = keep
        else:
            names = set(keep)
            self.keep = lambda t: t.name in names

    async def list_tools(self) -> list[Tool]:
        return [t for t in await self.inner.list_tools() if self.keep(t)]


class Combined:
    def __init__(self, *toolsets: Toolset) -> None:
        self.toolsets = toolsets

    async def list_tools(self) -> list[Tool]:
        tools: list[Tool] = []
        seen: set[str] = set()
        for toolset in self.toolsets:
            for t in await toolset.list_tools():
                if t.name in seen:
                    raise ConfigError(
                        f"two tools are named {t.name!r}; use Prefixed to tell them apart"
                    )
                seen.add(t.name)
                tools.append(t)
        return tools
