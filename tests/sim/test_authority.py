"""Command authority rules (pure)."""

from __future__ import annotations

import pytest

from mountcomm.protocol.enums import Source
from mountcomm.sim.authority import CommandAuthority
from mountcomm.sim.devices import RejectCode

CSC, EUI, HHD, NONE = Source.CSC, Source.EUI, Source.HHD, Source.NONE


def test_only_the_holder_may_command() -> None:
    auth = CommandAuthority([CSC, EUI])
    assert auth.holder is NONE
    rejected = auth.check(CSC)
    assert rejected is not None and rejected.code is RejectCode.NOT_COMMANDER
    assert "nobody" in rejected.reason
    assert auth.ask(CSC, CSC) is None
    assert auth.check(CSC) is None
    rejected = auth.check(EUI)
    assert rejected is not None and "CSC has it" in rejected.reason


def test_taking_handing_over_and_releasing() -> None:
    auth = CommandAuthority([CSC, EUI, HHD], holder=CSC)
    assert auth.ask(EUI, EUI) is None  # EUI takes command from CSC
    assert auth.holder is EUI
    rejected = auth.ask(CSC, EUI)
    assert rejected is not None and "only ask for command for itself" in rejected.reason
    assert auth.ask(EUI, CSC) is None  # the holder hands over
    assert auth.holder is CSC
    assert auth.ask(CSC, NONE) is None  # and releases
    assert auth.holder is NONE


def test_hhd_cannot_be_preempted() -> None:
    auth = CommandAuthority([CSC, EUI, HHD])
    assert auth.ask(HHD, HHD) is None
    for role in (CSC, EUI):
        rejected = auth.ask(role, role)
        assert rejected is not None and rejected.code is RejectCode.NOT_COMMANDER
        assert "HHD" in rejected.reason
    assert auth.holder is HHD
    assert auth.ask(HHD, CSC) is None  # the HHD may give it away
    assert auth.holder is CSC
    assert auth.ask(HHD, HHD) is None  # and take it back at any time


def test_unknown_roles() -> None:
    auth = CommandAuthority([CSC])
    rejected = auth.ask(CSC, EUI)
    assert rejected is not None and rejected.code is RejectCode.BAD_ARGUMENT
    with pytest.raises(ValueError, match="console roles"):
        CommandAuthority([Source.PXI])
    with pytest.raises(ValueError, match="holder"):
        CommandAuthority([CSC], holder=EUI)


def test_a_vanished_holder_keeps_command_for_the_grace_then_loses_it() -> None:
    auth = CommandAuthority([CSC, EUI], holder=CSC, grace=30.0)
    auth.console_lost(EUI, 100.0)  # not the holder: nothing to keep
    assert auth.release_at is None
    auth.console_lost(CSC, 100.0)
    assert auth.release_at == 130.0
    auth.console_lost(CSC, 110.0)  # the first loss counts
    assert auth.release_at == 130.0
    assert not auth.expire(129.9)
    assert auth.holder is CSC and auth.check(CSC) is None
    assert auth.expire(130.0)
    assert auth.holder is NONE and auth.release_at is None
    assert not auth.expire(200.0)
    assert auth.ask(EUI, EUI) is None


def test_a_holder_back_within_the_grace_keeps_command() -> None:
    auth = CommandAuthority([CSC, EUI], holder=CSC, grace=30.0)
    auth.console_lost(CSC, 100.0)
    auth.console_back(EUI)  # someone else coming back changes nothing
    assert auth.release_at == 130.0
    auth.console_back(CSC)
    assert auth.release_at is None
    assert not auth.expire(1000.0)
    assert auth.holder is CSC


def test_the_hhd_is_released_too_and_infinite_grace_keeps_for_ever() -> None:
    auth = CommandAuthority([CSC, HHD], holder=HHD, grace=0.0)
    auth.console_lost(HHD, 5.0)
    assert auth.expire(5.0) and auth.holder is NONE
    forever = CommandAuthority([CSC], holder=CSC, grace=float("inf"))
    forever.console_lost(CSC, 5.0)
    assert forever.release_at is None and not forever.expire(1e300)
    with pytest.raises(ValueError, match="grace"):
        CommandAuthority([CSC], grace=-1.0)
    with pytest.raises(ValueError, match="grace"):
        CommandAuthority([CSC], grace=float("nan"))


def test_handing_command_over_cancels_a_pending_release() -> None:
    auth = CommandAuthority([CSC, EUI], holder=CSC, grace=10.0)
    auth.console_lost(CSC, 0.0)
    auth.console_back(CSC)
    auth.console_lost(CSC, 1.0)
    assert auth.ask(CSC, EUI) is None  # e.g. a last command on the way out
    assert auth.release_at is None and not auth.expire(100.0)
    assert auth.holder is EUI
