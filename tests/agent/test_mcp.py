"""Tools from real MCP servers (the official mcp package), over stdio and streamable HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chorus.agent import Agent, ToolResult
from chorus.agent.mcp import MCPServer
from chorus.agent.toolsets import Combined, Filtered, Prefixed, ToolList
from chorus.client import Claude
from chorus.errors import ConfigError
from chorus.sim import Simulator

SERVER = Path(__file__).with_name("mcp_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)], stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def check_server(server: MCPServer) -> None:
    tools = {t.name: t for t in await server.list_tools()}
    assert set(tools) == {"add", "shout"}
    assert tools["add"].input_schema["properties"]["a"]["type"] == "integer"
    from chorus.agent.tools import ToolContext

    ctx = ToolContext("t1", "k")
    assert await tools["add"].run({"a": 2, "b": 40}, ctx) == "sum=42"
    from chorus.agent.tools import ToolRetry

    with pytest.raises(ToolRetry, match="cannot shout boom"):
        await tools["shout"].run({"text": "boom"}, ctx)


async def test_stdio_server() -> None:
    async with MCPServer(command=[sys.executable, str(SERVER), "stdio"]) as server:
        await check_server(server)


async def test_streamable_http_server(http_server: str) -> None:
    async with MCPServer(url=http_server) as server:
        await check_server(server)


async def test_agent_uses_mcp_tools_through_toolsets() -> None:
    async with (
        Simulator() as sim,
        MCPServer(command=[sys.executable, str(SERVER), "stdio"]) as server,
    ):
        claude = Claude(api_key="k", base_url=sim.base_url)
        agent = Agent(
            model="claude-sonnet-4-5",
            tools=[Prefixed(Filtered(server, {"shout"}), "mcp")],
            client=claude,
        )
        events = [e async for e in agent.stream("please mcp shout the word 'hello'")]
        await claude.aclose()
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(r.name, r.content, r.is_error) for r in results] == [("mcp_shout", "HELLO", False)]


async def test_toolset_composition() -> None:
    from chorus.agent import tool

    @tool
    def a(x: int) -> int:
        """A."""
        return x

    @tool
    def b(x: int) -> int:
        """B."""
        return x

    combined = Combined(Prefixed(ToolList([a, b]), "one"), Filtered(ToolList([a, b]), {"b"}))
    assert [t.name for t in await combined.list_tools()] == ["one_a", "one_b", "b"]
    with pytest.raises(ConfigError, match="two tools are named 'a'"):
        await Combined(ToolList([a]), ToolList([a])).list_tools()


def test_mcp_server_arguments() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        MCPServer()
    with pytest.raises(ConfigError, match="exactly one of"):
        MCPServer(command=["x"], url="http://127.0.0.1:1/mcp")
