"""The simulator's model catalogue: ids, aliases, output caps, context windows, cache minimums."""

from __future__ import annotations

import msgspec

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


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="claude-opus-5-5",
        display_name="Claude Opus 5.5",
        created_at="2026-09-15T00:00:00Z",
        max_output_tokens=128_000,
        context_window=1_000_000,
        cache_min_tokens=512,
    ),
    ModelSpec(
        id="claude-sonnet-5-5",
        display_name="Claude Sonnet 5.5",
        created_at="2026-09-15T00:00:00Z",
        max_output_tokens=128_000,
        context_window=1_000_000,
    ),
    ModelSpec(
        id="claude-haiku-5-5",
        display_name="Claude Haiku 5.5",
        created_at="2026-09-15T00:00:00Z",
        max_output_tokens=64_000,
    ),
    ModelSpec(
        id="claude-opus-5",
        display_name="Claude Opus 5",
        created_at="2026-05-20T00:00:00Z",
        max_output_tokens=128_000,
        cache_min_tokens=512,
    ),
    ModelSpec(
        id="claude-sonnet-5",
        display_name="Claude Sonnet 5",
        created_at="2026-05-20T00:00:00Z",
        max_output_tokens=64_000,
    ),
    ModelSpec(
        id="claude-opus-4-8",
        display_name="Claude Opus 4.8",
        created_at="2026-04-02T00:00:00Z",
        max_output_tokens=128_000,
    ),
    ModelSpec(
        id="claude-opus-4-7",
        display_name="Claude Opus 4.7",
        created_at="2026-03-10T00:00:00Z",
        max_output_tokens=128_000,
        cache_min_tokens=4_096,
    ),
    ModelSpec(
        id="claude-opus-4-6",
        display_name="Claude Opus 4.6",
        created_at="2026-02-05T00:00:00Z",
        max_output_tokens=128_000,
        cache_min_tokens=4_096,
    ),
    ModelSpec(
        id="claude-sonnet-4-6",
        display_name="Claude Sonnet 4.6",
        created_at="2026-02-17T00:00:00Z",
        max_output_tokens=64_000,
        cache_min_tokens=2_048,
    ),
    ModelSpec(
        id="claude-haiku-4-5-20251001",
        display_name="Claude Haiku 4.5",
        created_at="2025-10-01T00:00:00Z",
        aliases=("claude-haiku-4-5",),
        max_output_tokens=64_000,
        cache_min_tokens=4_096,
    ),
    ModelSpec(
        id="claude-opus-4-5-20251101",
        display_name="Claude Opus 4.5",
        created_at="2025-11-01T00:00:00Z",
        aliases=("claude-opus-4-5",),
        max_output_tokens=64_000,
        cache_min_tokens=4_096,
    ),
    ModelSpec(
        id="claude-sonnet-4-5-20250929",
        display_name="Claude Sonnet 4.5",
        created_at="2025-09-29T00:00:00Z",
        aliases=("claude-sonnet-4-5",),
        max_output_tokens=64_000,
    ),
    ModelSpec(
        id="claude-opus-4-1-20250805",
        display_name="Claude Opus 4.1",
        created_at="2025-08-05T00:00:00Z",
        aliases=("claude-opus-4-1",),
        max_output_tokens=32_000,
    ),
    ModelSpec(
        id="claude-3-5-haiku-20241022",
        display_name="Claude Haiku 3.5",
        created_at="2024-10-22T00:00:00Z",
        aliases=("claude-3-5-haiku-latest",),
        max_output_tokens=8_192,
        cache_min_tokens=2_048,
    ),
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
