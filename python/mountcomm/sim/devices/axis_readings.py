"""What a simulated axis reports: state, torque, drive currents, telemetry samples.

`AxisReadings` is a mixin of `Axis`: pure functions of the axis's motion plan
and power state at a given time, with no effect on the axis.
"""

from __future__ import annotations

__all__ = ["AxisReadings"]

import math
from collections.abc import Callable
from typing import Any

from ..motion import Kinematics, Path
from .axis_spec import AxisSpec


class AxisReadings:
    """The queries of an `Axis` (a mixin; the axis sets the attributes below).

    Attributes
    ----------
    spec : `AxisSpec`
    path : `Path`
        The current motion plan.
    powered : `bool`
    drives_enabled : `list` [`bool`]
    """

    spec: AxisSpec
    path: Path
    powered: bool
    drives_enabled: list[bool]
    _goal: Callable[[float], Kinematics]

    def state(self, now: float) -> Kinematics:
        """Position, velocity and acceleration at ``now`` [TAI unix s]."""
        return self.path.at(now)

    def goal(self, now: float) -> Kinematics:
        """The commanded position and velocity at ``now`` (a target or a halt)."""
        return self._goal(now)

    def torque(self, now: float) -> float:
        """The torque on the axis at ``now``: inertia * acceleration [N m]."""
        return self.spec.inertia * math.radians(self.path.at(now).acceleration)

    def drive_currents(self, now: float) -> list[float]:
        """The current of each drive at ``now`` [A].

        The axis torque is shared equally by the enabled drives
        (``torque / (enabled_drives * torque_constant)``, signed like the
        torque); a disabled drive carries 0, and so does every drive while the
        axis is off.
        """
        enabled = sum(self.drives_enabled) if self.powered else 0
        if not enabled:
            return [0.0] * self.spec.drives
        share = self.torque(now) / (enabled * self.spec.torque_constant)
        return [share if on else 0.0 for on in self.drives_enabled]

    def drive_telemetry(self, now: float) -> dict[str, Any] | None:
        """A drive telemetry sample at ``now`` (``topicID``, ``timestamp``, ``current``).

        `None` if the axis has no drive topic (``spec.drive_topic``).
        """
        if self.spec.drive_topic is None:
            return None
        return {
            "topicID": int(self.spec.drive_topic),
            "timestamp": now,
            "current": self.drive_currents(now),
        }

    def telemetry(self, now: float) -> dict[str, Any]:
        """A telemetry sample at ``now`` (topic of the axis, PROTOCOL.md names)."""
        actual = self.path.at(now)
        demand = self._goal(now)
        torque = self.torque(now)
        return {
            "topicID": int(self.spec.topic),
            "timestamp": now,
            "angleActual": actual.position,
            "angleSet": demand.position,
            "velocityActual": actual.velocity,
            "velocitySet": demand.velocity,
            "accelerationActual": actual.acceleration,
            "torqueActual": torque,
        }
