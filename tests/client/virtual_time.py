"""An event loop on virtual time, and an in-memory Messages API, for whole-client fault runs.

:class:`VirtualTimeLoop` is an ordinary asyncio loop whose clock only moves when
every task is waiting: where the real loop would block in ``select`` until its
next timer, this one jumps to it. With no sockets involved (the
:class:`ScriptedAPI` transport answers in memory), thousands of concurrent calls
over minutes of traffic run in a second, deterministically, through the real
client: its drivers, call state machine, gates and retry budget.
"""

from __future__ import annotations

import asyncio
import json
import selectors
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self.now += timeout  # nothing to do until the next timer: go there
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._jump = _JumpingSelector()
        super().__init__(selector=self._jump)

    def time(self) -> float:
        return self._jump.now


class LoopClock:
    """The client's clock on the running loop's time (virtual under VirtualTimeLoop)."""

    def now(self) -> float:
        return EPOCH + asyncio.get_running_loop().time()

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def reply_stream(text: str, model: str) -> bytes:
    """The SSE bytes of a one-block text reply, as the API streams it."""
    words = text.split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    message = {
        "id": "msg_virtual",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    return b"".join(
        [
            _sse("message_start", {"type": "message_start", "message": message}),
            _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            *(
                _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": p},
                    },
                )
                for p in pieces
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
    )


class _Response:
    def __init__(self, status: int, body: bytes, delay: float, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers = dict(headers)
        self._body = body
        self._delay = delay

    async def read(self) -> bytes:
        await asyncio.sleep(self._delay)
        return self._body

    async def _chunks(self) -> AsyncIterator[bytes]:
        await asyncio.sleep(self._delay)
        yield self._body

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks()

    def close(self) -> None:
        pass


class ScriptedAPI:
    """A transport that echoes the prompt, or answers what ``fault(now)`` says.

    ``fault(now)`` returns None (reply normally after ``reply`` seconds) or an
    ``(status, headers)`` pair to answer with at once. Every send is logged with
    its virtual time and status.
    """

    def __init__(
        self,
        fault: Callable[[float], tuple[int, dict[str, str]] | None],
        *,
        reply: float = 0.2,
        rtt: float = 0.002,
    ) -> None:
        self.fault = fault
        self.reply = reply
        self.rtt = rtt
        self.sent: list[tuple[float, int]] = []

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        expires_in: float | None = None,
    ) -> _Response:
        now = asyncio.get_running_loop().time()
        await asyncio.sleep(self.rtt)
        answer = self.fault(now)
        if answer is not None:
            status, extra = answer
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            error = json.dumps({"type": "error", "error": {"type": kind, "message": kind}})
            self.sent.append((now, status))
            return _Response(status, error.encode(), 0.0, extra)
        request = json.loads(body or b"{}")
        text = request["messages"][-1]["content"]
        self.sent.append((now, 200))
        if request.get("stream"):
            return _Response(200, reply_stream(text, request["model"]), self.reply, {})
        message = {
            "id": "msg_virtual",
            "type": "message",
            "role": "assistant",
            "model": request["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 5},
        }
        return _Response(200, json.dumps(message).encode(), self.reply, {})

    async def aclose(self) -> None:
        pass
