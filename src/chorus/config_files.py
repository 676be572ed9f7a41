"""Reading YAML or JSON config files, with errors that say which file and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from chorus.errors import ConfigError

__all__ = ["read_data"]


def read_data(path: str | Path, what: str) -> Any:
    """The file's data (JSON for ``.json``, YAML otherwise); ``what`` names it in errors."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror}") from None
    try:
        if p.suffix.lower() == ".json":
            return msgspec.json.decode(text)
        import yaml

        return yaml.safe_load(text)
    except Exception as exc:  # yaml and msgspec raise unrelated types
        kind = p.suffix.lstrip(".").lower() or "yaml"
        raise ConfigError(f"{p}: not valid {kind}: {' '.join(str(exc).split())}") from None
