"""What makes a message list sendable: the one place that knows.

The simulator answers 400 with these messages, the store checks what it loads
with them, and the context window proves every window it builds against them.
Messages are plain dicts in the wire shape (``{"role": ..., "content": ...}``).

Rules (as the Messages API enforces them):

* roles are ``user`` or ``assistant``; the first message is from the user;
  consecutive messages of one role count as one turn;
* content is a non-empty string or a non-empty list of known blocks, except
  that the final assistant message may be empty (a prefill);
* text blocks are non-empty;
* every ``tool_use`` id is unique and answered by a ``tool_result`` in the very
  next user turn; every ``tool_result`` answers a ``tool_use`` of the turn just
  before it; ``tool_use`` only from the assistant, ``tool_result`` only from the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from chorus.errors import TranscriptError

__all__ = ["Outline", "TranscriptError", "outline", "problems", "sendable", "validate"]

USER_BLOCKS = frozenset({"text", "image", "document", "tool_result", "search_result"})
ASSISTANT_BLOCKS = frozenset(
    {
        "text",
        "document",  # refused under anthropic-version 2026-10-21 (checked by the caller)
        "tool_use",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "container_upload",
    }
)


def validate(messages: Any) -> None:
    """Raise :class:`TranscriptError` with the first problem found, if any."""
    found = problems(messages, first_only=True)
    if found:
        raise TranscriptError(found[0])


def problems(messages: Any, *, first_only: bool = False) -> list[str]:
    """Every reason the API would refuse ``messages`` (empty when it is sendable)."""
    out: list[str] = []
    if not isinstance(messages, list):
        return ["messages: Input should be a valid list"]
    if not messages:
        return ["messages: at least one message is required"]

    turns: list[tuple[str, list[tuple[int, int, dict[str, Any]]]]] = []
    last = len(messages) - 1
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            out.append(f"messages.{i}: Input should be a valid dictionary")
            if first_only:
                return out
            continue
        role = msg.get("role")
        if role not in ("user", "assistant"):
            out.append(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if first_only:
                return out
            continue
        if i == 0 and role != "user":
            out.append('messages: first message must use the "user" role')
        blocks = _blocks(msg.get("content"), i, role, i == last, out)
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, list(blocks)))
        if first_only and out:
            return out

    _check_tool_pairing(turns, out)
    return out[:1] if first_only else out


class Outline(NamedTuple):
    """What the rules that span messages need of one message: its role, its tool calls and
    the tool calls it answers."""

    role: str
    uses: tuple[str, ...]
    results: tuple[str, ...]


def outline(message: Any, *, last: bool = False) -> Outline | None:
    """``message``'s outline if it breaks no rule that concerns it alone (where it is neither
    the first message nor, unless ``last``, the last), else None.

    With :func:`sendable` it lets a caller that sees the same messages again and again (the
    simulator: every call resends the conversation so far) check a message once and later
    only what spans messages."""
    if not isinstance(message, dict):
        return None
    role = message.get("role")
    if role not in ("user", "assistant"):
        return None
    out: list[str] = []
    blocks = _blocks(message.get("content"), 1, role, last, out)
    if out:
        return None
    uses = tuple(b["id"] for _, _, b in blocks if b["type"] == "tool_use")
    results = tuple(b["tool_use_id"] for _, _, b in blocks if b["type"] == "tool_result")
    return Outline(role, uses, results)


def sendable(outlines: Sequence[Outline]) -> bool:
    """True exactly when :func:`problems` finds nothing in messages of these outlines (each
    from :func:`outline`, the last one's with ``last=True``); False means call it for why.

    One pass, in which a message with no tool calls or results costs a comparison."""
    if not outlines or outlines[0][0] != "user":
        return False
    seen: set[str] = set()
    role = "user"  # the turn under way: consecutive messages of one role are one turn
    uses: tuple[str, ...] = ()  # its tool calls, if it is the assistant's
    results: tuple[str, ...] = ()  # the calls it answers, if it is the user's
    calls: tuple[str, ...] = ()  # the calls of the assistant turn before this user turn
    for o_role, o_uses, o_results in outlines:
        if o_role != role:  # a turn ends
            if role == "user":
                if not _pair(calls, results):
                    return False
                calls = ()
            else:
                if uses and (not seen.isdisjoint(uses) or len(set(uses)) < len(uses)):
                    return False
                seen.update(uses)
                calls = uses
            role, uses, results = o_role, (), ()
        if o_uses:
            uses += o_uses
        if o_results:
            results += o_results
    if role == "assistant":
        return not uses  # (calls with nothing after them to answer them)
    return _pair(calls, results)


def _pair(calls: tuple[str, ...], results: tuple[str, ...]) -> bool:
    """A user turn's results answer exactly the calls of the assistant turn before it."""
    return (not calls and not results) or set(calls) == set(results)


def _blocks(
    content: Any, i: int, role: str, is_last: bool, out: list[str]
) -> list[tuple[int, int, dict[str, Any]]]:
    """Normalize content to (message index, block index, block) and check each block."""
    allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    may_be_empty = is_last and role == "assistant"
    if isinstance(content, str):
        if not content and not may_be_empty:
            out.append(
                f"messages.{i}: all messages must have non-empty content except for "
                "the optional final assistant message"
            )
        return [(i, 0, {"type": "text", "text": content})] if content else []
    if not isinstance(content, list):
        out.append(f"messages.{i}.content: Input should be a valid string or list")
        return []
    if not content and not may_be_empty:
        out.append(
            f"messages.{i}: all messages must have non-empty content except for "
            "the optional final assistant message"
        )
    result = []
    for j, block in enumerate(content):
        path = f"messages.{i}.content.{j}"
        if not isinstance(block, dict):
            out.append(f"{path}: Input should be a valid dictionary")
            continue
        kind = block.get("type")
        if kind not in allowed:
            if kind in USER_BLOCKS | ASSISTANT_BLOCKS:
                out.append(f"{path}: `{kind}` blocks are not allowed in `{role}` messages")
            else:
                out.append(
                    f"{path}.type: Input tag '{kind}' found using 'type' does not match any "
                    "of the expected tags"
                )
            continue
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                out.append(f"{path}.text: Field required")
                continue
            if not text:
                out.append("messages: text content blocks must be non-empty")
                continue
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                out.append(f"{path}: `tool_use` blocks need a string `id` and `name`")
                continue
            if not isinstance(block.get("input"), dict):
                out.append(f"{path}.input: Input should be a valid dictionary")
                continue
        elif kind == "tool_result" and not isinstance(block.get("tool_use_id"), str):
            out.append(f"{path}.tool_use_id: Field required")
            continue
        result.append((i, j, block))
    return result


def _check_tool_pairing(
    turns: Sequence[tuple[str, list[tuple[int, int, dict[str, Any]]]]], out: list[str]
) -> None:
    seen: set[str] = set()
    for t, (role, blocks) in enumerate(turns):
        if role == "assistant":
            pending: list[str] = []
            for i, j, block in blocks:
                if block["type"] != "tool_use":
                    continue
                tid = block["id"]
                if tid in seen:
                    out.append(f"messages.{i}.content.{j}: `tool_use` ids must be unique")
                seen.add(tid)
                pending.append(tid)
            if not pending:
                continue
            answered = set()
            if t + 1 < len(turns):
                answered = {
                    b.get("tool_use_id")
                    for _, _, b in turns[t + 1][1]
                    if b["type"] == "tool_result"
                }
            missing = [tid for tid in pending if tid not in answered]
            if missing:
                at = blocks[-1][0]
                out.append(
                    f"messages.{at}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(missing)}. Each `tool_use` block must have "
                    "a corresponding `tool_result` block in the next message."
                )
        else:
            previous: set[str] = set()
            if t > 0:
                previous = {b["id"] for _, _, b in turns[t - 1][1] if b["type"] == "tool_use"}
            for i, j, block in blocks:
                if block["type"] == "tool_result" and block["tool_use_id"] not in previous:
                    out.append(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {block['tool_use_id']}. Each `tool_result` "
                        "block must have a corresponding `tool_use` block in the previous message."
                    )
