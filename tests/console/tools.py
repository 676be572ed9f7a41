"""Tools the console tests' server imports by path."""

import asyncio


async def take_a_while(seconds: float) -> str:
    """Take a while: a long lookup that a person may cancel.

    Args:
        seconds: how long it may take
    """
    await asyncio.sleep(30)
    return "done waiting"
