"""Simulated main power supply.

POWER on takes ``Timings.main_power_s``; POWER off is instant (see
`PoweredDevice`). The axes and the mirror cover drives need it: `Mount` cuts
their power when it goes off.
"""

from __future__ import annotations

__all__ = ["MainPowerSupply"]

from ...protocol.enums import CommandCode, SubsystemId
from .base import Device, OpIds, Timings
from .powered import PoweredDevice


class MainPowerSupply(PoweredDevice):
    """The main power supply (pure state machine; time is an argument).

    Attributes
    ----------
    powered : `bool`
    """

    def __init__(self, timings: Timings | None = None, ids: OpIds | None = None) -> None:
        timings = timings or Timings()
        super().__init__(
            "Main power supply", SubsystemId.MAIN_POWER_SUPPLY, timings.main_power_s, ids
        )
        self.timings = timings

    HANDLERS = {
        CommandCode.MAIN_POWER_SUPPLY_POWER: PoweredDevice.handle_power,
        CommandCode.MAIN_POWER_SUPPLY_RESET_ALARM: Device.handle_reset_alarm,
    }
