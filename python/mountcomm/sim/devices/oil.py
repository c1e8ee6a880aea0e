"""Simulated oil supply system (hydrostatic bearings).

Four stages switched on in order: the system itself (POWER), then COOLING, then
OIL, then the MAIN_PUMP. Each stage needs the one before it ("interlock"
rejection otherwise) and takes ``Timings.oil_step_s`` to come on. Switching a
stage off is instant and switches off every later stage.
"""

from __future__ import annotations

__all__ = ["OIL_STAGES", "OilSupplySystem"]

from ...protocol import commands
from ...protocol.commands import Command
from ...protocol.enums import CommandCode, SubsystemId
from .base import Device, OpIds, Outcome, RejectCode, Rejected, Timings

OIL_STAGES = ("power", "cooling", "oil", "main_pump")
"""The stages, in the order they must be switched on."""

_STAGE_OF = {
    CommandCode.OIL_SUPPLY_SYSTEM_POWER: "power",
    CommandCode.OIL_SUPPLY_SYSTEM_POWER_COOLING: "cooling",
    CommandCode.OIL_SUPPLY_SYSTEM_POWER_OIL: "oil",
    CommandCode.OIL_SUPPLY_SYSTEM_POWER_MAIN_PUMP: "main_pump",
}


class OilSupplySystem(Device):
    """The oil supply system (pure state machine; time is an argument).

    Attributes
    ----------
    on : `dict` [`str`, `bool`]
        State of each stage of `OIL_STAGES`.
    """

    def __init__(self, timings: Timings | None = None, ids: OpIds | None = None) -> None:
        super().__init__("Oil supply system", SubsystemId.OIL_SUPPLY_SYSTEM, ids)
        self.timings = timings or Timings()
        self.on = dict.fromkeys(OIL_STAGES, False)

    @property
    def ready(self) -> bool:
        """Are all stages on?"""
        return all(self.on.values())

    def _do_stage(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command,
            commands.OilSupplySystemPower
            | commands.OilSupplySystemPowerCooling
            | commands.OilSupplySystemPowerOil
            | commands.OilSupplySystemPowerMainPump,
        )
        stage = _STAGE_OF[command.command_code]
        index = OIL_STAGES.index(stage)
        if not command.on:
            self.switch_off(now, stage, f"{self.name}: {stage} switched off")
            return self._instant(now)
        rejected = self._check_alarm()
        if rejected is not None:
            return rejected
        if index > 0 and not self.on[OIL_STAGES[index - 1]]:
            return Rejected(
                RejectCode.INTERLOCK if index > 1 else RejectCode.OFF,
                f"{self.name}: {OIL_STAGES[index - 1]} must be on before {stage}",
            )
        if self.on[stage]:
            return self._instant(now)

        def switch_on(_at: float) -> None:
            self.on[stage] = True

        return self._begin(stage, now, self.timings.oil_step_s, switch_on)

    def switch_off(self, now: float, stage: str, reason: str) -> None:
        """Switch ``stage`` and every later stage off at once."""
        self._run_until(now)
        index = OIL_STAGES.index(stage)
        self._supersede(stage, now)
        for later in OIL_STAGES[index:]:
            if later != stage:
                self._fail(later, now, reason)
            self.on[later] = False

    HANDLERS = {
        **dict.fromkeys(_STAGE_OF, _do_stage),
        CommandCode.OIL_SUPPLY_SYSTEM_RESET_ALARM: Device.handle_reset_alarm,
    }
