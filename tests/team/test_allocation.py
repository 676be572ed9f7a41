"""The contract net: bids from capable agents only, awards by id, re-award on failure."""

from __future__ import annotations

import pytest

from chorus.team import (
    Award,
    CallForBids,
    Completed,
    ContractNet,
    Failed,
    Wait,
    bid,
)


def test_the_least_busy_bidder_gets_the_task_and_completes_it() -> None:
    net = ContractNet("t1", "python", candidates=["a", "b", "c"])
    cfp = net.next(0.0)
    assert cfp == CallForBids(("a", "b", "c"), 1.0)
    net.on_bid(bid("a", load=0.9, queue=2))
    net.on_bid(bid("b", load=0.1, queue=0))
    assert net.next(0.5) == Wait(1.0)  # c has not bid yet
    net.on_bid(bid("c", load=0.5, queue=0))
    award = net.next(0.6)
    assert isinstance(award, Award) and award.agent == "b" and award.attempt == 1
    net.on_result("b", ok=True, result="fixed")
    assert net.next(0.7) == Completed("b", "fixed")
    messages = len(cfp.agents) + len(net.bids) + 1 + 1  # calls, bids, award, result
    assert messages == 2 * 3 + 2


def test_a_crashed_or_hung_awardee_is_replaced_and_the_task_runs_once() -> None:
    net = ContractNet("t2", "python", candidates=["a", "b"], task_timeout=5.0)
    net.next(0.0)
    net.on_bid(bid("a", load=0.0, queue=0))
    net.on_bid(bid("b", load=0.5, queue=0))
    first = net.next(0.1)
    assert isinstance(first, Award) and first.agent == "a"
    assert net.next(3.0) == Wait(first.deadline)
    second = net.next(5.2)  # a hung past its deadline
    assert isinstance(second, Award) and second.agent == "b" and second.attempt == 2
    net.on_result("a", ok=True, result="late")  # the first awardee finished after all
    net.on_result("b", ok=True, result="again")  # applied once: the first result stands
    assert net.next(6.0) == Completed("a", "late")
    assert net.idempotency_key == "task:t2"


def test_a_lost_agent_is_re_awarded_and_no_bidder_left_fails_clearly() -> None:
    net = ContractNet("t3", "sql", candidates=["a", "b"])
    net.next(0.0)
    net.on_bid(bid("a", load=0.0, queue=0))
    net.on_bid(bid("b", load=0.2, queue=0))
    assert isinstance(net.next(0.1), Award)
    net.on_agent_lost("a")
    again = net.next(0.2)
    assert isinstance(again, Award) and again.agent == "b"
    net.on_result("b", ok=False)
    failed = net.next(0.3)
    assert isinstance(failed, Failed) and "every bidder" in failed.reason
    assert net.next(9.0) is failed


def test_nobody_capable_or_nobody_bidding_is_a_failure_not_a_wait() -> None:
    none = ContractNet("t4", "cobol", candidates=[]).next(0.0)
    assert isinstance(none, Failed) and "cobol" in none.reason
    silent = ContractNet("t5", "python", candidates=["a"])
    silent.next(0.0)
    silent.on_bid(bid("stranger", load=0.0, queue=0))  # not asked: ignored
    result = silent.next(1.0)
    assert isinstance(result, Failed) and "no agent bid" in result.reason
    with pytest.raises(ValueError):
        bid("a", load=2.0, queue=0)
    with pytest.raises(ValueError):
        ContractNet("t6", "x", candidates=["a", "a"])


def test_a_failing_member_bids_worse_for_a_cool_down_that_doubles() -> None:
    from chorus.team.allocation import FAILING, failing_penalty

    assert failing_penalty(0, 0.0) == 0.0
    assert failing_penalty(1, 0.5) == FAILING and failing_penalty(1, 1.0) == 0.0
    assert failing_penalty(3, 3.9) == FAILING and failing_penalty(3, 4.0) == 0.0
    assert failing_penalty(40, 59.0) == FAILING and failing_penalty(40, 60.0) == 0.0
    assert bid("a", load=0.0, queue=0, penalty=FAILING).score > bid("b", load=1, queue=50).score
