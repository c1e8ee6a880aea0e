"""Simulated devices: pure state machines driven by a simulated clock.

One module per device family; `Mount` puts them together. See `base` for the
``handle(command, now) -> Outcome`` / ``advance(now) -> [Event]`` contract.
"""

from .axis import Axis
from .axis_spec import (
    ALARM_CONDITION,
    AZIMUTH,
    CAMERA_CABLE_WRAP,
    ELEVATION,
    LIMIT_CONDITION,
    POSITION_TOLERANCE,
    TRACK_TIMEOUT_CONDITION,
    AxisSpec,
)
from .base import (
    Accepted,
    AlarmChanged,
    Device,
    Event,
    Failed,
    Finished,
    InPositionChanged,
    Outcome,
    RejectCode,
    Rejected,
    Severity,
    Superseded,
    Timings,
)
from .chiller import TopEndChiller
from .covers import DRIVES, LinearDriveGroup, MirrorCoverLocks, MirrorCovers
from .mount import Mount
from .oil import OIL_STAGES, OilSupplySystem
from .power import MainPowerSupply

__all__ = [
    "ALARM_CONDITION",
    "AZIMUTH",
    "CAMERA_CABLE_WRAP",
    "DRIVES",
    "ELEVATION",
    "LIMIT_CONDITION",
    "OIL_STAGES",
    "POSITION_TOLERANCE",
    "TRACK_TIMEOUT_CONDITION",
    "Accepted",
    "AlarmChanged",
    "Axis",
    "AxisSpec",
    "Device",
    "Event",
    "Failed",
    "Finished",
    "InPositionChanged",
    "LinearDriveGroup",
    "MainPowerSupply",
    "MirrorCoverLocks",
    "MirrorCovers",
    "Mount",
    "OilSupplySystem",
    "Outcome",
    "RejectCode",
    "Rejected",
    "Severity",
    "Superseded",
    "Timings",
    "TopEndChiller",
]
