"""What a behaviour decides the simulated model says: content blocks and a stop reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Plan", "PlannedBlock"]


@dataclass(slots=True)
class PlannedBlock:
    kind: str  # "text" | "thinking" | "tool_use"
    text: str = ""
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    blocks: list[PlannedBlock]
    stop_reason: str = "end_turn"
