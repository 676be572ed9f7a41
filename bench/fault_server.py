"""A small Messages API server that injects faults, written apart from ``chorus.sim``.

The soak runs every client against a server chorus has never seen: this one
shares no code with the simulator (its own aiohttp app, its own SSE bytes), so
the client cannot pass by agreeing with the simulator's quirks. It echoes the
last user message as the reply, streamed as the real API streams it
(``message_start``, ``content_block_start``, ``ping``, one ``text_delta`` per
word, ``content_block_stop``, ``message_delta``, ``message_stop``), in about
``--reply-ms`` per reply (half before the first byte, half spread over the
deltas).

Faults are drawn per attempt from a seeded generator, in the mix of the client
issue (percent of attempts):

* ``--p429`` 429 ``rate_limit_error`` with ``retry-after: 1`` and no rate-limit headers;
* ``--p529`` 529 ``overloaded_error``;
* ``--pcut`` the connection is cut after a random number of events (0 to all but the last);
* ``--preset`` the connection is reset before the response headers;
* ``--perror`` an ``event: error`` (``overloaded_error``) after a random number of events;
* ``--burst-every/--burst-seconds`` every request gets 529 for ``burst-seconds`` out
  of every ``burst-every``, counted from the first request (the first burst starts
  ``--burst-at`` seconds in);
* ``--outage-at/--outage-seconds``: one total outage (every request 529).

It prints ``fault server listening on http://127.0.0.1:PORT`` once it accepts
connections, and at exit (SIGTERM) one JSON line with its counts, which the
soak reads back: attempts by outcome, and attempts per second during and after
an outage.

    python bench/fault_server.py --port 0 --seed 7
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from collections import Counter

from aiohttp import web


def _sse(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _error_body(kind: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


class FaultServer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.first: float | None = None
        self.counts: Counter[str] = Counter()
        self.per_second: Counter[int] = Counter()  # attempts by second since the first
        self.ids = 0

    def _phase(self, now: float) -> str:
        a = self.args
        if self.first is None:
            self.first = now
        t = now - self.first
        if a.outage_seconds and a.outage_at <= t < a.outage_at + a.outage_seconds:
            return "outage"
        if (
            a.burst_seconds
            and t >= a.burst_at
            and (t - a.burst_at) % a.burst_every < a.burst_seconds
        ):
            return "burst"
        return "normal"

    def _draw(self) -> str:
        a = self.args
        x = self.rng.random() * 100
        for name, p in (
            ("429", a.p429),
            ("529", a.p529),
            ("cut", a.pcut),
            ("reset", a.preset),
            ("error", a.perror),
        ):
            if x < p:
                return name
            x -= p
        return "ok"

    async def messages(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        phase = self._phase(now)
        assert self.first is not None
        self.per_second[int(now - self.first)] += 1
        try:
            body = await request.json()
            messages = body["messages"]
            last = messages[-1]
            content = last["content"]
            if isinstance(content, list):
                content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
            if last.get("role") == "assistant":  # a prefill: the reply continues it
                user = messages[-2]["content"] if len(messages) > 1 else ""
                text = str(user)[len(str(content)) :] if str(user).startswith(str(content)) else ""
            else:
                text = str(content)
            model = str(body["model"])
            stream = bool(body.get("stream"))
        except (ValueError, KeyError, IndexError, TypeError):
            self.counts["bad_request"] += 1
            return web.Response(
                status=400,
                body=_error_body("invalid_request_error", "malformed request"),
                content_type="application/json",
            )
        fault = "529" if phase != "normal" else self._draw()
        self.counts[f"{phase}:{fault}"] += 1
        if fault == "429":
            return web.Response(
                status=429,
                body=_error_body("rate_limit_error", "Rate limited"),
                content_type="application/json",
                headers={"retry-after": "1"},
            )
        if fault == "529":
            return web.Response(
                status=529,
                body=_error_body("overloaded_error", "Overloaded"),
                content_type="application/json",
            )
        if fault == "reset":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more to say on this connection
        half = self.args.reply_ms / 2000
        words = text.split(" ") if text else [""]
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        self.ids += 1
        msg_id = f"msg_fault{self.ids:08d}"
        usage_in = max(1, len(text) // 4)
        if not stream:
            await asyncio.sleep(2 * half)
            return web.json_response(
                {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": usage_in, "output_tokens": len(words)},
                }
            )
        events = [
            _sse(
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": msg_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": usage_in, "output_tokens": 1},
                    },
                },
            ),
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            _sse("ping", {"type": "ping"}),
            *(
                _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
                for piece in pieces
            ),
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": len(words)},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        stop_at = len(events)
        if fault in ("cut", "error"):
            stop_at = self.rng.randrange(0, len(events))  # events sent before the fault
        resp = web.StreamResponse(
            status=200,
            headers={"content-type": "text/event-stream; charset=utf-8", "request-id": msg_id},
        )
        await resp.prepare(request)
        await asyncio.sleep(half)
        # The head (start events and the first delta), then the deltas in a few writes.
        head = 4
        groups = [events[:head]] + [events[i : i + 3] for i in range(head, len(events), 3)]
        gap = half / max(1, len(groups) - 1)
        sent = 0
        for n, group in enumerate(groups):
            if n:
                await asyncio.sleep(gap)
            take = group[: max(0, stop_at - sent)]
            if take:
                await resp.write(b"".join(take))
                sent += len(take)
            if sent >= stop_at:
                break
        if fault == "cut":
            if request.transport is not None:
                request.transport.abort()
            return resp
        if fault == "error":
            await resp.write(
                _sse(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"},
                    },
                )
            )
        await resp.write_eof()
        return resp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reply-ms", type=float, default=200.0)
    parser.add_argument("--p429", type=float, default=10.0)
    parser.add_argument("--p529", type=float, default=5.0)
    parser.add_argument("--pcut", type=float, default=2.0)
    parser.add_argument("--preset", type=float, default=1.0)
    parser.add_argument("--perror", type=float, default=1.0)
    parser.add_argument("--burst-every", type=float, default=30.0)
    parser.add_argument("--burst-seconds", type=float, default=5.0)
    parser.add_argument("--burst-at", type=float, default=10.0)
    parser.add_argument("--outage-at", type=float, default=0.0)
    parser.add_argument("--outage-seconds", type=float, default=0.0)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the fault server listens on loopback only")
    server = FaultServer(args)

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/v1/messages", server.messages)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = runner.addresses[0][1]
        print(f"fault server listening on http://{args.host}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        print(
            json.dumps(
                {
                    "counts": dict(server.counts),
                    "per_second": {str(k): v for k, v in sorted(server.per_second.items())},
                }
            ),
            flush=True,
        )

    asyncio.run(run())
    sys.exit(0)


if __name__ == "__main__":
    main()
