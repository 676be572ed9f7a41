"""The server's pure rules: keys to tenants in constant time, allowances reserved first, and
the store's commit window opened by the load."""

from __future__ import annotations

import hashlib

import pytest

from chorus.serve.auth import Keyring, presented_key
from chorus.serve.budget import Allowance, Refused, Reservation
from chorus.serve.pacing import commit_window


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_a_key_is_known_only_by_its_hash_and_names_a_tenant_and_scopes() -> None:
    ring = Keyring([(digest("sk-a"), "acme", ["turns"]), (digest("sk-b"), "beta", ["admin"])])
    found = ring.identify("sk-a")
    assert found is not None and found.tenant == "acme" and found.scopes == {"turns"}
    assert ring.identify("sk-c") is None and ring.identify("") is None
    assert ring.identify(None) is None
    assert not Keyring([])


def test_the_presented_key_comes_from_either_header_but_two_different_ones_count_as_none() -> None:
    assert presented_key({"x-api-key": " sk-a "}) == "sk-a"
    assert presented_key({"Authorization": "Bearer sk-a"}) == "sk-a"
    assert presented_key({"Authorization": "bearer  sk-a"}) == "sk-a"
    assert presented_key({"Authorization": "Basic c2s6YQ=="}) is None
    assert presented_key({"Authorization": "Bearer sk-a", "x-api-key": "sk-a"}) == "sk-a"
    assert presented_key({"Authorization": "Bearer sk-a", "x-api-key": "sk-b"}) is None
    assert presented_key({}) is None


def test_reservations_count_at_once_and_settle_to_what_was_used() -> None:
    allowance = Allowance(max_concurrent=None, tokens_per_minute=1_000, cost_per_day=1.0)
    first = allowance.reserve(600, 0.4, now=0.0)
    assert isinstance(first, Reservation)
    second = allowance.reserve(600, 0.4, now=1.0)  # 1,200 > 1,000 while the first runs
    assert isinstance(second, Refused) and second.retry_after == 59.0
    allowance.settle(first, tokens=100, cost=0.05)  # it used less: the rest comes back
    tokens, cost = allowance.used(2.0)
    assert tokens == 100 and abs(cost - 0.05) < 1e-12
    third = allowance.reserve(600, 0.4, now=2.0)
    assert isinstance(third, Reservation)
    too_big = allowance.reserve(5_000, 0.1, now=3.0)
    assert isinstance(too_big, Refused) and "exceeds" in too_big.reason


def test_a_new_minute_frees_tokens_and_a_new_day_frees_cost() -> None:
    allowance = Allowance(max_concurrent=None, tokens_per_minute=1_000, cost_per_day=1.0)
    assert isinstance(allowance.reserve(900, 0.9, now=10.0), Reservation)
    assert isinstance(allowance.reserve(900, 0.05, now=70.0), Reservation)  # next minute
    refused = allowance.reserve(10, 0.2, now=80.0)
    assert isinstance(refused, Refused) and "today" in refused.reason
    assert isinstance(allowance.reserve(10, 0.2, now=86_400.0 + 5), Reservation)


def test_concurrent_turns_are_capped_and_a_slot_frees_when_one_ends() -> None:
    allowance = Allowance(max_concurrent=2)
    held = [allowance.reserve(1, 0.0, now=0.0) for _ in range(2)]
    assert isinstance(allowance.reserve(1, 0.0, now=0.0), Refused)
    assert isinstance(held[0], Reservation)
    allowance.settle(held[0], 1, 0.0)
    assert isinstance(allowance.reserve(1, 0.0, now=0.0), Reservation)


def test_a_turns_reservation_covers_its_calls_and_is_capped() -> None:
    from chorus.serve.budget import most_a_turn_uses

    tokens, cost = most_a_turn_uses(
        input_tokens=2_000, message_chars=300, max_tokens=1_000, calls=2, prices=(3.0, 15.0)
    )
    assert tokens == (2_000 + 100 + 1_000 + 1_000) * 2
    assert abs(cost - 2 * (3_100 * 3.0 + 1_000 * 15.0) / 1e6) < 1e-12
    capped, _ = most_a_turn_uses(
        input_tokens=200_000, message_chars=0, max_tokens=64, calls=1, prices=(3.0, 15.0), cap=500
    )
    assert capped == 500


def test_an_unmeasured_turn_is_cut_to_what_is_left_of_the_day() -> None:
    from chorus.serve.budget import fit_to_what_is_left

    assert fit_to_what_is_left(400_000, 1.2, 0.3) == (100_000, 0.3)  # in proportion
    assert fit_to_what_is_left(1000, 0.01, 0.3) == (1000, 0.01)  # it fits: unchanged
    assert fit_to_what_is_left(1000, 0.01, 0.0) == (1000, 0.01)  # nothing left: refused later


def test_the_commit_window_opens_with_the_load() -> None:
    assert commit_window(0.0, 0.005) == commit_window(0.5, 0.005) == 0.0  # (a spare core)
    assert commit_window(0.625, 0.005) == pytest.approx(0.0025)
    assert commit_window(0.75, 0.005) == commit_window(1.0, 0.005) == 0.005
    windows = [commit_window(b / 100, 0.005) for b in range(101)]
    assert windows == sorted(windows)
