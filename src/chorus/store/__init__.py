"""Session stores: memory and SQLite today; every store passes the same conformance suite."""

from chorus.store.base import Lease, SessionInfo, Store, Transcript
from chorus.store.memory import MemoryStore
from chorus.store.sqlite import SQLiteStore

__all__ = ["Lease", "MemoryStore", "SQLiteStore", "SessionInfo", "Store", "Transcript"]
