"""A small MCP server for the tests: `python mcp_server.py stdio` or `... http PORT`."""

from __future__ import annotations

import sys

from mcp.server.fastmcp import FastMCP

port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
server = FastMCP("chorus-test", host="127.0.0.1", port=port, log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return f"sum={a + b}"


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    if text == "boom":
        raise ValueError("cannot shout boom")
    return text.upper()


if __name__ == "__main__":
    server.run(transport="streamable-http" if sys.argv[1] == "http" else "stdio")
