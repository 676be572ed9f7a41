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
    """Text the model wrote (with citations, when it cited sources)."""

    text: str
    citations: list[dict[str, Any]] | None = None
    cache_control: dict[str, Any] | None = None


class ThinkingBlock(_Block, tag="thinking"):
    """The model's extended thinking, with the signature the API checks when it is sent back."""

    thinking: str
    signature: str = ""


class RedactedThinkingBlock(_Block, tag="redacted_thinking"):
    """Thinking the API encrypted; sent back unchanged."""

    data: str


class ToolUseBlock(_Block, tag="tool_use"):
    """A tool call: its id (paired with one tool_result), the tool's name and its input."""

    id: str
    name: str
    input: dict[str, Any] = {}  # to_dict() always writes it, even empty
    cache_control: dict[str, Any] | None = None


class ServerToolUseBlock(_Block, tag="server_tool_use"):
    """A call to a tool the API runs itself (web search, code execution)."""

    id: str
    name: str
    input: dict[str, Any] = {}


class ToolResultBlock(_Block, tag="tool_result"):
    """A tool's answer to the tool_use with the same id, in a user message."""

    tool_use_id: str
    content: str | list[dict[str, Any]] = ""
    is_error: bool = False
    cache_control: dict[str, Any] | None = None


class ImageBlock(_Block, tag="image"):
    """An image in a message (base64 or URL source)."""

    source: dict[str, Any]
    cache_control: dict[str, Any] | None = None


class DocumentBlock(_Block, tag="document"):
    """A document in a message (PDF or text source), optionally citable."""

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
    """Tokens a response used: input, output, and prompt-cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation: dict[str, int] | None = None
    service_tier: str | None = None


class Message(msgspec.Struct):
    """A reply from the model: its content blocks, stop reason and usage."""

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
    """More text for the text block being streamed."""

    text: str


class InputJSONDelta(_Delta, tag="input_json_delta"):
    """More of a tool call's input, as a fragment of JSON."""

    partial_json: str


class ThinkingDelta(_Delta, tag="thinking_delta"):
    """More thinking for the thinking block being streamed."""

    thinking: str


class SignatureDelta(_Delta, tag="signature_delta"):
    """The signature that closes a streamed thinking block."""

    signature: str


class CitationsDelta(_Delta, tag="citations_delta"):
    """A citation added to the text block being streamed."""

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
    """The stream's first event: the message with no content yet."""

    message: Message


class ContentBlockStartEvent(_Event, tag="content_block_start"):
    """A content block begins at ``index``."""

    index: int
    content_block: KnownBlock


class ContentBlockDeltaEvent(_Event, tag="content_block_delta"):
    """A piece of the content block at ``index``."""

    index: int
    delta: KnownDelta


class ContentBlockStopEvent(_Event, tag="content_block_stop"):
    """The content block at ``index`` is complete."""

    index: int


class MessageDelta(msgspec.Struct):
    """What a ``message_delta`` event changes: the stop reason and stop sequence."""

    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDeltaUsage(msgspec.Struct, omit_defaults=True):
    """Cumulative usage; fields other than ``output_tokens`` appear on newer streams only."""

    output_tokens: int = 0
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class MessageDeltaEvent(_Event, tag="message_delta"):
    """Near the end of a stream: the stop reason and the final usage."""

    delta: MessageDelta
    usage: MessageDeltaUsage = msgspec.field(default_factory=MessageDeltaUsage)


class MessageStopEvent(_Event, tag="message_stop"):
    """The stream's last event: the message is complete."""

    pass


class PingEvent(_Event, tag="ping"):
    """A keep-alive; carries nothing."""

    pass


class ErrorInfo(msgspec.Struct):
    """The ``error`` object of an error body or event: its type and message."""

    type: str
    message: str = ""


class ErrorEvent(_Event, tag="error"):
    """An error inside a 200 stream (``overloaded_error``, ...): the stream ends with it."""

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
