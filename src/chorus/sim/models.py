"""The models the simulator serves: the catalogue's (protocol/models.py), or a config's own.

:class:`ModelSpec` is what a simulator config may declare per model: the
catalogue's facts, plus what only a simulator needs (a behaviour of its own).
"""

from __future__ import annotations

import msgspec

from chorus.protocol.models import CATALOGUE, ModelInfo

__all__ = ["DEFAULT_MODELS", "ModelSpec", "model_info"]


class ModelSpec(ModelInfo, frozen=True, forbid_unknown_fields=True):
    """One model as the simulator serves it: the catalogue's facts, and its own behaviour."""

    behaviour: str | None = None  # overrides the simulator's default behaviour


DEFAULT_MODELS: tuple[ModelSpec, ...] = tuple(
    ModelSpec(**msgspec.structs.asdict(m)) for m in CATALOGUE
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
