"""A process-wide retry budget: retries may add at most a fixed share of load.

Each first attempt deposits ``ratio`` tokens (up to ``max_balance``); each
retry withdraws one. Starting from ``initial`` tokens, over any run the retries
made are at most ``initial + ratio * first_attempts``: a storm of 429s or 529s
cannot multiply the traffic sent to an API that is already struggling
(Envoy's and Finagle's retry budgets, the SRE book's 10-20%).
"""

from __future__ import annotations

__all__ = ["RetryBudget"]


class RetryBudget:
    """Retry tokens shared by a process: first attempts deposit ``ratio``, each retry takes one."""

    __slots__ = (
        "balance",
        "first_attempts",
        "initial",
        "max_balance",
        "ratio",
        "refused",
        "retries",
    )

    def __init__(
        self, *, ratio: float = 0.2, initial: float = 10.0, max_balance: float = 100.0
    ) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError("retry budget ratio must be within 0..1")
        if initial < 0 or max_balance < initial:
            raise ValueError("retry budget needs 0 <= initial <= max_balance")
        self.ratio = ratio
        self.initial = initial
        self.max_balance = max_balance
        self.balance = initial
        self.first_attempts = 0
        self.retries = 0
        self.refused = 0

    def deposit(self) -> None:
        """Record a first attempt."""
        self.first_attempts += 1
        self.balance = min(self.max_balance, self.balance + self.ratio)

    def withdraw(self) -> bool:
        """Take a token for one retry; False when the budget is spent."""
        if self.balance < 1.0:
            self.refused += 1
            return False
        self.balance -= 1.0
        self.retries += 1
        return True
