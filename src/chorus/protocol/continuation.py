"""Continue a text reply cut mid-block: prefill what was sent, fold in what follows.

When a stream fails after the caller has read part of a plain-text reply, the
client may send the text so far back as an assistant prefill and stitch the
continuation onto the same block (``continue_interrupted``). The rules are pure
and live here: when a reply can be continued at all (plain text, cut inside its
last open text block; never a partial ``tool_use``), the prefill request, and how
the continuation's events map onto the interrupted message, showing the
whitespace at the seam once.
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

    def __init__(self, index: int, text: str) -> None:
        self.index = index  # the open text block the continuation extends
        self.text = text
        # The whitespace the prefill leaves out (the API refuses it) has reached the caller
        # already; the continuation usually writes it again, and it must not show twice.
        self.seam = text[len(text.rstrip()) :]

    @classmethod
    def after(cls, visible: Accumulator, attempt: Accumulator) -> Continuation | None:
        if not visible.started:
            return None
        message = visible.message
        if not message.content or attempt.done:
            return None
        last = message.content[-1]
        open_blocks = visible.incomplete
        # Only plain text, cut inside its last (still open) text block.
        if not isinstance(last, TextBlock) or open_blocks != [len(message.content) - 1]:
            return None
        if any(not isinstance(b, TextBlock) for b in message.content):
            return None
        text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
        if not text.strip():
            return None
        return cls(len(message.content) - 1, text)

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
        out = []
        for event in events:
            mapped = self.remap(event)
            if mapped is not None:
                out.append(mapped)
        return out

    def remap(self, event: StreamEvent) -> StreamEvent | None:
        """Fold the continuation's events into the interrupted block."""
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
