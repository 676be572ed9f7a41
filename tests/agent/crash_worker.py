"""A process that runs session turns and can SIGKILL itself at a named failpoint.

Used by test_crash.py: ``python crash_worker.py DB SESSION TURNS LEDGER [FAILPOINT:NTH]``.
Prints ``ACK <seq>`` after each turn the store acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from chorus import Agent, SQLiteStore, ToolContext, simulated_client, tool
from chorus.agent.session import Session

db, session_id, turns, ledger = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
target, _, nth = (sys.argv[5] if len(sys.argv) > 5 else "").partition(":")
hits = {"count": 0}


def failpoint(name: str) -> None:
    if name == target:
        hits["count"] += 1
        if hits["count"] == int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


@tool
def get_weather(city: str, ctx: ToolContext) -> str:
    """Current weather for a city."""
    with open(ledger, "a") as f:
        f.write(f"{ctx.tool_use_id} {ctx.idempotency_key}\n")
        f.flush()
        os.fsync(f.fileno())
    failpoint("after_tool_effect")
    return f"sunny in {city}"


async def main() -> None:
    store = SQLiteStore(db, failpoint=failpoint)
    async with simulated_client() as claude:
        agent = Agent(model="claude-sonnet-4-5", tools=[get_weather], client=claude)
        session = Session(agent, session_id, store=store, concurrency="wait", lease_ttl=0.5)
        done = (await store.load(session_id)).seq // 4
        for i in range(done, turns):
            result = await session.send(f"What is the weather in City{i}?")
            print(f"ACK {result.seq}", flush=True)
    await store.close()


asyncio.run(main())
