"""The whole simulated mount: every device, the mount-level commands and interlocks.

`Mount` is the pure core the controller wraps. It routes each command to its
device and adds what spans devices:

* ENABLE / DISABLE: while disabled, every command but ENABLE, DISABLE and
  SAFETY_RESET is rejected; DISABLE brakes every axis to a halt.
* The safety interlock (`Mount.trip_interlock`, fault injection): everything
  loses power and every command but SAFETY_RESET is rejected until SAFETY_RESET.
* Power: the axes and the mirror cover (lock) drives need the main power supply;
  switching it off (or an ERROR alarm on it) cuts their power.
* BOTH_AXES_MOVE / _TRACK / _STOP: checked on both axes first (rejected if
  either axis would reject), then run on both as one operation, done when both
  are done, superseded or failed when either is.
"""

from __future__ import annotations

__all__ = ["Mount"]

import itertools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ...config import Config
from ...protocol import commands
from ...protocol.commands import Command
from ...protocol.enums import CommandCode, SubsystemId
from ..motion import AxisLimits
from .axis import Axis
from .axis_spec import AZIMUTH, CAMERA_CABLE_WRAP, ELEVATION
from .base import (
    Accepted,
    Device,
    Event,
    Failed,
    Finished,
    OpIds,
    Outcome,
    RejectCode,
    Rejected,
    Severity,
    Superseded,
    Timings,
)
from .chiller import TopEndChiller
from .covers import MirrorCoverLocks, MirrorCovers
from .oil import OilSupplySystem
from .power import MainPowerSupply
from .validation import check_finite

MountHandler = Callable[["Mount", Command, float], Outcome]
"""A handler of a mount-level command: an unbound `Mount` method."""

_ALWAYS_ALLOWED = frozenset({CommandCode.ENABLE, CommandCode.DISABLE, CommandCode.SAFETY_RESET})

_NEEDS_MAIN_POWER = {
    CommandCode.AZIMUTH_AXIS_POWER,
    CommandCode.ELEVATION_AXIS_POWER,
    CommandCode.CAMERA_CABLE_WRAP_POWER,
    CommandCode.MIRROR_COVERS_POWER,
    CommandCode.MIRROR_COVER_LOCKS_POWER,
}


class _MountLevel(Device):
    """Mount-level commands (ENABLE, DISABLE, SAFETY_RESET) and interlock alarms."""

    def __init__(self, ids: OpIds) -> None:
        super().__init__("Mount", SubsystemId.INTERLOCK, ids)

    def done_at_once(self, now: float) -> Accepted:
        """A mount-level command done at once (ACK then DONE)."""
        return self._instant(now)


class Mount:
    """All the simulated devices of the mount (pure; time is an argument).

    Parameters
    ----------
    config : `Config`, optional
        ``sim_limits`` gives the axis limits (default: `Config` defaults).
    timings : `Timings`, optional
        Device durations.
    limits : `Mapping` [`str`, `AxisLimits`], optional
        Override limits per axis name (``azimuth``, ``elevation``,
        ``camera_cable_wrap``).
    enabled : `bool`
        Start enabled (the default) or disabled (ENABLE needed first).

    Attributes
    ----------
    azimuth, elevation, camera_cable_wrap : `Axis`
    main_power_supply : `MainPowerSupply`
    oil_supply_system : `OilSupplySystem`
    mirror_covers : `MirrorCovers`
    mirror_cover_locks : `MirrorCoverLocks`
    top_end_chiller : `TopEndChiller`
    enabled : `bool`
    interlock : `bool`
        Is the safety interlock tripped?
    """

    def __init__(
        self,
        config: Config | None = None,
        timings: Timings | None = None,
        limits: Mapping[str, AxisLimits] | None = None,
        enabled: bool = True,
    ) -> None:
        config = config or Config()
        timings = timings or Timings()
        all_limits = {
            name: AxisLimits.from_mapping(values) for name, values in config.sim_limits.items()
        }
        all_limits.update(limits or {})
        self._ids = itertools.count(1)
        ids = self._ids
        self.azimuth = Axis(AZIMUTH, all_limits["azimuth"], timings, ids)
        self.elevation = Axis(ELEVATION, all_limits["elevation"], timings, ids)
        self.camera_cable_wrap = Axis(
            CAMERA_CABLE_WRAP, all_limits["camera_cable_wrap"], timings, ids
        )
        self.main_power_supply = MainPowerSupply(timings, ids)
        self.oil_supply_system = OilSupplySystem(timings, ids)
        self.mirror_covers = MirrorCovers(timings, ids)
        self.mirror_cover_locks = MirrorCoverLocks(timings, ids)
        self.top_end_chiller = TopEndChiller(timings, ids)
        self._level = _MountLevel(ids)
        self.axes = (self.azimuth, self.elevation, self.camera_cable_wrap)
        self.devices: tuple[Device, ...] = (
            *self.axes,
            self.main_power_supply,
            self.oil_supply_system,
            self.mirror_covers,
            self.mirror_cover_locks,
            self.top_end_chiller,
            self._level,
        )
        self._route: dict[CommandCode, Device] = {
            code: device for device in self.devices for code in device.command_codes()
        }
        self.enabled = enabled
        self.interlock = False
        self._children: dict[int, int] = {}  # child op id -> composite op id
        self._pending: dict[int, set[int]] = {}  # composite op id -> open children

    # --- driving ------------------------------------------------------------------

    def supports(self, code: CommandCode) -> bool:
        """Does the mount model command ``code``?"""
        return code in self._route or code in self.HANDLERS

    def handle(self, command: Command, now: float) -> Outcome:
        """Handle one command at ``now`` [TAI unix s]; then call `advance`."""
        code = command.command_code
        if self.interlock and code is not CommandCode.SAFETY_RESET:
            return Rejected(
                RejectCode.INTERLOCK, "Safety interlock is tripped; send SAFETY_RESET first"
            )
        if not self.enabled and code not in _ALWAYS_ALLOWED:
            return Rejected(RejectCode.DISABLED, "Mount is disabled; send ENABLE first")
        rejected = check_finite(command)
        if rejected is not None:
            return rejected
        own = self.HANDLERS.get(code)
        if own is not None:
            return own(self, command, now)
        device = self._route.get(code)
        if device is None:
            return Rejected(RejectCode.UNSUPPORTED, f"{code.name} is not supported")
        if (
            code in _NEEDS_MAIN_POWER
            and getattr(command, "on", False)
            and not self.main_power_supply.powered
        ):
            self.main_power_supply.sync(now)
            if not self.main_power_supply.powered:
                return Rejected(RejectCode.INTERLOCK, "Main power supply is off")
        outcome = device.handle(command, now)
        if code is CommandCode.MAIN_POWER_SUPPLY_POWER and not self.main_power_supply.powered:
            self._cut_power(now, "Main power supply is off")
        return outcome

    def advance(self, now: float) -> list[Event]:
        """Bring every device up to ``now``; return the events in time order.

        Events of the two halves of a BOTH_AXES command are reported once, under
        the composite operation id.
        """
        events: list[Event] = []
        for device in self.devices:
            events.extend(device.advance(now))
        events.sort(key=lambda e: e.at)
        return [out for e in events for out in self._translate(e)]

    def next_event_time(self) -> float | None:
        """When the next scheduled change of any device happens, or `None`."""
        times = [t for d in self.devices if (t := d.next_event_time()) is not None]
        return min(times) if times else None

    def telemetry(self, now: float) -> list[dict[str, Any]]:
        """The telemetry samples at ``now``.

        One per axis (azimuth, elevation, camera cable wrap), then one per drive
        topic (azimuth drives, elevation drives).
        """
        samples = [axis.telemetry(now) for axis in self.axes]
        for axis in self.axes:
            drives = axis.drive_telemetry(now)
            if drives is not None:
                samples.append(drives)
        return samples

    def device(self, name: str) -> Device:
        """A device by attribute name, e.g. ``"elevation"`` or ``"mirror_covers"``."""
        device = getattr(self, name, None)
        if not isinstance(device, Device) or name.startswith("_"):
            raise ValueError(f"no device named {name!r}")
        return device

    # --- fault injection ----------------------------------------------------------

    def inject_alarm(
        self, name: str, now: float, text: str, severity: Severity = Severity.ERROR
    ) -> None:
        """Raise an alarm on device ``name`` (see `device`)."""
        device = self.device(name)
        device.inject_alarm(now, text, severity=severity)
        if device is self.main_power_supply and severity is Severity.ERROR:
            self.main_power_supply.power_off(now, f"Main power supply alarm: {text}")
            self._cut_power(now, f"Main power supply alarm: {text}")

    def trip_interlock(self, now: float, text: str = "emergency stop") -> None:
        """Trip the safety interlock: everything loses power until SAFETY_RESET."""
        self.interlock = True
        self.main_power_supply.power_off(now, f"Safety interlock: {text}")
        self._cut_power(now, f"Safety interlock: {text}")
        self.oil_supply_system.switch_off(now, "power", f"Safety interlock: {text}")
        self._level.inject_alarm(now, f"safety interlock tripped: {text}")

    # --- internals ----------------------------------------------------------------

    def _cut_power(self, now: float, reason: str) -> None:
        for axis in self.axes:
            axis.power_lost(now, reason)
        self.mirror_covers.power_lost(now, reason)
        self.mirror_cover_locks.power_lost(now, reason)

    def _translate(self, event: Event) -> list[Event]:
        if not isinstance(event, Finished | Failed | Superseded):
            return [event]
        parent = self._children.pop(event.op_id, None)
        if parent is None:
            return [event]
        open_children = self._pending.get(parent)
        if open_children is None:
            return []  # the composite already ended
        open_children.discard(event.op_id)
        if isinstance(event, Finished):
            if open_children:
                return []
            del self._pending[parent]
            return [Finished(parent, event.at)]
        del self._pending[parent]
        if isinstance(event, Failed):
            return [Failed(parent, event.at, event.reason)]
        return [Superseded(parent, event.at)]

    def _composite(self, outcomes: list[Outcome]) -> Accepted:
        children = [o for o in outcomes if isinstance(o, Accepted)]
        assert len(children) == len(outcomes)
        done_at = max(o.done_at for o in children)
        ids = {o.op_id for o in children if o.op_id is not None}
        if not ids:
            return Accepted(duration_s=0.0, done_at=done_at, op_id=None)
        parent = next(self._ids)
        self._pending[parent] = ids
        for child in ids:
            self._children[child] = parent
        return Accepted(
            duration_s=max(o.duration_s for o in children), done_at=done_at, op_id=parent
        )

    @staticmethod
    def _either(az: Rejected | None, el: Rejected | None) -> Rejected | None:
        return az if az is not None else el

    def _do_both_move(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.BothAxesMove)
        azimuth = -command.azimuth if command.negate_azimuth else command.azimuth
        az = self.azimuth.prepare_move(now, azimuth, command.azimuth_velocity)
        el = self.elevation.prepare_move(now, command.elevation, command.elevation_velocity)
        if isinstance(az, Rejected):
            return az
        if isinstance(el, Rejected):
            return el
        return self._composite(
            [self.azimuth.start_move(now, az), self.elevation.start_move(now, el)]
        )

    def _do_both_track(self, command: Command, now: float) -> Outcome:
        assert isinstance(command, commands.BothAxesTrack)
        sign = -1.0 if command.negate_azimuth else 1.0
        az, az_v = sign * command.azimuth, sign * command.azimuth_velocity
        rejected = self._either(
            self.azimuth.check_track(az, az_v, command.tai),
            self.elevation.check_track(command.elevation, command.elevation_velocity, command.tai),
        )
        if rejected is not None:
            return rejected
        return self._composite(
            [
                self.azimuth.track(now, az, az_v, command.tai),
                self.elevation.track(
                    now, command.elevation, command.elevation_velocity, command.tai
                ),
            ]
        )

    def _do_both_stop(self, command: Command, now: float) -> Outcome:
        return self._composite([self.azimuth.stop(now), self.elevation.stop(now)])

    def _do_enable(self, command: Command, now: float) -> Outcome:
        self.enabled = True
        return self._level.done_at_once(now)

    def _do_disable(self, command: Command, now: float) -> Outcome:
        self.enabled = False
        for axis in self.axes:
            axis.sync(now)
            axis.halt(now, "Mount disabled")
        return self._level.done_at_once(now)

    def _do_safety_reset(self, command: Command, now: float) -> Outcome:
        if self.interlock:
            self.interlock = False
            self._level.clear_alarm(now)
        return self._level.done_at_once(now)

    HANDLERS: ClassVar[Mapping[CommandCode, MountHandler]] = {
        CommandCode.ENABLE: _do_enable,
        CommandCode.DISABLE: _do_disable,
        CommandCode.SAFETY_RESET: _do_safety_reset,
        CommandCode.BOTH_AXES_MOVE: _do_both_move,
        CommandCode.BOTH_AXES_TRACK: _do_both_track,
        CommandCode.BOTH_AXES_STOP: _do_both_stop,
    }
    """Commands the mount handles itself (the rest are routed to a device)."""
