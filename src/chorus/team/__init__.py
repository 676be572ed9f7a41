"""Teams of agents: the bus they talk on and the registry of who can do what.

The rules (envelopes, allocation, consensus) are pure and live in
:mod:`chorus.coordination`; this package holds their in-process drivers.
"""

from chorus.coordination.capability import Capability
from chorus.team.bus import Bus, LocalBus
from chorus.team.registry import LocalRegistry, Member, Registry
from chorus.team.team import TaskResult, Team

__all__ = [
    "Bus",
    "Capability",
    "LocalBus",
    "LocalRegistry",
    "Member",
    "Registry",
    "TaskResult",
    "Team",
]
