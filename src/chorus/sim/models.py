"""The models the simulator serves: the catalogue's (protocol/models.py), or a config's own.

:class:`ModelSpec` is what a simulator config may declare per model: the
catalogue's facts, plus what only a simulator needs (a behaviour of its own).
"""

from __future__ import annotations

import msgspec

from chorus.protocol.models import CATALOGUE

__all__ = ["DEFAULT_MODELS", "ModelSpec", "model_info"]


class ModelSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One model as the simulator serves it."""

    id: str
    display_name: str = ""
    created_at: str = "2025-01-01T00:00:00Z"
    aliases: tuple[str, ...] = ()
    max_output_tokens: int = 64_000
    context_window: int = 200_000
    cache_min_tokens: int = 1_024
    behaviour: str | None = None  # overrides the simulator's default behaviour


DEFAULT_MODELS: tuple[ModelSpec, ...] = tuple(
    ModelSpec(
        id=m.id,
        display_name=m.display_name,
        created_at=m.created_at,
        aliases=m.aliases,
        max_output_tokens=m.max_output_tokens,
        context_window=m.context_window,
        cache_min_tokens=m.cache_min_tokens,
    )
    for m in CATALOGUE
)


def model_info(spec: ModelSpec) -> dict[str, object]:
    """The ``/v1/models`` representation of a model."""
    return {
        "type": "model",
        "id": spec.id,
        "display_name": spec.display_name or spec.id,
        "created_at": spec.created_at,
        "max_input_tokens": spec.context_window,
        "max_tokens": spec.max_output_tokens,
    }
