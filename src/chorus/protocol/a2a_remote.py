"""What a remote A2A agent is sent, and what its replies mean: the pure side of a team
member served elsewhere (:mod:`chorus.team.remote` is its driver).

A task goes as ``SendMessage`` (A2A 1.0) or ``message/send`` (0.3), one text part, asking
for a blocking answer; a reply, from either dialect, reads as a :class:`RemoteTask`: its
id, state and answer text (the text of its artifacts, else of its status message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from chorus.protocol.a2a import (
    INTERNAL_ERROR,
    INTERRUPTED,
    OUTPUT_MODES,
    TERMINAL,
    RpcError,
    short_state,
)

__all__ = ["METHODS", "RemoteTask", "read_reply", "request", "send_params"]

METHODS = {
    "1.0": {"send": "SendMessage", "get": "GetTask", "cancel": "CancelTask"},
    "0.3": {"send": "message/send", "get": "tasks/get", "cancel": "tasks/cancel"},
}


def request(method: str, params: dict[str, Any], rid: str | int) -> bytes:
    """A JSON-RPC request's body."""
    return msgspec.json.encode({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})


def send_params(dialect: str, text: str, message_id: str) -> dict[str, Any]:
    """The params of a task sent as one text message, for a blocking answer in text."""
    modes = list(OUTPUT_MODES)
    if dialect == "1.0":
        message = {"messageId": message_id, "role": "ROLE_USER", "parts": [{"text": text}]}
        return {"message": message, "configuration": {"acceptedOutputModes": modes}}
    message = {
        "kind": "message",
        "messageId": message_id,
        "role": "user",
        "parts": [{"kind": "text", "text": text}],
    }
    return {"message": message, "configuration": {"acceptedOutputModes": modes, "blocking": True}}


@dataclass(frozen=True, slots=True)
class RemoteTask:
    """What a remote agent answered: a task's id, state and answer text (a message is
    a completed task without an id)."""

    id: str | None
    context_id: str | None
    state: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in TERMINAL or self.state in INTERRUPTED


def read_reply(body: Any, dialect: str) -> RemoteTask:
    """A JSON-RPC response from a remote agent (SendMessage's, GetTask's) as a
    :class:`RemoteTask`; :class:`RpcError` for an error response or a malformed one."""
    if not isinstance(body, dict):
        raise RpcError(INTERNAL_ERROR, "the reply is not a JSON-RPC response object")
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        raise RpcError(
            code if isinstance(code, int) else INTERNAL_ERROR, str(error.get("message", error))
        )
    result = body.get("result")
    if not isinstance(result, dict):
        raise RpcError(INTERNAL_ERROR, "the reply has no result")
    if dialect == "1.0" and ("task" in result or "message" in result):
        kind = "task" if "task" in result else "message"
        obj = result[kind]
    else:
        kind = result.get("kind") or ("message" if "messageId" in result else "task")
        obj = result
    if not isinstance(obj, dict):
        raise RpcError(INTERNAL_ERROR, f"the reply's {kind} is not an object")
    if kind == "message":
        text = _text_of(obj.get("parts"))
        return RemoteTask(None, obj.get("contextId"), "completed", text)
    status: dict[str, Any] = obj["status"] if isinstance(obj.get("status"), dict) else {}
    state = short_state(status.get("state")) or "unknown"
    texts = [_text_of(a.get("parts")) for a in obj.get("artifacts") or [] if isinstance(a, dict)]
    text = "\n\n".join(t for t in texts if t)
    said = status.get("message")
    if not text and isinstance(said, dict):
        text = _text_of(said.get("parts"))
    metadata: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    return RemoteTask(obj.get("id"), obj.get("contextId"), state, text, metadata)


def _text_of(parts: Any) -> str:
    """The text of parts: text parts as they are, data parts as JSON."""
    out = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            out.append(part["text"])
        elif "data" in part:
            out.append(msgspec.json.encode(part["data"]).decode())
    return "\n\n".join(t for t in out if t)
