"""How long the store's next transaction waits for company, by how busy the server is. Pure.

A group commit waits up to the store's window (5 ms) after the last transaction began, so
that the writes of that window share one fsync: that saves CPU (a durable commit costs the
kernel about 0.1 ms, whatever it carries) where CPU is short, and costs every turn up to
the window's latency where it is not. So the server sets the window by its own measure of
being busy: none while its loop needs half a core or less (a commit's CPU is then spare,
and each turn's answer is sooner), the whole window from three quarters of a core on (where
the fsyncs saved are turns served), in proportion between.
"""

from __future__ import annotations

__all__ = ["commit_window"]

IDLE_SHARE = 0.5  # busy share at and below which no transaction waits for company
FULL_SHARE = 0.75  # and at and above which each waits the whole window


def commit_window(busy: float, most: float) -> float:
    """The group window for a server whose loop needs the CPU ``busy`` of the time (0-1),
    given the store's own window ``most``."""
    share = (busy - IDLE_SHARE) / (FULL_SHARE - IDLE_SHARE)
    return most * min(1.0, max(0.0, share))
