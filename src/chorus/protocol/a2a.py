"""The A2A protocol's JSON-RPC face as data: requests, messages, tasks, stream events, errors.

Pure: nothing here reads a socket or the clock. The server (:mod:`chorus.serve.a2a`) is
the driver; a remote team member's side is :mod:`chorus.protocol.a2a_remote`.

Two dialects share one endpoint, told apart by the method name:

* A2A 1.0: ``SendMessage``, ``SendStreamingMessage``, ``GetTask``, ``CancelTask``,
  ``ListTasks``, ``SubscribeToTask``; enums as ``TASK_STATE_COMPLETED`` and
  ``ROLE_AGENT``; a part is ``{"text": ...}``, ``{"data": ...}``, ``{"raw": ...}`` or
  ``{"url": ...}``; a stream event is one of ``{"task": ...}``, ``{"message": ...}``,
  ``{"statusUpdate": ...}``, ``{"artifactUpdate": ...}``.
* A2A 0.3: ``message/send``, ``message/stream``, ``tasks/get``, ``tasks/cancel``,
  ``tasks/resubscribe``; objects carry ``kind`` (``"task"``, ``"text"``, ``"status-update"``),
  states are ``completed`` and ``input-required``, a status update says ``final``.

Both are read here; everything is built in the 1.0 shape and converted for 0.3 at the edge
(:func:`chorus.protocol.a2a_v03.for_dialect`). Task states inside are the short names
(``working``, ``input-required``, ``completed``...).

How chorus maps onto A2A: a ``contextId`` is a session, a task is one turn of it, its id
``"{contextId}:{turn}"`` (:func:`task_id`). A turn's text streams as the ``answer``
artifact (each model step replaces what the step before said, and the last chunk is the
whole answer), tool calls and results as ``working`` status updates; a turn waiting for a
person's approval is ``input-required``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from chorus.protocol.nesting import MAX_DEPTH, too_deep

__all__ = [
    "ANSWER",
    "BUSY",
    "CONTENT_TYPE_NOT_SUPPORTED",
    "EXTENDED_CARD_NOT_CONFIGURED",
    "INPUT_MODES",
    "INTERNAL_ERROR",
    "INTERRUPTED",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "OUTPUT_MODES",
    "PARSE_ERROR",
    "PUSH_NOT_SUPPORTED",
    "TASK_NOT_CANCELABLE",
    "TASK_NOT_FOUND",
    "TERMINAL",
    "UNSUPPORTED_OPERATION",
    "VERSION_NOT_SUPPORTED",
    "Call",
    "Inbound",
    "ListQuery",
    "RpcError",
    "Send",
    "TurnStream",
    "check_version",
    "content_of",
    "decisions_of",
    "error_response",
    "message_json",
    "parse_call",
    "read_list",
    "read_send",
    "read_task_ref",
    "result_response",
    "short_state",
    "split_task_id",
    "task_id",
    "transcript_history",
    "turn_task",
]

# JSON-RPC's codes and A2A's (the a2a-sdk's JSON_RPC_ERROR_CODE_MAP)
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TASK_NOT_FOUND = -32001
TASK_NOT_CANCELABLE = -32002
PUSH_NOT_SUPPORTED = -32003
UNSUPPORTED_OPERATION = -32004
CONTENT_TYPE_NOT_SUPPORTED = -32005
EXTENDED_CARD_NOT_CONFIGURED = -32007
VERSION_NOT_SUPPORTED = -32009
BUSY = -32000  # chorus: refused for now (rate limit, capacity, a turn already running)

_REASONS = {
    PARSE_ERROR: "PARSE_ERROR",
    INVALID_REQUEST: "INVALID_REQUEST",
    METHOD_NOT_FOUND: "METHOD_NOT_FOUND",
    INVALID_PARAMS: "INVALID_PARAMS",
    INTERNAL_ERROR: "INTERNAL_ERROR",
    TASK_NOT_FOUND: "TASK_NOT_FOUND",
    TASK_NOT_CANCELABLE: "TASK_NOT_CANCELABLE",
    PUSH_NOT_SUPPORTED: "PUSH_NOTIFICATION_NOT_SUPPORTED",
    UNSUPPORTED_OPERATION: "UNSUPPORTED_OPERATION",
    CONTENT_TYPE_NOT_SUPPORTED: "CONTENT_TYPE_NOT_SUPPORTED",
    EXTENDED_CARD_NOT_CONFIGURED: "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
    VERSION_NOT_SUPPORTED: "VERSION_NOT_SUPPORTED",
    BUSY: "BUSY",
}
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
# codes a 0.3 client knows (A2A's, and -32000 for a retryable refusal: busy, rate limited,
# at capacity); others reach it as an internal error (as the a2a-sdk does)
_V03_CODES = frozenset(range(-32007, -31999)) | {-32700, -32600, -32601, -32602, -32603}

ANSWER = "answer"  # the artifact that holds a turn's answer
TERMINAL = frozenset({"completed", "canceled", "failed", "rejected"})
INTERRUPTED = frozenset({"input-required", "auth-required"})
_STATES = ("submitted", "working", "input-required", "auth-required", *sorted(TERMINAL))


class RpcError(Exception):
    """A request refused with a JSON-RPC error: its code and one line."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        id: str | int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.id = code, message, id
        self.data: dict[str, Any] = dict(data or {})


# ---------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class Call:
    """One JSON-RPC request: its id, the operation it names, in which dialect."""

    id: str | int | None
    operation: str  # send, stream, get, cancel, list, subscribe
    dialect: str  # "1.0" or "0.3"
    params: dict[str, Any]
    method: str

    @property
    def streams(self) -> bool:
        return self.operation in ("stream", "subscribe")


_METHODS: dict[str, tuple[str, str]] = {
    "SendMessage": ("send", "1.0"),
    "SendStreamingMessage": ("stream", "1.0"),
    "GetTask": ("get", "1.0"),
    "CancelTask": ("cancel", "1.0"),
    "ListTasks": ("list", "1.0"),
    "SubscribeToTask": ("subscribe", "1.0"),
    "message/send": ("send", "0.3"),
    "message/stream": ("stream", "0.3"),
    "tasks/get": ("get", "0.3"),
    "tasks/cancel": ("cancel", "0.3"),
    "tasks/resubscribe": ("subscribe", "0.3"),
}
_PUSH = {
    "CreateTaskPushNotificationConfig",
    "GetTaskPushNotificationConfig",
    "ListTaskPushNotificationConfigs",
    "DeleteTaskPushNotificationConfig",
    "tasks/pushNotificationConfig/set",
    "tasks/pushNotificationConfig/get",
    "tasks/pushNotificationConfig/list",
    "tasks/pushNotificationConfig/delete",
}
_EXTENDED_CARD = {"GetExtendedAgentCard", "agent/getAuthenticatedExtendedCard"}


def parse_call(raw: bytes) -> Call:
    """The request in ``raw``, or :class:`RpcError` with the code JSON-RPC and A2A give."""
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise RpcError(PARSE_ERROR, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise RpcError(PARSE_ERROR, "the body nests too deeply") from None
    if too_deep(body):
        raise RpcError(INVALID_REQUEST, f"the body nests more than {MAX_DEPTH} levels deep")
    if isinstance(body, list):
        raise RpcError(INVALID_REQUEST, "batch requests are not supported: send one at a time")
    if not isinstance(body, dict):
        raise RpcError(INVALID_REQUEST, "a JSON-RPC request is a JSON object")
    rid = body.get("id")
    if isinstance(rid, bool) or not isinstance(rid, str | int | type(None)):
        raise RpcError(INVALID_REQUEST, "id: a string, an integer or null")
    if body.get("jsonrpc") != "2.0":
        raise RpcError(INVALID_REQUEST, 'jsonrpc: must be exactly "2.0"', id=rid)
    method = body.get("method")
    if not isinstance(method, str) or not method:
        raise RpcError(INVALID_REQUEST, "method: a non-empty string", id=rid)
    params = body.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params: a JSON object", id=rid)
    if method in _PUSH:
        raise RpcError(PUSH_NOT_SUPPORTED, "push notifications are not supported here", id=rid)
    if method in _EXTENDED_CARD:
        raise RpcError(
            EXTENDED_CARD_NOT_CONFIGURED, "this agent has no extended card: read its card", id=rid
        )
    found = _METHODS.get(method)
    if found is None:
        raise RpcError(METHOD_NOT_FOUND, f"method {method!r} is not an A2A method", id=rid)
    return Call(rid, found[0], found[1], params, method)


def check_version(header: str | None, call: Call) -> None:
    """``A2A-Version`` must name the dialect of the method called (absent: either)."""
    if not header or not header.strip():
        return
    match = re.fullmatch(r"\s*(\d+)(?:\.(\d+))?(?:\.\d+)?\s*", header)
    major = int(match.group(1)) if match else -1
    minor = int(match.group(2) or 0) if match else -1
    wanted = (1, None) if call.dialect == "1.0" else (0, 3)
    if major != wanted[0] or (wanted[1] is not None and minor != wanted[1]):
        raise RpcError(
            VERSION_NOT_SUPPORTED,
            f"A2A-Version {header.strip()} does not go with {call.method} "
            "(1.0 methods: SendMessage...; 0.3 methods: message/send...)",
            id=call.id,
        )


def _get(obj: Mapping[str, Any], camel: str) -> Any:
    """A field by its JSON name, or by the proto name (``historyLength``, ``history_length``)."""
    if camel in obj:
        return obj[camel]
    return obj.get(re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower())


def _int(value: Any, what: str, low: int = 0, high: int = 2**31 - 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,10}", value.strip()):  # proto JSON
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RpcError(INVALID_PARAMS, f"{what}: an integer")
    if not low <= value <= high:
        raise RpcError(INVALID_PARAMS, f"{what}: between {low} and {high}")
    return value


def _str(value: Any, what: str, *, most: int = 512) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > most:
        raise RpcError(INVALID_PARAMS, f"{what}: a string of at most {most} characters")
    return value


# ---------------------------------------------------------------------- messages in


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message a client sent, its parts in the 1.0 shape."""

    message_id: str
    context_id: str | None
    task_id: str | None
    parts: tuple[dict[str, Any], ...]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Send:
    """``SendMessage`` / ``message/send`` (and their streaming twins), read."""

    message: Inbound
    history_length: int | None = None
    return_immediately: bool = False


_FILE_KINDS = {
    "image/png": "image",
    "image/jpeg": "image",
    "image/gif": "image",
    "image/webp": "image",
    "application/pdf": "document",
}
OUTPUT_MODES = ("text/plain", "application/json")
INPUT_MODES = ("text/plain", "application/json", *_FILE_KINDS)


def read_send(params: Mapping[str, Any], dialect: str) -> Send:
    message = _read_message(params.get("message"), dialect)
    config = params.get("configuration") or {}
    if not isinstance(config, dict):
        raise RpcError(INVALID_PARAMS, "configuration: a JSON object")
    if _get(config, "taskPushNotificationConfig") or _get(config, "pushNotificationConfig"):
        raise RpcError(PUSH_NOT_SUPPORTED, "push notifications are not supported here")
    modes = _get(config, "acceptedOutputModes")
    if modes:
        if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
            raise RpcError(INVALID_PARAMS, "configuration.acceptedOutputModes: a list of strings")
        if not any(m in (*OUTPUT_MODES, "*/*", "text/*") for m in modes):
            raise RpcError(
                CONTENT_TYPE_NOT_SUPPORTED,
                f"this agent answers in {' or '.join(OUTPUT_MODES)}; none is accepted",
            )
    history = _int(_get(config, "historyLength"), "configuration.historyLength")
    if dialect == "1.0":
        immediately = _get(config, "returnImmediately")
    else:
        blocking = config.get("blocking")
        immediately = None if blocking is None else blocking is False
    if immediately is not None and not isinstance(immediately, bool):
        raise RpcError(INVALID_PARAMS, "configuration.returnImmediately: a boolean")
    return Send(message, history, bool(immediately))


def _read_message(obj: Any, dialect: str) -> Inbound:
    if not isinstance(obj, dict):
        raise RpcError(INVALID_PARAMS, "message: a JSON object with messageId, role and parts")
    message_id = _get(obj, "messageId")
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 190:
        raise RpcError(INVALID_PARAMS, "message.messageId: 1 to 190 characters")
    if obj.get("role") not in ("ROLE_USER", "user"):
        raise RpcError(INVALID_PARAMS, "message.role: ROLE_USER (the client speaks for the user)")
    parts = obj.get("parts")
    if not isinstance(parts, list) or not parts:
        raise RpcError(INVALID_PARAMS, "message.parts: at least one part")
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise RpcError(INVALID_PARAMS, "message.metadata: a JSON object")
    return Inbound(
        message_id,
        _str(_get(obj, "contextId"), "message.contextId"),
        _str(_get(obj, "taskId"), "message.taskId"),
        tuple(_read_part(p, i, dialect) for i, p in enumerate(parts)),
        metadata,
    )


def _read_part(part: Any, i: int, dialect: str) -> dict[str, Any]:
    """A part in the 1.0 shape, from either dialect's."""
    where = f"message.parts[{i}]"
    if not isinstance(part, dict):
        raise RpcError(INVALID_PARAMS, f"{where}: a JSON object")
    kind = part.get("kind")
    if kind is not None or dialect == "0.3":  # the 0.3 shape
        if kind == "text":
            part = {"text": part.get("text")}
        elif kind == "data":
            part = {"data": part.get("data")}
        elif kind == "file" and isinstance(part.get("file"), dict):
            f = part["file"]
            source = {"raw": f["bytes"]} if "bytes" in f else {"url": f.get("uri")}
            part = {**source, "mediaType": f.get("mimeType"), "filename": f.get("name")}
        else:
            raise RpcError(INVALID_PARAMS, f"{where}.kind: text, data or file")
    present = [k for k in ("text", "data", "raw", "url") if k in part]
    if len(present) != 1:
        raise RpcError(INVALID_PARAMS, f"{where}: exactly one of text, data, raw or url")
    key = present[0]
    if key == "text" and not isinstance(part["text"], str):
        raise RpcError(INVALID_PARAMS, f"{where}.text: a string")
    if key in ("raw", "url") and not isinstance(part[key], str):
        raise RpcError(INVALID_PARAMS, f"{where}.{key}: a string")
    media = _get(part, "mediaType")
    if media is not None and not isinstance(media, str):
        raise RpcError(INVALID_PARAMS, f"{where}.mediaType: a string")
    out: dict[str, Any] = {key: part[key]}
    if media:
        out["mediaType"] = media
    return out


def content_of(message: Inbound) -> str | list[dict[str, Any]]:
    """The message as a chorus turn's input: text (text parts, and data parts as JSON),
    or content blocks when it carries images or PDFs."""
    blocks: list[dict[str, Any]] = []
    for i, part in enumerate(message.parts):
        if "text" in part:
            text = part["text"]
        elif "data" in part:
            text = msgspec.json.encode(part["data"]).decode()
        else:
            media = str(part.get("mediaType") or "").split(";")[0].strip().lower()
            if "raw" in part and media in ("text/plain", "application/json", ""):
                text = _decoded(part["raw"], i).decode("utf-8", "replace")
            elif media in _FILE_KINDS:
                if "raw" in part:
                    data = base64.b64encode(_decoded(part["raw"], i)).decode()
                    source = {"type": "base64", "media_type": media, "data": data}
                else:
                    source = {"type": "url", "url": part["url"]}
                blocks.append({"type": _FILE_KINDS[media], "source": source})
                continue
            else:
                raise RpcError(
                    CONTENT_TYPE_NOT_SUPPORTED,
                    f"message.parts[{i}]: {media or 'a file without mediaType'} is not accepted "
                    f"(text, JSON data, {', '.join(_FILE_KINDS)})",
                )
        if text.strip():
            blocks.append({"type": "text", "text": text})
    if not blocks:
        raise RpcError(INVALID_PARAMS, "message.parts: nothing to say (every part is empty)")
    if all(b["type"] == "text" for b in blocks):
        return "\n\n".join(b["text"] for b in blocks)
    return blocks


def _decoded(raw: str, i: int) -> bytes:
    padded = raw + "=" * (-len(raw) % 4)
    try:  # proto JSON sends standard base64, and reads the URL-safe kind too
        if "-" in raw or "_" in raw:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise RpcError(INVALID_PARAMS, f"message.parts[{i}].raw: base64") from None


_YES = {"yes", "y", "approve", "approved", "ok", "allow"}
_NO = {"no", "n", "deny", "denied", "reject", "rejected"}


def decisions_of(message: Inbound, pending: Sequence[str]) -> dict[str, bool]:
    """A reply to a task that waits for approval, as decisions per pending tool call:
    a data part ``{"approved": true}`` (or false) for them all, or
    ``{"decisions": {"<tool call id>": true, ...}}`` for each; or the text "approve" /
    "deny"."""
    how = (
        'reply with a data part {"approved": true} (or false), or '
        '{"decisions": {"<id>": true, ...}} naming ' + ", ".join(pending)
    )
    for part in message.parts:
        data = part.get("data")
        if isinstance(data, dict) and isinstance(data.get("approved"), bool):
            return dict.fromkeys(pending, bool(data["approved"]))
        if isinstance(data, dict) and isinstance(data.get("decisions"), dict):
            given = data["decisions"]
            if not all(isinstance(v, bool) for v in given.values()):
                raise RpcError(INVALID_PARAMS, "decisions: each true or false")
            missing = [p for p in pending if p not in given]
            unknown = sorted(set(given) - set(pending))
            if missing or unknown:
                raise RpcError(
                    INVALID_PARAMS,
                    f"decisions: missing {', '.join(missing) or 'none'}; "
                    f"unknown {', '.join(unknown) or 'none'}",
                )
            return {p: bool(given[p]) for p in pending}
    words = " ".join(str(p.get("text", "")) for p in message.parts).strip().lower().rstrip(".!")
    if words in _YES or words in _NO:
        return dict.fromkeys(pending, words in _YES)
    raise RpcError(INVALID_PARAMS, f"this task waits for approval: {how}")


def read_task_ref(params: Mapping[str, Any]) -> tuple[str, int | None]:
    """``GetTask``/``CancelTask``/``SubscribeToTask`` (and 0.3's): the task id and the
    history length asked for."""
    tid = params.get("id")
    if not isinstance(tid, str) or not tid:
        raise RpcError(INVALID_PARAMS, "id: the task's id")
    return tid, _int(_get(params, "historyLength"), "historyLength")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """``ListTasks``, read: one context's tasks, newest first."""

    context_id: str
    state: str | None = None
    page_size: int = 50
    before: int | None = None  # the page token: tasks of turns below this one
    history_length: int | None = None
    include_artifacts: bool = False


def read_list(params: Mapping[str, Any]) -> ListQuery:
    context = _str(_get(params, "contextId"), "contextId")
    if context is None:
        raise RpcError(INVALID_PARAMS, "contextId: required (tasks are listed per context)")
    status = params.get("status")
    state = None
    if status not in (None, "", "TASK_STATE_UNSPECIFIED"):
        state = short_state(status)
        if state is None:
            raise RpcError(INVALID_PARAMS, f"status: a task state, not {status!r}")
    token = _str(_get(params, "pageToken"), "pageToken", most=20)
    if token is not None and not re.fullmatch(r"[0-9]{1,19}", token):
        raise RpcError(INVALID_PARAMS, "pageToken: one a previous page gave")
    size = _int(_get(params, "pageSize"), "pageSize", 1, 100)
    artifacts = _get(params, "includeArtifacts")
    if artifacts is not None and not isinstance(artifacts, bool):
        raise RpcError(INVALID_PARAMS, "includeArtifacts: a boolean")
    return ListQuery(
        context,
        state,
        size or 50,
        int(token) if token is not None else None,
        _int(_get(params, "historyLength"), "historyLength"),
        bool(artifacts),
    )


def short_state(value: Any) -> str | None:
    """A task state by its short name (``input-required``), from either dialect's."""
    if not isinstance(value, str):
        return None
    short = value.removeprefix("TASK_STATE_").lower().replace("_", "-")
    return short if short in _STATES else None


# ---------------------------------------------------------------------- tasks out


def task_id(context_id: str, turn: int) -> str:
    return f"{context_id}:{turn}"


def split_task_id(value: str) -> tuple[str, int] | None:
    """A task id's context and turn, or None when it names no turn."""
    context, sep, turn = value.rpartition(":")
    if not sep or not context or not (turn.isascii() and turn.isdigit()):
        return None
    if not 1 <= int(turn[:20]) <= 2**62:
        return None
    return context, int(turn)


def _state(short: str) -> str:
    return "TASK_STATE_" + short.upper().replace("-", "_")


def message_json(
    message_id: str,
    role: str,
    parts: Iterable[dict[str, Any]],
    *,
    context_id: str | None = None,
    task: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A message in the 1.0 shape; ``role`` is "user" or "agent"."""
    out: dict[str, Any] = {"messageId": message_id, "role": f"ROLE_{role.upper()}"}
    if context_id:
        out["contextId"] = context_id
    if task:
        out["taskId"] = task
    out["parts"] = list(parts)
    if metadata:
        out["metadata"] = dict(metadata)
    return out


def _answer_part(output: Any) -> dict[str, Any]:
    return {"text": output} if isinstance(output, str) else {"data": output}


_TURN_STATES = {
    "running": "working",
    "done": "completed",
    "paused": "input-required",
    "cancelled": "canceled",
}


def turn_task(
    context_id: str,
    turn: int,
    status: str,
    result: Mapping[str, Any] | None,
    events: Sequence[tuple[int, str, Mapping[str, Any]]],
    *,
    answered: bool = False,
    history: Sequence[dict[str, Any]] = (),
    history_length: int | None = None,
    agent: str | None = None,
) -> dict[str, Any]:
    """A chorus turn as an A2A task (1.0 shape). ``status`` is the turn's (running, done,
    paused, cancelled, interrupted, timeout, failed); ``answered``: a paused turn whose
    approval was given since (the session moved on), so it counts as completed."""
    tid = task_id(context_id, turn)
    state = _TURN_STATES.get(status, "failed")
    if state == "input-required" and answered:
        state = "completed"
    task: dict[str, Any] = {"id": tid, "contextId": context_id, "status": {"state": _state(state)}}
    message = _status_message(tid, context_id, state, result, events)
    if message is not None:
        task["status"]["message"] = message
    output = (result or {}).get("output")
    if status == "done" and output is not None:
        task["artifacts"] = [
            {"artifactId": ANSWER, "name": ANSWER, "parts": [_answer_part(output)]}
        ]
    shown = list(history)
    if history_length is not None:
        shown = shown[len(shown) - history_length :] if history_length else []
    if shown:
        task["history"] = shown
    facts: dict[str, Any] = {"turn": turn}
    if agent:
        facts["agent"] = agent
    for name in ("stop_reason", "usage", "cost", "steps"):
        if result and name in result:
            facts[re.sub(r"_(\w)", lambda m: m.group(1).upper(), name)] = result[name]
    task["metadata"] = {"chorus": facts}
    return task


def _status_message(
    tid: str,
    context_id: str,
    state: str,
    result: Mapping[str, Any] | None,
    events: Sequence[tuple[int, str, Mapping[str, Any]]],
) -> dict[str, Any] | None:
    """What the agent says about a task that is not done: what it waits for, or why it
    stopped."""
    parts: list[dict[str, Any]]
    if state == "input-required":
        pending = list((result or {}).get("pending") or [])
        names = ", ".join(f"{c.get('name')} ({c.get('id')})" for c in pending) or "a tool call"
        parts = [
            {
                "text": f"Waiting for approval of {names}. Reply in this task with a data "
                'part {"approved": true} or {"approved": false}.'
            },
            {"data": {"pending": pending}},
        ]
    elif state in ("failed", "canceled"):
        errors = [d for _, kind, d in events if kind == "error"]
        error = errors[-1] if errors else {}
        said = error.get("message") or f"the turn ended {state}"
        parts = [{"text": f"{error.get('type', state)}: {said}"}]
    else:
        return None
    return message_json(f"{tid}:status", "agent", parts, context_id=context_id, task=tid)


def transcript_history(
    tid: str, context_id: str, messages: Sequence[Mapping[str, Any]], first_id: str | None
) -> list[dict[str, Any]]:
    """A turn's messages (Messages-API shape) as A2A messages: the user's prompt with the
    id it was sent with (``first_id``), the agent's replies, tool calls and tool results
    (data parts ``{"toolUse": ...}`` and ``{"toolResult": ...}``, on the agent's side)."""
    out = []
    for i, m in enumerate(messages):
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts: list[dict[str, Any]] = []
        for block in blocks or []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                parts.append({"text": block.get("text", "")})
            elif kind == "tool_use":
                use = {k: block.get(k) for k in ("id", "name", "input")}
                parts.append({"data": {"toolUse": use}})
            elif kind == "tool_result":
                result = {
                    "toolUseId": block.get("tool_use_id"),
                    "content": block.get("content"),
                    "isError": bool(block.get("is_error", False)),
                }
                parts.append({"data": {"toolResult": result}})
            elif kind not in ("thinking", "redacted_thinking"):
                parts.append({"data": {"block": dict(block)}})
        if not parts:
            continue
        results = [
            b for b in blocks or [] if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        prompt = m.get("role") == "user" and not results  # (tool results are the agent's)
        mid = first_id if (i == 0 and first_id and prompt) else f"{tid}:m{i}"
        out.append(
            message_json(mid, "user" if prompt else "agent", parts, context_id=context_id, task=tid)
        )
    return out


class TurnStream:
    """A turn's events as A2A stream responses (1.0 shape): a fold, fed one event at a
    time, each giving the responses to send and the SSE id of the last of them (the
    event's own id, so ``Last-Event-ID`` resumes after it).

    Text streams into the ``answer`` artifact: the first chunk of each model step
    replaces what was there (``append`` false), the next ones append; at the end the
    whole answer replaces it once more with ``lastChunk`` true, so a client that
    applies ``append`` faithfully holds exactly the answer GetTask gives."""

    def __init__(self, context_id: str, turn: int) -> None:
        self.context_id, self.turn = context_id, turn
        self.id = task_id(context_id, turn)
        self._fresh = True  # the next text chunk starts a model step
        self.events: list[tuple[int, str, Mapping[str, Any]]] = []

    def _base(self) -> dict[str, Any]:
        return {"taskId": self.id, "contextId": self.context_id}

    def _status(self, state: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
        status: dict[str, Any] = {"state": _state(state)}
        if message is not None:
            status["message"] = message
        return {"statusUpdate": {**self._base(), "status": status}}

    def _artifact(self, part: dict[str, Any], *, append: bool, last: bool) -> dict[str, Any]:
        artifact = {"artifactId": ANSWER, "name": ANSWER, "parts": [part]}
        update: dict[str, Any] = {**self._base(), "artifact": artifact}
        if append:
            update["append"] = True
        if last:
            update["lastChunk"] = True
        return {"artifactUpdate": update}

    def feed(
        self, event_id: int, kind: str, data: Mapping[str, Any]
    ) -> list[tuple[int | None, dict[str, Any]]]:
        self.events.append((event_id, kind, data))
        out: list[dict[str, Any]] = []
        if kind == "text":
            out.append(
                self._artifact({"text": data.get("text", "")}, append=not self._fresh, last=False)
            )
            self._fresh = False
        elif kind in ("tool_call", "tool_result", "team"):
            self._fresh = True
            key = {"tool_call": "toolCall", "tool_result": "toolResult"}.get(kind, "teamEvent")
            facts = {k: v for k, v in data.items()}
            mid = f"{self.id}:e{event_id}"
            message = message_json(
                mid, "agent", [{"data": {key: facts}}], context_id=self.context_id, task=self.id
            )
            out.append(self._status("working", message))
        elif kind == "done":
            paused = data.get("stop_reason") == "paused"
            if not paused and data.get("output") is not None:
                out.append(self._artifact(_answer_part(data["output"]), append=False, last=True))
            state = "input-required" if paused else "completed"
            said = _status_message(self.id, self.context_id, state, data, self.events)
            out.append(self._status(state, said))
        elif kind == "error":
            state = "canceled" if data.get("type") == "cancelled" else "failed"
            said = _status_message(self.id, self.context_id, state, None, self.events)
            out.append(self._status(state, said))
        ids: list[int | None] = [None] * len(out)
        if ids:
            ids[-1] = event_id
        return list(zip(ids, out, strict=True))


# ---------------------------------------------------------------------- responses


def result_response(rid: str | int | None, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def error_response(rid: str | int | None, error: RpcError, dialect: str) -> dict[str, Any]:
    """The error response, in the dialect's shape (1.0 puts a google.rpc.ErrorInfo in
    ``data``; a 0.3 client sees only the codes it knows)."""
    code = error.code
    body: dict[str, Any] = {"code": code, "message": error.message}
    if dialect == "0.3":
        if code not in _V03_CODES:
            body["code"] = INTERNAL_ERROR
        if error.data:
            body["data"] = error.data
    else:
        info = {
            "@type": _ERROR_INFO,
            "reason": _REASONS.get(code, "UNKNOWN_ERROR"),
            "domain": "chorus" if code == BUSY else "a2a-protocol.org",
            "metadata": {k: str(v) for k, v in error.data.items()},
        }
        body["data"] = [info]
    return {"jsonrpc": "2.0", "id": rid, "error": body}
