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
