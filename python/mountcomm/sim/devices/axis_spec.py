"""What distinguishes the simulated axes: `AxisSpec` and the three axes' specs.

WARNING and ERROR codes of an axis are its subsystem id plus a condition
number: `ALARM_CONDITION`, `LIMIT_CONDITION`, `TRACK_TIMEOUT_CONDITION`.
"""

from __future__ import annotations

__all__ = [
    "ALARM_CONDITION",
    "AXIS_ACTIONS",
    "AZIMUTH",
    "CAMERA_CABLE_WRAP",
    "ELEVATION",
    "LIMIT_CONDITION",
    "POSITION_TOLERANCE",
    "TRACK_TIMEOUT_CONDITION",
    "AxisSpec",
]

import dataclasses

from ...protocol.enums import CommandCode, SubsystemId, TelemetryTopicId

POSITION_TOLERANCE = 1e-4
"""An axis closer than this to its goal [deg, deg/s] stays in position."""

ALARM_CONDITION = 1
"""Condition number of an injected alarm (code = subsystem id + 1)."""
LIMIT_CONDITION = 2
"""Condition number of the WARNING "tracking target runs past the position limit"."""
TRACK_TIMEOUT_CONDITION = 3
"""Condition number of the WARNING "tracking targets stopped"."""


@dataclasses.dataclass(frozen=True)
class AxisSpec:
    """What distinguishes one axis from another.

    Attributes
    ----------
    name : `str`
        Key in ``Config.sim_limits`` and in `InPositionChanged` events.
    label : `str`
        Used in explanations.
    subsystem : `SubsystemId`
    topic : `TelemetryTopicId`
    drives : `int`
        Number of drives.
    home : `float` or `None`
        Home position [deg]; `None` if the axis has no HOME command.
    inertia : `float`
        Moment of inertia [kg m²], for the simulated torque.
    codes : `dict` [`str`, `CommandCode`]
        Command code of each action (``power``, ``stop``, ``move``, ``track``,
        ``home``, ``reset_alarm``, ``enable_tracking``, ``drive_reset``,
        ``drive_enable``).
    drive_topic : `TelemetryTopicId` or `None`
        Telemetry topic of the drives' currents; `None`: not published.
    torque_constant : `float`
        Torque of one drive per ampere [N m / A], for the simulated currents.
    """

    name: str
    label: str
    subsystem: SubsystemId
    topic: TelemetryTopicId
    drives: int
    home: float | None
    inertia: float
    codes: dict[str, CommandCode]
    drive_topic: TelemetryTopicId | None = None
    torque_constant: float = 1.0


AXIS_ACTIONS = (
    "power",
    "stop",
    "move",
    "track",
    "home",
    "reset_alarm",
    "enable_tracking",
    "drive_reset",
    "drive_enable",
)


def _axis_codes(prefix: str) -> dict[str, CommandCode]:
    """The modelled commands of one axis: action → ``CommandCode[prefix_ACTION]``."""
    codes = {}
    for action in AXIS_ACTIONS:
        name = f"{prefix}_{action.upper()}"
        if name in CommandCode.__members__:
            codes[action] = CommandCode[name]
    return codes


AZIMUTH = AxisSpec(
    name="azimuth",
    label="Azimuth axis",
    subsystem=SubsystemId.AZIMUTH_AXIS,
    topic=TelemetryTopicId.AZIMUTH,
    drives=16,
    home=0.0,
    inertia=1.3e6,
    codes=_axis_codes("AZIMUTH_AXIS"),
    drive_topic=TelemetryTopicId.AZIMUTH_DRIVE,
    torque_constant=400.0,
)

ELEVATION = AxisSpec(
    name="elevation",
    label="Elevation axis",
    subsystem=SubsystemId.ELEVATION_AXIS,
    topic=TelemetryTopicId.ELEVATION,
    drives=12,
    home=86.5,
    inertia=6.0e5,
    codes=_axis_codes("ELEVATION_AXIS"),
    drive_topic=TelemetryTopicId.ELEVATION_DRIVE,
    torque_constant=100.0,
)

CAMERA_CABLE_WRAP = AxisSpec(
    name="camera_cable_wrap",
    label="Camera cable wrap",
    subsystem=SubsystemId.CAMERA_CABLE_WRAP,
    topic=TelemetryTopicId.CAMERA_CABLE_WRAP,
    drives=2,
    home=None,
    inertia=2.0e3,
    codes=_axis_codes("CAMERA_CABLE_WRAP"),
)
