"""Per-tenant limits that concurrent turns can never overshoot: reserve first, settle after. Pure.

A turn is admitted only if its tenant has a free turn slot, and room in this minute's token
allowance and today's cost allowance for the most the turn can use: its input estimate plus
``max_tokens``, priced at the model's rates. What is reserved counts at once, so a hundred
turns admitted together cannot spend more than the allowance between them. When the turn
ends, the reservation is replaced by what it actually used (``settle``), freeing the rest.
A refusal says when to retry: when a slot frees (soon), or the next minute or day starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Allowance", "Refused", "Reservation", "fit_to_what_is_left", "most_a_turn_uses"]

_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Reservation:
    tokens: int
    cost: float
    minute: int
    day: int


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    retry_after: float  # seconds


@dataclass
class Allowance:
    """One tenant's limits and what is reserved or used against them."""

    max_concurrent: int | None
    tokens_per_minute: int | None = None
    cost_per_day: float | None = None
    running: int = 0
    _tokens: dict[int, int] = field(default_factory=dict)  # minute -> tokens
    _cost: dict[int, float] = field(default_factory=dict)  # day -> dollars

    def reserve(self, tokens: int, cost: float, now: float) -> Reservation | Refused:
        minute, day = int(now // 60), int(now // _DAY)
        if self.max_concurrent is not None and self.running >= self.max_concurrent:
            return Refused(f"the tenant already runs {self.running} turns (its limit)", 1.0)
        if self.tokens_per_minute is not None:
            used = self._tokens.get(minute, 0)
            if used + tokens > self.tokens_per_minute:
                if tokens > self.tokens_per_minute:
                    return Refused(
                        f"a turn that may use {tokens} tokens exceeds the tenant's "
                        f"{self.tokens_per_minute} tokens per minute",
                        60.0,
                    )
                return Refused("the tenant's tokens for this minute are spent", 60 - now % 60)
        if self.cost_per_day is not None:
            spent = self._cost.get(day, 0.0)
            if spent + cost > self.cost_per_day:
                return Refused("the tenant's cost allowance for today is spent", _DAY - now % _DAY)
        self.running += 1
        self._tokens = {minute: self._tokens.get(minute, 0) + tokens}  # older minutes expire
        self._cost = {day: self._cost.get(day, 0.0) + cost}
        return Reservation(tokens, cost, minute, day)

    def settle(self, reservation: Reservation, tokens: int, cost: float) -> None:
        """The turn ended having used ``tokens`` and ``cost``: the rest of its reservation
        is given back (to the minute and day it was taken from)."""
        self.running = max(0, self.running - 1)
        if reservation.minute in self._tokens:
            self._tokens[reservation.minute] += tokens - reservation.tokens
        if reservation.day in self._cost:
            self._cost[reservation.day] += cost - reservation.cost

    def used(self, now: float) -> tuple[int, float]:
        """Tokens this minute and dollars today, reserved or spent."""
        return self._tokens.get(int(now // 60), 0), self._cost.get(int(now // _DAY), 0.0)


def most_a_turn_uses(
    *,
    input_tokens: int,
    message_chars: int,
    max_tokens: int,
    calls: int,
    prices: tuple[float, float],
    cap: int | None = None,
) -> tuple[int, float]:
    """Tokens and dollars to reserve for a turn: per model call, the input (what the last
    call sent, or the whole input limit when that is not known), the new message (about
    3 characters a token), 1,000 tokens of overhead and the output cap; ``calls`` of
    those (2 for an agent with tools); at most ``cap`` tokens. ``prices``: dollars per
    million input and output tokens."""
    tokens = (input_tokens + message_chars // 3 + 1_000 + max_tokens) * calls
    if cap is not None:
        tokens = min(tokens, cap)
    per_call_input = tokens / calls - max_tokens
    cost = calls * (per_call_input * prices[0] + max_tokens * prices[1])
    return tokens, cost / 1e6


def fit_to_what_is_left(tokens: int, cost: float, left: float) -> tuple[int, float]:
    """A reservation for a turn whose input is not known (an unmeasured history, reserved at
    the agent's whole input limit) cut to the ``left`` dollars of today's allowance, tokens
    in proportion: the turn is then held to it, so it still cannot overshoot. Unchanged
    when it fits, or when nothing is left (the reservation is then refused)."""
    if 0 < left < cost:
        return max(1, int(tokens * left / cost)), left
    return tokens, cost
