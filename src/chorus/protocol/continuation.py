"""Continue a text reply cut mid-block: prefill what was sent, fold in what follows.

When a stream fails after the caller has read part of a plain-text reply, the
client may send the text so far back as an assistant prefill and stitch the
continuation onto the same block (``continue_interrupted``). The rules are pure
and live here: when a reply can be continued at all (plain text, cut inside its
last open text block, or after that block closed but before the reply ended; never
a partial ``tool_use``), the prefill request, and how the continuation's events map
onto the interrupted message, showing the whitespace at the seam once.

A cut after the last text block closed leaves the caller with that block whole and
without the reply's end (its stop reason and usage, or a block still to come). The
continuation is asked for all the same: what it writes past the prefill, if anything,
becomes a new text block after the closed one (a closed block takes no more deltas),
and its end is the reply's.
"""

from __future__ import annotations

from typing import Any

from chorus.protocol.accumulate import Accumulator
from chorus.protocol.types import (
    ContentBlockDeltaEvent,
    ContentBlockStartEvent,
    ContentBlockStopEvent,
    MessageStartEvent,
    PingEvent,
    StreamEvent,
    TextBlock,
    TextDelta,
)

__all__ = ["Continuation"]


class Continuation:
    """Continue a text reply cut mid-block: prefill what was sent, remap what follows."""

    def __init__(self, index: int, text: str, *, closed: bool = False) -> None:
        self.index = index  # the text block the continuation extends (or follows: closed)
        self.text = text
        self.closed = closed  # that block was closed before the cut
        # The whitespace the prefill leaves out (the API refuses it) has reached the caller
        # already; the continuation usually writes it again, and it must not show twice.
        self.seam = text[len(text.rstrip()) :]
        self._opened = False  # (closed) the continuation's first block has been shown
        self._text_first = True  # (closed) that first block is text (else forwarded whole)

    @classmethod
    def after(cls, visible: Accumulator, attempt: Accumulator) -> Continuation | None:
        if not visible.started:
            return None
        message = visible.message
        if not message.content or attempt.done or message.stop_reason is not None:
            return None  # (a known stop reason: the reply is whole but for its last event)
        last = message.content[-1]
        open_blocks = visible.incomplete
        # Only plain text, cut inside its last text block or after it closed.
        if not isinstance(last, TextBlock) or open_blocks not in ([len(message.content) - 1], []):
            return None
        if any(not isinstance(b, TextBlock) for b in message.content):
            return None
        text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
        if not text.strip():
            return None
        return cls(len(message.content) - 1, text, closed=not open_blocks)

    def request(self, params: dict[str, Any]) -> dict[str, Any]:
        messages = list(params["messages"])
        prefill = self.text.rstrip()  # the API refuses a prefill ending in whitespace
        if messages and messages[-1].get("role") == "assistant":
            prior = messages[-1]["content"]
            prior_text = prior if isinstance(prior, str) else ""
            messages[-1] = {"role": "assistant", "content": (prior_text + prefill).rstrip()}
        else:
            messages.append({"role": "assistant", "content": prefill})
        return {**params, "messages": messages}

    def _past_seam(self, delta: TextDelta) -> TextDelta | None:
        """``delta`` without the whitespace the caller already has; None if nothing is left."""
        text, seam = delta.text, self.seam
        same = 0
        while same < min(len(text), len(seam)) and text[same] == seam[same]:
            same += 1
        self.seam = seam[same:] if same == len(text) else ""
        if same == len(text):
            return None
        return TextDelta(text=text[same:]) if same else delta

    def remap_all(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if self.closed:
                out += self._after_closed(event)
                continue
            mapped = self.remap(event)
            if mapped is not None:
                out.append(mapped)
        return out

    def _after_closed(self, event: StreamEvent) -> list[StreamEvent]:
        """Fold the continuation's events in after a closed block: its first block, once it
        writes anything past the seam, is a new text block right after the closed one."""
        if isinstance(event, MessageStartEvent | PingEvent):
            return []
        first = self.index + 1
        if isinstance(event, ContentBlockStartEvent | ContentBlockDeltaEvent) and event.index:
            return [_shifted(event, first + event.index - (0 if self._opened else 1))]
        if isinstance(event, ContentBlockStartEvent):
            if not isinstance(event.content_block, TextBlock):  # a tool call: shown as is
                self._text_first, self._opened = False, True
                return [_shifted(event, first)]
            return []  # (a text block: shown with its first text, if it has any)
        if isinstance(event, ContentBlockDeltaEvent) and not self._text_first:
            return [_shifted(event, first)]
        if isinstance(event, ContentBlockDeltaEvent):
            delta = event.delta
            if self.seam and isinstance(delta, TextDelta):
                trimmed = self._past_seam(delta)
                if trimmed is None:
                    return []
                delta = trimmed
            shown: list[StreamEvent] = [ContentBlockDeltaEvent(index=first, delta=delta)]
            if not self._opened:
                self._opened = True
                start = ContentBlockStartEvent(index=first, content_block=TextBlock(text=""))
                shown.insert(0, start)
            return shown
        if isinstance(event, ContentBlockStopEvent):
            if event.index == 0:
                return [ContentBlockStopEvent(index=first)] if self._opened else []
            return [ContentBlockStopEvent(index=first + event.index - (0 if self._opened else 1))]
        return [event]

    def remap(self, event: StreamEvent) -> StreamEvent | None:
        """Fold the continuation's events into the interrupted (open) block."""
        if isinstance(event, MessageStartEvent | PingEvent):
            return None
        if isinstance(event, ContentBlockStartEvent):
            if event.index == 0:
                return None
            return ContentBlockStartEvent(
                index=event.index + self.index, content_block=event.content_block
            )
        if isinstance(event, ContentBlockDeltaEvent):
            delta = event.delta
            if self.seam and event.index == 0 and isinstance(delta, TextDelta):
                trimmed = self._past_seam(delta)
                if trimmed is None:
                    return None
                delta = trimmed
            return ContentBlockDeltaEvent(index=event.index + self.index, delta=delta)
        if isinstance(event, ContentBlockStopEvent):
            return ContentBlockStopEvent(index=event.index + self.index)
        return event


def _shifted(
    event: ContentBlockStartEvent | ContentBlockDeltaEvent, index: int
) -> ContentBlockStartEvent | ContentBlockDeltaEvent:
    if isinstance(event, ContentBlockStartEvent):
        return ContentBlockStartEvent(index=index, content_block=event.content_block)
    return ContentBlockDeltaEvent(index=index, delta=event.delta)
