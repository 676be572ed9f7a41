"""A tool that takes its time, imported by path from the A2A tests' server config."""

import asyncio


async def linger() -> str:
    """Linger a long while before answering (a slow job)."""
    await asyncio.sleep(20)
    return "done lingering"
