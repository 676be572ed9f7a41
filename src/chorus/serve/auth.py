"""Who is asking: API keys to tenants and scopes. Pure.

A request carries its key as ``Authorization: Bearer <key>`` or ``x-api-key: <key>``. Keys
are known only by their SHA-256; the presented key is hashed and compared with every known
hash in constant time (``hmac.compare_digest``, all of them, every time), so neither the
key nor which entry matched leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Keyring", "Principal", "presented_key"]


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    scopes: frozenset[str]


class Keyring:
    """Known keys (as SHA-256 hex digests), each with a tenant and scopes."""

    def __init__(self, entries: Sequence[tuple[str, str, Sequence[str]]]) -> None:
        self._entries = [
            (bytes.fromhex(digest), Principal(tenant, frozenset(scopes)))
            for digest, tenant, scopes in entries
        ]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def identify(self, key: str | None) -> Principal | None:
        if not key:
            return None
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        for known, principal in self._entries:
            if hmac.compare_digest(digest, known) and found is None:
                found = principal
        return found


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, from ``x-api-key`` or a Bearer ``Authorization``. A
    request that presents two different credentials presents none that counts."""
    key = (headers.get("x-api-key") or "").strip() or None
    auth = headers.get("Authorization")
    bearer = None
    if auth is not None:
        scheme, _, token = auth.partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else ""
    if key is not None and bearer is not None and bearer != key:
        return None  # ambiguous: which one is the caller?
    return key or bearer or None
