"""The model catalogue: what chorus knows of each Claude model, in one place. Pure data.

Context windows, output caps, prompt-cache minimums, aliases and prices, as the
API documents them. The context layer reads windows from it, the agent prices
usage with it, the simulator serves it (adding what only a simulator needs),
and a server can list it. :func:`lookup` finds a model by id or alias;
:func:`price` turns a response's usage into dollars.
"""

from __future__ import annotations

import msgspec

from chorus.protocol.types import Usage

__all__ = ["CATALOGUE", "ModelInfo", "lookup", "price"]


class ModelInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One model: how much it reads and writes, what the cache needs, what it costs."""

    id: str
    display_name: str = ""
    created_at: str = "2025-01-01T00:00:00Z"
    aliases: tuple[str, ...] = ()
    max_output_tokens: int = 64_000
    context_window: int = 200_000
    cache_min_tokens: int = 1_024
    price_in: float = 3.0  # US dollars per million input tokens
    price_out: float = 15.0  # per million output tokens


CATALOGUE: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="claude-opus-5-5",
        price_in=5.0,
        price_out=25.0,
        display_name="Claude Opus 5.5",
        created_at="2026-09-15T00:00:00Z",
        max_output_tokens=128_000,
        context_window=1_000_000,
        cache_min_tokens=512,
    ),
    ModelInfo(
        id="claude-sonnet-5-5",
        price_in=3.0,
        price_out=15.0,
        display_name="Claude Sonnet 5.5",
        created_at="2026-09-15T00:00:00Z",
        max_output_tokens=128_000,
        context_window=1_000_000,
    ),
    ModelInfo(
        id="claude-haiku-5-5",
        price_in=1.0,
        price_out=5.0,
        display_name="Claude Haiku 5.5",
        created_at="2026-09-15T00:00:00Z",
        max_output_tokens=64_000,
    ),
    ModelInfo(
        id="claude-opus-5",
        price_in=5.0,
        price_out=25.0,
        display_name="Claude Opus 5",
        created_at="2026-05-20T00:00:00Z",
        max_output_tokens=128_000,
        cache_min_tokens=512,
    ),
    ModelInfo(
        id="claude-sonnet-5",
        price_in=3.0,
        price_out=15.0,
        display_name="Claude Sonnet 5",
        created_at="2026-05-20T00:00:00Z",
        max_output_tokens=64_000,
    ),
    ModelInfo(
        id="claude-opus-4-8",
        price_in=5.0,
        price_out=25.0,
        display_name="Claude Opus 4.8",
        created_at="2026-04-02T00:00:00Z",
        max_output_tokens=128_000,
    ),
    ModelInfo(
        id="claude-opus-4-7",
        price_in=5.0,
        price_out=25.0,
        display_name="Claude Opus 4.7",
        created_at="2026-03-10T00:00:00Z",
        max_output_tokens=128_000,
        cache_min_tokens=4_096,
    ),
    ModelInfo(
        id="claude-opus-4-6",
        price_in=5.0,
        price_out=25.0,
        display_name="Claude Opus 4.6",
        created_at="2026-02-05T00:00:00Z",
        max_output_tokens=128_000,
        cache_min_tokens=4_096,
    ),
    ModelInfo(
        id="claude-sonnet-4-6",
        price_in=3.0,
        price_out=15.0,
        display_name="Claude Sonnet 4.6",
        created_at="2026-02-17T00:00:00Z",
        max_output_tokens=64_000,
        cache_min_tokens=2_048,
    ),
    ModelInfo(
        id="claude-haiku-4-5-20251001",
        price_in=1.0,
        price_out=5.0,
        display_name="Claude Haiku 4.5",
        created_at="2025-10-01T00:00:00Z",
        aliases=("claude-haiku-4-5",),
        max_output_tokens=64_000,
        cache_min_tokens=4_096,
    ),
    ModelInfo(
        id="claude-opus-4-5-20251101",
        price_in=5.0,
        price_out=25.0,
        display_name="Claude Opus 4.5",
        created_at="2025-11-01T00:00:00Z",
        aliases=("claude-opus-4-5",),
        max_output_tokens=64_000,
        cache_min_tokens=4_096,
    ),
    ModelInfo(
        id="claude-sonnet-4-5-20250929",
        price_in=3.0,
        price_out=15.0,
        display_name="Claude Sonnet 4.5",
        created_at="2025-09-29T00:00:00Z",
        aliases=("claude-sonnet-4-5",),
        max_output_tokens=64_000,
    ),
    ModelInfo(
        id="claude-opus-4-1-20250805",
        price_in=15.0,
        price_out=75.0,
        display_name="Claude Opus 4.1",
        created_at="2025-08-05T00:00:00Z",
        aliases=("claude-opus-4-1",),
        max_output_tokens=32_000,
    ),
    ModelInfo(
        id="claude-3-5-haiku-20241022",
        price_in=0.8,
        price_out=4.0,
        display_name="Claude Haiku 3.5",
        created_at="2024-10-22T00:00:00Z",
        aliases=("claude-3-5-haiku-latest",),
        max_output_tokens=8_192,
        cache_min_tokens=2_048,
    ),
)


_BY_NAME = {name: m for m in CATALOGUE for name in (m.id, *m.aliases)}
# For ids the catalogue does not list yet (a new dated release): the family's price.
_FAMILY_PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (5.0, 25.0),
    "claude-opus-5": (5.0, 25.0),
    "claude-sonnet": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-haiku-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
}


def lookup(name: str) -> ModelInfo | None:
    """The catalogue's entry for a model id or alias, if it has one."""
    return _BY_NAME.get(name)


def prices(model: str) -> tuple[float, float]:
    """Dollars per million (input, output) tokens: the model's, else its family's (longest
    matching prefix), else Sonnet's."""
    info = _BY_NAME.get(model)
    if info is not None:
        return info.price_in, info.price_out
    key = max((k for k in _FAMILY_PRICES if model.startswith(k)), key=len, default=None)
    return _FAMILY_PRICES[key] if key else _FAMILY_PRICES["claude-sonnet"]


def price(model: str, usage: Usage, table: dict[str, tuple[float, float]] | None = None) -> float:
    """Dollars for one response, cache multipliers included: writes 1.25x (5 minutes) or 2x
    (1 hour), reads 0.1x. ``table`` overrides prices by longest matching prefix."""
    if table:
        key = max((k for k in table if model.startswith(k)), key=len, default=None)
        inp, out = table[key] if key else prices(model)
    else:
        inp, out = prices(model)
    cc = usage.cache_creation or {}
    one_hour = cc.get("ephemeral_1h_input_tokens", 0)
    five_min = usage.cache_creation_input_tokens - one_hour
    tokens_in = (
        usage.input_tokens + 1.25 * five_min + 2.0 * one_hour + 0.1 * usage.cache_read_input_tokens
    )
    return (tokens_in * inp + usage.output_tokens * out) / 1_000_000
