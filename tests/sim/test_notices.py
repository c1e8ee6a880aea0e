"""Unsolicited replies made from events and state changes (pure: no loop, no socket)."""

from __future__ import annotations

import dataclasses

import pytest

from mountcomm.protocol import replies
from mountcomm.protocol.enums import Source, SubsystemId
from mountcomm.sim.devices import AlarmChanged, InPositionChanged, Severity
from mountcomm.sim.notices import (
    ControllerStatus,
    alarm_reply,
    describe_changes,
    in_position_reply,
    state_info_replies,
)

IDLE = ControllerStatus(commander=Source.NONE, enabled=True, interlock=False)


def test_nothing_changed_says_nothing() -> None:
    assert describe_changes(IDLE, IDLE) == []
    assert state_info_replies(IDLE, dataclasses.replace(IDLE)) == []


@pytest.mark.parametrize(
    ("change", "description"),
    [
        ({"commander": Source.CSC}, "Commander: CSC"),
        ({"commander": Source.HHD}, "Commander: HHD"),
        ({"enabled": False}, "Mount disabled"),
        ({"interlock": True}, "Safety interlock tripped"),
    ],
)
def test_each_change_and_its_reverse(change: dict[str, object], description: str) -> None:
    after = dataclasses.replace(IDLE, **change)  # type: ignore[arg-type]
    assert describe_changes(IDLE, after) == [description]
    back = describe_changes(after, IDLE)
    assert back == [
        {
            "Mount disabled": "Mount enabled",
            "Safety interlock tripped": "Safety interlock reset",
        }.get(description, "Commander: NONE")
    ]


def test_several_changes_in_a_fixed_order() -> None:
    after = ControllerStatus(commander=Source.EUI, enabled=False, interlock=True)
    found = state_info_replies(IDLE, after)
    assert all(isinstance(r, replies.OnStateInfoReply) for r in found)
    assert [r.description for r in found] == [
        "Commander: EUI",
        "Mount disabled",
        "Safety interlock tripped",
    ]


def test_in_position_reply() -> None:
    reply = in_position_reply(InPositionChanged("elevation", True, 1.0))
    assert isinstance(reply, replies.InPositionReply)
    assert (reply.what, reply.in_position) == (1, True)
    reply = in_position_reply(InPositionChanged("azimuth", False, 1.0))
    assert reply is not None and (reply.what, reply.in_position) == (0, False)
    assert in_position_reply(InPositionChanged("camera_cable_wrap", True, 1.0)) is None


def test_alarm_reply() -> None:
    alarm = AlarmChanged(
        subsystem=SubsystemId.ELEVATION_AXIS,
        code=401,
        text="encoder fault",
        severity=Severity.ERROR,
        active=True,
        latched=True,
        at=1.0,
    )
    error = alarm_reply(alarm)
    assert isinstance(error, replies.ErrorReply)
    assert (error.on, error.active, error.code, error.subsystem) == (
        True,
        True,
        401,
        "400. encoder fault",
    )
    warning = alarm_reply(dataclasses.replace(alarm, severity=Severity.WARNING, latched=False))
    assert isinstance(warning, replies.WarningReply)
    assert (warning.active, warning.code, warning.subsystem) == (True, 401, "400. encoder fault")
