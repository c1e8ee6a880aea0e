"""Simulated main power supply.

POWER on takes ``Timings.main_power_s``; POWER off is instant. The axes and the
mirror cover drives need it: `Mount` cuts their power when it goes off.
"""

from __future__ import annotations

__all__ = ["MainPowerSupply"]

from ...protocol import commands
from ...protocol.commands import Command
from ...protocol.enums import CommandCode, SubsystemId
from .base import Device, OpIds, Outcome, Timings


class MainPowerSupply(Device):
    """The main power supply (pure state machine; time is an argument).

    Attributes
    ----------
    powered : `bool`
    """

    HANDLERS = {
        CommandCode.MAIN_POWER_SUPPLY_POWER: "_do_power",
        CommandCode.MAIN_POWER_SUPPLY_RESET_ALARM: "_reset_alarm",
    }

    def __init__(self, timings: Timings | None = None, ids: OpIds | None = None) -> None:
        super().__init__("Main power supply", SubsystemId.MAIN_POWER_SUPPLY, ids)
        self.timings = timings or Timings()
        self.powered = False

    def _do_power(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.MainPowerSupplyPower)
        if command.on:
            rejected = self._check_alarm()
            if rejected is not None:
                return rejected
            if self.powered:
                return self._instant(now)
            return self._begin("power", now, self.timings.main_power_s, self._powered_on)
        self.power_off(now, f"{self.name} switched off")
        return self._instant(now)

    def _powered_on(self, _at: float) -> None:
        self.powered = True

    def power_off(self, now: float, reason: str) -> None:
        """Switch off at once (a power-on in progress fails with ``reason``)."""
        self._run_until(now)
        self._fail("power", now, reason)
        self.powered = False
