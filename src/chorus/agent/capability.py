"""What an agent can do, as it advertises it: a name, a description, an input schema. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chorus.errors import ConfigError

__all__ = ["Capability"]


@dataclass(frozen=True, slots=True)
class Capability:
    """Something an agent can do: ``Capability("python", "writes and fixes Python code")``."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("a capability needs a name")
