"""Prompt-cache breakpoints at stable anchors, so successive calls read the cache. Pure.

``with_cache_breakpoints(request)`` returns a new request with at most four
``cache_control`` markers, placed where the prefix will be byte-identical on the
next call: the last tool definition, the last system block, the end of the
previous exchange, and the second-to-last message (which the next step of a
tool loop, or the next turn, sends again unchanged). Never on the newest
message, which changes every call. A request that already carries a marker is
returned as it is: its author is managing the cache.
"""

from __future__ import annotations

from typing import Any

from chorus.context.history import MessageDict
from chorus.context.window import is_prompt
from chorus.protocol.sent import SentMessages

__all__ = ["message_marked", "with_cache_breakpoints"]

EPHEMERAL = {"type": "ephemeral"}
_CACHEABLE = frozenset({"text", "image", "document", "tool_use", "tool_result"})


def with_cache_breakpoints(request: dict[str, Any], *, ttl: str = "5m") -> dict[str, Any]:
    if _has_marker(request):
        return request
    marker = dict(EPHEMERAL) if ttl == "5m" else {**EPHEMERAL, "ttl": ttl}
    out = dict(request)
    tools = request.get("tools")
    if tools:
        out["tools"] = [*tools[:-1], {**tools[-1], "cache_control": marker}]
    system = request.get("system")
    if isinstance(system, str) and system:
        out["system"] = [{"type": "text", "text": system, "cache_control": marker}]
    elif isinstance(system, list) and system:
        out["system"] = [*system[:-1], {**system[-1], "cache_control": marker}]
    given = request.get("messages") or []
    messages: list[dict[str, Any]]
    sent: list[Any] | None = None
    if type(given) is SentMessages and given.json is not None:  # (each one's JSON kept)
        messages = SentMessages(given, list(given.json), True)
        sent = messages.json
    else:
        messages = list(given)
    anchors = set()
    if len(messages) >= 2:
        anchors.add(len(messages) - 2)
        last = _last_exchange(messages)
        if last > 0:
            anchors.add(last - 1)  # the end of the previous exchange
    for i in sorted(anchors):
        marked = _mark_last_block(messages[i], marker)
        if marked is not None:
            messages[i] = marked
            if sent is not None:
                sent[i] = marked
    out["messages"] = messages
    return out


def _mark_last_block(message: dict[str, Any], marker: dict[str, Any]) -> dict[str, Any] | None:
    content = message.get("content")
    if isinstance(content, str):
        if not content:
            return None
        return {**message, "content": [{"type": "text", "text": content, "cache_control": marker}]}
    if not isinstance(content, list):
        return None
    for j in range(len(content) - 1, -1, -1):
        block = content[j]
        if isinstance(block, dict) and block.get("type") in _CACHEABLE:
            if block.get("type") == "text" and not block.get("text"):
                continue
            blocks = list(content)
            blocks[j] = {**block, "cache_control": marker}
            return {**message, "content": blocks}
    return None


def _last_exchange(messages: list[dict[str, Any]]) -> int:
    """Where the newest exchange starts (its prompt), found from the end: O(that exchange)."""
    for i in range(len(messages) - 1, 0, -1):
        if is_prompt(messages[i]):
            return i
    return 0


def _has_marker(request: dict[str, Any]) -> bool:
    if "cache_control" in request:
        return True
    for tool in request.get("tools") or ():
        if isinstance(tool, dict) and "cache_control" in tool:
            return True
    system = request.get("system")
    if isinstance(system, list) and any(
        isinstance(b, dict) and "cache_control" in b for b in system
    ):
        return True
    messages = request.get("messages") or ()
    if type(messages) is SentMessages and messages.marked is False:
        return False  # (whoever laid them out looked at each one as it came)
    return any(isinstance(m, dict) and message_marked(m) for m in messages)


def message_marked(message: dict[str, Any]) -> bool:
    """Whether a block of the message carries a ``cache_control``. Asked once of a run's
    message: the answer rides on it (its run's calls would read it again each time)."""
    if type(message) is MessageDict:
        if message.marked is None:
            message.marked = _blocks_marked(message)
        return message.marked
    return _blocks_marked(message)


def _blocks_marked(message: dict[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and "cache_control" in b for b in content
    )
