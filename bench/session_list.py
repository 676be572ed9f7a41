"""What listing a tenant's sessions costs as it has more of them (GET /v1/agents/{agent}/
sessions reads ``Store.sessions(prefix, newest=50)``), on SQLite: 1,000 and 20,000 sessions
of one tenant, beside one session of another tenant.

    .venv/bin/python bench/session_list.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from chorus.store import SQLiteStore

TURN = [
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
]


async def one(store: SQLiteStore, session: str) -> None:
    lease = await store.acquire(session, "bench", 60)
    await store.commit(lease, 0, TURN)
    await store.release(lease)


async def measure(n: int) -> None:
    store = SQLiteStore(str(Path(tempfile.mkdtemp()) / "sessions.db"))
    try:
        for i in range(n):
            await one(store, f"t/assistant/s{i}")
        await one(store, "other/assistant/x")
        for label, newest in (("all", None), ("newest 50", 50)):
            times = []
            for _ in range(5):
                started = time.perf_counter()
                await store.sessions("t/assistant/", newest=newest)
                times.append(time.perf_counter() - started)
            print(f"{n:>6} sessions, {label:>9}: {statistics.median(times) * 1000:6.1f} ms")
        started = time.perf_counter()
        await store.sessions("other/assistant/", newest=50)
        took = (time.perf_counter() - started) * 1000
        print(f"{n:>6} sessions, the other tenant's one: {took:.2f} ms")
    finally:
        await store.close()


async def main() -> None:
    for n in (1_000, 20_000):
        await measure(n)


if __name__ == "__main__":
    asyncio.run(main())
