"""The rules of teamwork, pure: addressed envelopes, task allocation, consensus.

The team's drivers (the bus, the registry, ``Team``) build on these; they hold no I/O.
"""

from chorus.coordination.allocation import (
    Award,
    Bid,
    CallForBids,
    Completed,
    ContractNet,
    Failed,
    Wait,
    bid,
)
from chorus.coordination.capability import Capability
from chorus.coordination.consensus import (
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
from chorus.coordination.envelope import Address, Envelope, HopLimitError, Inbox, envelope_id

__all__ = [
    "Address",
    "Answer",
    "Award",
    "Bid",
    "CallForBids",
    "Capability",
    "Completed",
    "ContractNet",
    "Decision",
    "Envelope",
    "Failed",
    "HopLimitError",
    "Inbox",
    "Reliability",
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
