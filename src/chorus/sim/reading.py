"""Reading a prompt as the simulated model does: the text of messages and content blocks."""

from __future__ import annotations

from typing import Any

__all__ = ["last_user_text", "text_of"]


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message ("" if it holds only tool results)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if isinstance(block, dict):
            if block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif block.get("type") == "tool_result":
                parts.append(text_of(block.get("content", "")))
            elif block.get("type") == "document":
                source = block.get("source") or {}
                if source.get("type") == "text":
                    parts.append(str(source.get("data", "")))
    return "\n".join(p for p in parts if p)
