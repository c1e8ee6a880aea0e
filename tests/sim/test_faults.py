"""FaultPlan: the pure fault-injection state."""

from __future__ import annotations

import pytest

from mountcomm.protocol import replies
from mountcomm.protocol.enums import ReplyCode, Source
from mountcomm.sim.faults import FaultPlan


def test_reject_next_counts_down() -> None:
    plan = FaultPlan([Source.CSC])
    assert plan.take_rejection() is None
    plan.reject_next(2, "busy")
    assert plan.rejections_pending == 2
    assert [plan.take_rejection() for _ in range(3)] == ["busy", "busy", None]
    with pytest.raises(ValueError, match=">= 0"):
        plan.reject_next(-1, "x")


def test_reply_delay_and_withholding_per_role() -> None:
    plan = FaultPlan([Source.CSC, Source.EUI])
    done = replies.DoneReply(sequence_id=1)
    ack = replies.AckReply(sequence_id=1)
    plan.withhold([ReplyCode.DONE], Source.CSC)
    assert plan.replies[Source.CSC].withholds(done)
    assert not plan.replies[Source.CSC].withholds(ack)
    assert not plan.replies[Source.CSC].withholds(b"raw")
    assert not plan.replies[Source.EUI].withholds(done)
    plan.withhold(None)
    assert plan.replies[Source.EUI].withholds(ack)
    plan.delay(0.5)
    assert {f.delay_s for f in plan.replies.values()} == {0.5}
    with pytest.raises(ValueError, match=">= 0"):
        plan.delay(-1)
    plan.resume(Source.EUI)
    assert plan.replies[Source.EUI].delay_s == 0 and not plan.replies[Source.EUI].withheld
    assert plan.replies[Source.CSC].delay_s == 0.5
