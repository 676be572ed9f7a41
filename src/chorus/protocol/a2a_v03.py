"""The A2A 0.3 dialect, out: the 1.0 shapes chorus builds, as a 0.3 client reads them.

Objects carry ``kind`` (``"task"``, ``"message"``, ``"status-update"``,
``"artifact-update"``; parts ``"text"``, ``"data"``, ``"file"``), states and roles are
lower case (``input-required``, ``agent``), a status update says whether it is ``final``,
and a data part's value is an object (anything else is wrapped as ``{"value": ...}``).
Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chorus.protocol.a2a import INTERRUPTED, TERMINAL, short_state

__all__ = ["for_dialect"]


def for_dialect(kind: str, obj: dict[str, Any], dialect: str) -> dict[str, Any]:
    """A task, message or stream response (1.0 shape) as the dialect sends it. ``kind``:
    "task", "message", "send" (SendMessage's result) or "stream" (a stream response)."""
    if dialect == "1.0":
        return {"task": obj} if kind == "send" else obj
    if kind == "stream":
        (inner, value), *_ = obj.items()
        return _v03(inner, value)
    return _v03("task" if kind == "send" else kind, obj)


def _v03(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "task":
        out: dict[str, Any] = {"kind": "task", "id": obj["id"], "contextId": obj["contextId"]}
        out["status"] = _v03_status(obj["status"])
        if obj.get("artifacts"):
            out["artifacts"] = [_v03_artifact(a) for a in obj["artifacts"]]
        if obj.get("history"):
            out["history"] = [_v03("message", m) for m in obj["history"]]
        if obj.get("metadata"):
            out["metadata"] = obj["metadata"]
        return out
    if kind == "message":
        out = {k: v for k, v in obj.items() if k not in ("role", "parts")}
        out["kind"] = "message"
        out["role"] = str(obj["role"]).removeprefix("ROLE_").lower()
        out["parts"] = [_v03_part(p) for p in obj["parts"]]
        return out
    if kind == "statusUpdate":
        state = short_state(obj["status"]["state"]) or "unknown"
        return {
            "kind": "status-update",
            "taskId": obj["taskId"],
            "contextId": obj["contextId"],
            "status": _v03_status(obj["status"]),
            "final": state in TERMINAL or state in INTERRUPTED,
        }
    if kind == "artifactUpdate":
        out = {
            "kind": "artifact-update",
            "taskId": obj["taskId"],
            "contextId": obj["contextId"],
            "artifact": _v03_artifact(obj["artifact"]),
        }
        for flag in ("append", "lastChunk"):
            if flag in obj:
                out[flag] = obj[flag]
        return out
    raise ValueError(f"no 0.3 form for {kind!r}")


def _v03_status(status: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"state": short_state(status["state"]) or "unknown"}
    if "message" in status:
        out["message"] = _v03("message", status["message"])
    return out


def _v03_artifact(artifact: Mapping[str, Any]) -> dict[str, Any]:
    return {**artifact, "parts": [_v03_part(p) for p in artifact["parts"]]}


def _v03_part(part: Mapping[str, Any]) -> dict[str, Any]:
    if "text" in part:
        return {"kind": "text", "text": part["text"]}
    if "data" in part:
        data = part["data"]
        return {"kind": "data", "data": data if isinstance(data, dict) else {"value": data}}
    file: dict[str, Any] = {"bytes": part["raw"]} if "raw" in part else {"uri": part.get("url")}
    if part.get("mediaType"):
        file["mimeType"] = part["mediaType"]
    if part.get("filename"):
        file["name"] = part["filename"]
    return {"kind": "file", "file": file}
