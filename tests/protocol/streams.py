"""Recorded SSE streams (tests/fixtures/streams) and helpers to decode and fold them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chorus.errors import StreamError
from chorus.protocol import Accumulator, EventDecoder, Message, SSEDecoder, SSEFrame, StreamEvent

STREAMS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "streams"
NAMES = sorted(p.stem for p in STREAMS_DIR.glob("*.txt"))


def read(name: str) -> bytes:
    return (STREAMS_DIR / f"{name}.txt").read_bytes()


def frames_of(chunks: Iterable[bytes]) -> list[SSEFrame]:
    decoder = SSEDecoder()
    frames = [frame for chunk in chunks for frame in decoder.feed(chunk)]
    frames += decoder.flush()
    assert decoder.buffered == 0
    return frames


def events_of(chunks: Iterable[bytes]) -> list[StreamEvent]:
    decoder = EventDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.flush()


def fold(events: Iterable[StreamEvent]) -> tuple[Message, Accumulator, StreamError | None]:
    """Fold until the end or an error event; the snapshot, the fold and the error if any."""
    acc = Accumulator()
    try:
        for event in events:
            acc.add(event)
    except StreamError as exc:
        return acc.message, acc, exc
    return acc.message, acc, None
