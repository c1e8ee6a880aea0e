"""Unsolicited replies: what every console is told without asking (pure).

The controller broadcasts these to every connected console:

* IN_POSITION for the azimuth and elevation axes (`in_position_reply`);
* ERROR and WARNING for alarms (`alarm_reply`);
* ON_STATE_INFO when the controller's state changes (`state_info_replies`):
  who holds command, whether the mount is enabled, whether the safety
  interlock is tripped. The descriptions are short and stable, made to be
  matched by programs:

  ======================== =========================================
  change                   description
  ======================== =========================================
  command authority        ``"Commander: CSC"`` (the `Source` name;
                           ``"Commander: NONE"`` when released)
  ENABLE / DISABLE         ``"Mount enabled"`` / ``"Mount disabled"``
  interlock                ``"Safety interlock tripped"`` /
                           ``"Safety interlock reset"``
  ======================== =========================================

Nothing here does I/O; the controller snapshots `ControllerStatus` before and
after whatever may change it and broadcasts the difference.
"""

from __future__ import annotations

__all__ = [
    "ControllerStatus",
    "alarm_reply",
    "describe_changes",
    "in_position_reply",
    "state_info_replies",
]

import dataclasses

from ..protocol import replies
from ..protocol.enums import InPositionAxis, Source
from ..protocol.replies import Reply
from .devices import AlarmChanged, InPositionChanged, Severity

_FLAG_DESCRIPTIONS: dict[tuple[str, bool], str] = {
    ("enabled", True): "Mount enabled",
    ("enabled", False): "Mount disabled",
    ("interlock", True): "Safety interlock tripped",
    ("interlock", False): "Safety interlock reset",
}


@dataclasses.dataclass(frozen=True)
class ControllerStatus:
    """The part of the controller's state that ON_STATE_INFO reports.

    Attributes
    ----------
    commander : `Source`
        Who holds command (`Source.NONE`: nobody).
    enabled : `bool`
        Is the mount enabled?
    interlock : `bool`
        Is the safety interlock tripped?
    """

    commander: Source
    enabled: bool
    interlock: bool


def describe_changes(before: ControllerStatus, after: ControllerStatus) -> list[str]:
    """The ON_STATE_INFO descriptions of what changed from ``before`` to ``after``.

    In a fixed order: commander, enabled, interlock; empty if nothing changed.
    """
    descriptions = []
    if after.commander is not before.commander:
        descriptions.append(f"Commander: {after.commander.name}")
    for name in ("enabled", "interlock"):
        value = getattr(after, name)
        if value != getattr(before, name):
            descriptions.append(_FLAG_DESCRIPTIONS[name, value])
    return descriptions


def state_info_replies(
    before: ControllerStatus, after: ControllerStatus
) -> list[replies.OnStateInfoReply]:
    """One ON_STATE_INFO reply per change (see `describe_changes`)."""
    return [replies.OnStateInfoReply(description=text) for text in describe_changes(before, after)]


def in_position_reply(event: InPositionChanged) -> replies.InPositionReply | None:
    """The IN_POSITION reply of an axis event; `None` for the camera cable wrap."""
    if event.axis not in ("azimuth", "elevation"):
        return None
    return replies.InPositionReply(
        what=InPositionAxis[event.axis.upper()], in_position=event.in_position
    )


def alarm_reply(event: AlarmChanged) -> Reply:
    """The ERROR (``on`` = latched) or WARNING reply of an alarm event."""
    subsystem = f"{int(event.subsystem)}. {event.text}"
    if event.severity is Severity.ERROR:
        return replies.ErrorReply(
            on=event.latched, active=event.active, code=event.code, subsystem=subsystem
        )
    return replies.WarningReply(active=event.active, code=event.code, subsystem=subsystem)
