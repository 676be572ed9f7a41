"""Teams of agents: who can do what, how work finds a free agent, how they decide together.

The rules are pure modules here (:mod:`~chorus.team.envelope`, :mod:`~chorus.team.allocation`,
:mod:`~chorus.team.consensus`); the bus, the registry and :class:`Team` are their drivers.
"""

from chorus.agent.capability import Capability
from chorus.team.allocation import (
    Award,
    Bid,
    CallForBids,
    Completed,
    ContractNet,
    Failed,
    Wait,
    bid,
)
from chorus.team.bus import Bus, LocalBus
from chorus.team.consensus import (
    Answer,
    Decision,
    Reliability,
    candidates,
    confidence_weighted,
    dawid_skene,
    judged,
    majority,
    reliability_weighted,
)
from chorus.team.envelope import Address, Envelope, HopLimitError, Inbox, envelope_id
from chorus.team.registry import LocalRegistry, Member, Registry
from chorus.team.team import TaskResult, Team

__all__ = [
    "Address",
    "Answer",
    "Award",
    "Bid",
    "Bus",
    "CallForBids",
    "Capability",
    "Completed",
    "ContractNet",
    "Decision",
    "Envelope",
    "Failed",
    "HopLimitError",
    "Inbox",
    "LocalBus",
    "LocalRegistry",
    "Member",
    "Registry",
    "Reliability",
    "TaskResult",
    "Team",
    "Wait",
    "bid",
    "candidates",
    "confidence_weighted",
    "dawid_skene",
    "envelope_id",
    "judged",
    "majority",
    "reliability_weighted",
]
