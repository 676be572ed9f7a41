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
from chorus.team.delegation import delegate, delegate_tool
from chorus.team.envelope import Address, Envelope, HopLimitError, Inbox, envelope_id
from chorus.team.events import (
    AnswerGiven,
    Awarded,
    AwardEnded,
    BidReceived,
    CalledForBids,
    Decided,
    QuestionAsked,
    TaskCompleted,
    TaskFailed,
    TaskResult,
    TeamEvent,
    VerdictGiven,
)
from chorus.team.patterns import fan_out, pipeline, supervise
from chorus.team.registry import LocalRegistry, Member, Registry
from chorus.team.team import STRATEGIES, Team

__all__ = [
    "STRATEGIES",
    "Address",
    "Answer",
    "AnswerGiven",
    "Award",
    "AwardEnded",
    "Awarded",
    "Bid",
    "BidReceived",
    "Bus",
    "CallForBids",
    "CalledForBids",
    "Capability",
    "Completed",
    "ContractNet",
    "Decided",
    "Decision",
    "Envelope",
    "Failed",
    "HopLimitError",
    "Inbox",
    "LocalBus",
    "LocalRegistry",
    "Member",
    "QuestionAsked",
    "Registry",
    "Reliability",
    "TaskCompleted",
    "TaskFailed",
    "TaskResult",
    "Team",
    "TeamEvent",
    "VerdictGiven",
    "Wait",
    "bid",
    "candidates",
    "confidence_weighted",
    "dawid_skene",
    "delegate",
    "delegate_tool",
    "envelope_id",
    "fan_out",
    "judged",
    "majority",
    "pipeline",
    "reliability_weighted",
    "supervise",
]
