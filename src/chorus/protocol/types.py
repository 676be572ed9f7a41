"""Messages API types as msgspec structs: content blocks, messages, usage, stream events.

Decoding is strict about shapes we rely on and lenient about everything else:
unknown fields are ignored, and unknown block, delta or event types become
:class:`UnknownBlock`, :class:`UnknownDelta` or :class:`UnknownEvent` instead of
failing, because the API adds types without a version bump (reference §4.2).

Requests stay plain dicts in the wire shape (the same shape the official SDK
takes), so user code moves over unchanged; responses and events are structs
because they are decoded on the hot path.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

import msgspec

__all__ = [
    "CitationsDelta",
    "ContentBlock",
    "ContentBlockDeltaEvent",
    "ContentBlockStartEvent",
    "ContentBlockStopEvent",
    "Delta",
    "DocumentBlock",
    "ErrorEvent",
    "ErrorInfo",
    "ImageBlock",
    "InputJSONDelta",
    "Message",
    "MessageDelta",
    "MessageDeltaEvent",
    "MessageDeltaUsage",
    "MessageStartEvent",
    "MessageStopEvent",
    "PingEvent",
    "RedactedThinkingBlock",
    "ServerToolUseBlock",
    "SignatureDelta",
    "StopReason",
    "StreamEvent",
    "TextBlock",
    "TextDelta",
    "ThinkingBlock",
    "ThinkingDelta",
    "ToolResultBlock",
    "ToolUseBlock",
    "UnknownBlock",
    "UnknownDelta",
    "UnknownEvent",
    "Usage",
    "block_from_dict",
    "decode_message",
    "encode",
    "to_dict",
]

StopReason: TypeAlias = Literal[
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]

# --------------------------------------------------------------------------- blocks


class _Block(msgspec.Struct, tag_field="type", omit_defaults=True):
    @property
    def type(self) -> str:
        """The wire ``type`` tag, as the official SDK's objects expose it."""
        return str(self.__struct_config__.tag)


class TextBlock(_Block, tag="text"):
    text: str
    citations: list[dict[str, Any]] | None = None
    cache_control: dict[str, Any] | None = None


class ThinkingBlock(_Block, tag="thinking"):
    thinking: str
    signature: str = ""


class RedactedThinkingBlock(_Block, tag="redacted_thinking"):
    data: str


class ToolUseBlock(_Block, tag="tool_use"):
    id: str
    name: str
    input: dict[str, Any] = {}  # to_dict() always writes it, even empty
    cache_control: dict[str, Any] | None = None


class ServerToolUseBlock(_Block, tag="server_tool_use"):
    id: str
    name: str
    input: dict[str, Any] = {}


class ToolResultBlock(_Block, tag="tool_result"):
    tool_use_id: str
    content: str | list[dict[str, Any]] = ""
    is_error: bool = False
    cache_control: dict[str, Any] | None = None


class ImageBlock(_Block, tag="image"):
    source: dict[str, Any]
    cache_control: dict[str, Any] | None = None


class DocumentBlock(_Block, tag="document"):
    source: dict[str, Any]
    title: str | None = None
    context: str | None = None
    citations: dict[str, Any] | None = None
    cache_control: dict[str, Any] | None = None


class UnknownBlock(dict[str, Any]):
    """A block type this version does not know; kept verbatim so it round-trips."""

    @property
    def type(self) -> str:
        return str(self.get("type", ""))


KnownBlock: TypeAlias = (
    TextBlock
    | ThinkingBlock
    | RedactedThinkingBlock
    | ToolUseBlock
    | ServerToolUseBlock
    | ToolResultBlock
    | ImageBlock
    | DocumentBlock
)
ContentBlock: TypeAlias = KnownBlock | UnknownBlock

_KNOWN_BLOCK_TAGS = frozenset(
    {
        "text",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "server_tool_use",
        "tool_result",
        "image",
        "document",
    }
)

# --------------------------------------------------------------------------- message


class Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation: dict[str, int] | None = None
    service_tier: str | None = None


class Message(msgspec.Struct):
    id: str
    model: str
    content: list[KnownBlock] = msgspec.field(default_factory=list)
    usage: Usage = msgspec.field(default_factory=Usage)
    stop_reason: str | None = None
    stop_sequence: str | None = None
    type: str = "message"
    role: str = "assistant"

    @property
    def text(self) -> str:
        """All text blocks joined: what a person would read."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]


# --------------------------------------------------------------------------- deltas


class _Delta(msgspec.Struct, tag_field="type"):
    @property
    def type(self) -> str:
        """The wire ``type`` tag, as the official SDK's objects expose it."""
        return str(self.__struct_config__.tag)


class TextDelta(_Delta, tag="text_delta"):
    text: str


class InputJSONDelta(_Delta, tag="input_json_delta"):
    partial_json: str


class ThinkingDelta(_Delta, tag="thinking_delta"):
    thinking: str


class SignatureDelta(_Delta, tag="signature_delta"):
    signature: str


class CitationsDelta(_Delta, tag="citations_delta"):
    citation: dict[str, Any]


class UnknownDelta(dict[str, Any]):
    """A delta type this version does not know; ignored by the accumulator."""

    @property
    def type(self) -> str:
        return str(self.get("type", ""))


KnownDelta: TypeAlias = TextDelta | InputJSONDelta | ThinkingDelta | SignatureDelta | CitationsDelta
Delta: TypeAlias = KnownDelta | UnknownDelta

# --------------------------------------------------------------------------- events


class _Event(msgspec.Struct, tag_field="type"):
    @property
    def type(self) -> str:
        """The wire ``type`` tag, as the official SDK's objects expose it."""
        return str(self.__struct_config__.tag)


class MessageStartEvent(_Event, tag="message_start"):
    message: Message


class ContentBlockStartEvent(_Event, tag="content_block_start"):
    index: int
    content_block: KnownBlock


class ContentBlockDeltaEvent(_Event, tag="content_block_delta"):
    index: int
    delta: KnownDelta


class ContentBlockStopEvent(_Event, tag="content_block_stop"):
    index: int


class MessageDelta(msgspec.Struct):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDeltaUsage(msgspec.Struct, omit_defaults=True):
    """Cumulative usage; fields other than ``output_tokens`` appear on newer streams only."""

    output_tokens: int = 0
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class MessageDeltaEvent(_Event, tag="message_delta"):
    delta: MessageDelta
    usage: MessageDeltaUsage = msgspec.field(default_factory=MessageDeltaUsage)


class MessageStopEvent(_Event, tag="message_stop"):
    pass


class PingEvent(_Event, tag="ping"):
    pass


class ErrorInfo(msgspec.Struct):
    type: str
    message: str = ""


class ErrorEvent(_Event, tag="error"):
    error: ErrorInfo


class UnknownEvent(msgspec.Struct):
    """An event name this version does not know; consumers must ignore it."""

    type: str
    data: Any = None


StreamEvent: TypeAlias = (
    MessageStartEvent
    | ContentBlockStartEvent
    | ContentBlockDeltaEvent
    | ContentBlockStopEvent
    | MessageDeltaEvent
    | MessageStopEvent
    | PingEvent
    | ErrorEvent
    | UnknownEvent
)

# --------------------------------------------------------------------------- codecs

_encoder = msgspec.json.Encoder()
_message_decoder = msgspec.json.Decoder(Message)
_known_block_decoder = msgspec.json.Decoder(KnownBlock)


def encode(obj: Any) -> bytes:
    """Compact JSON, as the API itself sends."""
    return _encoder.encode(obj)


def to_dict(obj: Any) -> Any:
    """Plain dicts and lists in the wire shape (for sending a reply back as history).

    Defaults are left out, except a tool call's ``input``: the API wants it even
    when it is ``{}``.
    """
    out = msgspec.to_builtins(obj)
    for block in out if isinstance(out, list) else [out]:
        if isinstance(block, dict) and block.get("type") in ("tool_use", "server_tool_use"):
            block.setdefault("input", {})
    return out


def block_from_dict(data: dict[str, Any]) -> ContentBlock:
    """A typed block from its wire dict; unknown types are kept verbatim."""
    if data.get("type") not in _KNOWN_BLOCK_TAGS:
        return UnknownBlock(data)
    block: KnownBlock = msgspec.convert(data, KnownBlock)
    return block


def decode_message(data: bytes) -> Message:
    """Decode a non-streaming response body.

    The fast path decodes straight into structs. A body with a block type we do
    not know takes the slow path, which keeps such blocks as :class:`UnknownBlock`.
    """
    try:
        return _message_decoder.decode(data)
    except msgspec.ValidationError:
        raw = msgspec.json.decode(data)
        if not isinstance(raw, dict):
            raise
        blocks = [block_from_dict(b) for b in raw.get("content") or []]
        raw["content"] = [b for b in blocks if not isinstance(b, UnknownBlock)]
        message = msgspec.convert(raw, Message)
        message.content = blocks  # type: ignore[assignment]
        return message
