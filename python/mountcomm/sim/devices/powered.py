"""`PoweredDevice`: the power logic shared by devices switched by one POWER command.

POWER on takes a fixed time (the device is ``powered`` when it finishes) and is
refused while an ERROR alarm is latched; POWER on an already powered device is
instant. POWER off is instant, and so is `power_off` (a power cut): a power-on
still in progress fails with the reason.
"""

from __future__ import annotations

__all__ = ["PoweredDevice"]

from ...protocol import commands
from ...protocol.commands import Command
from ...protocol.enums import SubsystemId
from .base import Device, OpIds, Outcome


class PoweredDevice(Device):
    """A device with one power switch (pure state machine; time is an argument).

    Parameters
    ----------
    name : `str`
        Used in explanations.
    subsystem : `SubsystemId`
    power_on_s : `float`
        How long POWER on takes [s].
    ids : iterator of `int`, optional
        Shared source of operation ids.

    Attributes
    ----------
    powered : `bool`
    power_on_s : `float`
    """

    def __init__(
        self, name: str, subsystem: SubsystemId, power_on_s: float, ids: OpIds | None = None
    ) -> None:
        super().__init__(name, subsystem, ids)
        self.power_on_s = power_on_s
        self.powered = False

    def handle_power(self, command: Command, now: float) -> Outcome:
        """POWER: switch on (after ``power_on_s``) or off (at once); the subclasses' handler."""
        assert isinstance(command, commands.MainPowerSupplyPower | commands.TopEndChillerPower)
        if command.on:
            rejected = self._check_alarm()
            if rejected is not None:
                return rejected
            if self.powered:
                return self._instant(now)
            return self._begin("power", now, self.power_on_s, self._powered_on)
        self.power_off(now, f"{self.name} switched off")
        return self._instant(now)

    def _powered_on(self, _at: float) -> None:
        self.powered = True

    def power_off(self, now: float, reason: str) -> None:
        """Switch off at once (a power-on in progress fails with ``reason``)."""
        self._run_until(now)
        self._fail("power", now, reason)
        self.powered = False
