"""Simulated top-end chiller.

POWER on takes ``Timings.chiller_power_s``; POWER off is instant (see
`PoweredDevice`). TRACK_AMBIENT needs the chiller on
and a set point in ``SETPOINT_RANGE`` when not tracking ambient.
"""

from __future__ import annotations

__all__ = ["SETPOINT_RANGE", "TopEndChiller"]

import math

from ...protocol import commands
from ...protocol.commands import Command
from ...protocol.enums import CommandCode, SubsystemId
from .base import Device, OpIds, Outcome, RejectCode, Rejected, Timings
from .powered import PoweredDevice

SETPOINT_RANGE = (-20.0, 40.0)
"""Allowed set points [C]."""


class TopEndChiller(PoweredDevice):
    """The top-end chiller (pure state machine; time is an argument).

    Attributes
    ----------
    powered : `bool`
    track_ambient : `bool`
    setpoint : `float`
        [C]
    """

    def __init__(self, timings: Timings | None = None, ids: OpIds | None = None) -> None:
        timings = timings or Timings()
        super().__init__(
            "Top-end chiller", SubsystemId.TOP_END_CHILLER, timings.chiller_power_s, ids
        )
        self.timings = timings
        self.track_ambient = True
        self.setpoint = 0.0

    def _do_track_ambient(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.TopEndChillerTrackAmbient)
        if not self.powered:
            return Rejected(RejectCode.OFF, f"{self.name} is off")
        rejected = self._check_alarm()
        if rejected is not None:
            return rejected
        lo, hi = SETPOINT_RANGE
        if not command.on and not (
            math.isfinite(command.temperature) and lo <= command.temperature <= hi
        ):
            return Rejected(
                RejectCode.OUT_OF_LIMITS,
                f"{self.name}: set point {command.temperature} C is outside [{lo}, {hi}] C",
            )
        self.track_ambient = command.on
        self.setpoint = command.temperature
        return self._instant(now)

    HANDLERS = {
        CommandCode.TOP_END_CHILLER_POWER: PoweredDevice.handle_power,
        CommandCode.TOP_END_CHILLER_TRACK_AMBIENT: _do_track_ambient,
        CommandCode.TOP_END_CHILLER_RESET_ALARM: Device.handle_reset_alarm,
    }
