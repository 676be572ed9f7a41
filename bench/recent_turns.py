"""What an ended turn that ``chorus serve`` keeps for returning readers costs to hold.

The server keeps its last ``limits.recent_turns`` (4,096) ended turns in memory, so a
client that lost its stream reads the rest with ``Last-Event-ID`` without a trip to the
journal. Each is a :class:`chorus.serve.turns.LiveTurn` with a text event and a ``done``
event, run by its own task as the server runs it. Reported per ended turn: objects the
collector tracks (each young pass of Python's collector walks the ones that survive, so
they set how often and how long those passes are) and bytes held (tracemalloc).

    .venv/bin/python bench/recent_turns.py
"""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc

from chorus.serve.turns import LiveTurn

COUNT = 4096


async def measure() -> dict[str, float]:
    async def run(turn: LiveTurn) -> None:
        turn.add("text", {"text": "hello there"})
        body = {"turn": 1, "output": "hello there", "usage": {"input_tokens": 9}}
        turn.add("done", body)
        turn.end("done", body)

    tracemalloc.start()
    gc.collect()
    objects, held = len(gc.get_objects()), tracemalloc.get_traced_memory()[0]
    kept = []
    for i in range(COUNT):
        turn = LiveTurn(f"default/writer/s{i}", 1)
        turn.task = asyncio.create_task(run(turn))
        kept.append(turn)
    await asyncio.gather(*(t.task for t in kept if t.task is not None))
    await asyncio.sleep(0)
    gc.collect()
    return {
        "turns": COUNT,
        "tracked_objects_per_turn": (len(gc.get_objects()) - objects) / COUNT,
        "bytes_per_turn": (tracemalloc.get_traced_memory()[0] - held) / COUNT,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))
