"""Simulated main axes: azimuth, elevation and camera cable wrap.

An axis must be powered, have all its drives enabled and carry no alarm before
it moves. Point-to-point moves (MOVE, HOME) need tracking disabled; TRACK needs
tracking enabled. Motion follows `mountcomm.sim.motion` plans.

Operation slots: ``power`` (power on), ``drive`` (drive enable) and ``motion``
(MOVE, HOME, STOP; a TRACK supersedes the operation in this slot without
starting one, as it is ack-only). A newer command in a slot supersedes the
older operation there.

In position: the axis enters position when its plan arrives (at rest on a move
target, or matching a tracking target); it leaves when a new command sends it
more than ``POSITION_TOLERANCE`` away, when a tracking target runs past a
position limit, when the tracking targets stop, or when it loses power, drives
or raises an alarm.

Tracking timeout: an axis following a TRACK target that receives no newer
target for ``Timings.track_timeout_s`` brakes to a halt, leaves position and
raises a WARNING (condition `TRACK_TIMEOUT_CONDITION`); tracking stays enabled,
and the next TRACK target resumes tracking and clears the WARNING.

WARNING and ERROR codes are the subsystem id plus a condition number:
`ALARM_CONDITION` (an injected alarm), `LIMIT_CONDITION` (a tracking target
past a position limit) and `TRACK_TIMEOUT_CONDITION`.
"""

from __future__ import annotations

__all__ = ["ACTION_HANDLERS", "Axis"]

import dataclasses
import math
from collections.abc import Callable, Mapping

from ...protocol import commands
from ...protocol.commands import Command
from ..motion import AxisLimits, Kinematics, Path, plan_hold, plan_move, plan_stop, plan_track
from .axis_readings import AxisReadings
from .axis_spec import (
    ALARM_CONDITION,
    LIMIT_CONDITION,
    POSITION_TOLERANCE,
    TRACK_TIMEOUT_CONDITION,
    AxisSpec,
)
from .base import (
    Accepted,
    AlarmChanged,
    Device,
    Handler,
    InPositionChanged,
    OpIds,
    Outcome,
    RejectCode,
    Rejected,
    Severity,
    Timings,
    _Timer,
)
from .validation import check_duration, check_profile


class Axis(AxisReadings, Device):
    """One simulated axis (pure state machine; time is an argument).

    Parameters
    ----------
    spec : `AxisSpec`
        `AZIMUTH`, `ELEVATION` or `CAMERA_CABLE_WRAP`.
    limits : `AxisLimits`
        Position, velocity and acceleration limits.
    timings : `Timings`, optional
        Power-on and drive-enable durations.
    ids : iterator of `int`, optional
        Shared source of operation ids.
    position : `float`, optional
        Initial position [deg]; default: home, else 0, clipped to the limits.

    Attributes
    ----------
    powered : `bool`
    drives_enabled : `list` [`bool`]
    tracking_enabled : `bool`
    in_position : `bool`
    path : `Path`
        The current motion plan.

    Notes
    -----
    What the axis reports (state, torque, drive currents, telemetry samples)
    is defined in `AxisReadings`; this class acts on commands.
    """

    def __init__(
        self,
        spec: AxisSpec,
        limits: AxisLimits,
        timings: Timings | None = None,
        ids: OpIds | None = None,
        position: float | None = None,
    ) -> None:
        super().__init__(spec.label, spec.subsystem, ids)
        self.spec = spec
        self.limits = limits
        self.timings = timings or Timings()
        self.handlers = {code: ACTION_HANDLERS[action] for action, code in spec.codes.items()}
        start = position if position is not None else (spec.home or 0.0)
        self.powered = False
        self.drives_enabled = [False] * spec.drives
        self.tracking_enabled = False
        self.in_position = False
        self.path: Path = plan_hold(limits.clip(start), 0.0)
        self._goal: Callable[[float], Kinematics] = self._hold_goal(limits.clip(start))
        self._enter_timer: _Timer | None = None
        self._track_timer: _Timer | None = None
        self._track_warning: AlarmChanged | None = None

    # --- checks -------------------------------------------------------------------

    def _check_powered(self) -> Rejected | None:
        if not self.powered:
            return Rejected(RejectCode.OFF, f"{self.name} is off")
        return self._check_alarm()

    def _check_can_move(self) -> Rejected | None:
        rejected = self._check_powered()
        if rejected is None and not all(self.drives_enabled):
            off = [i for i, on in enumerate(self.drives_enabled) if not on]
            rejected = Rejected(
                RejectCode.DRIVE_DISABLED, f"{self.name}: drives {off} are not enabled"
            )
        return rejected

    def _drive_indices(self, drive: int) -> list[int] | Rejected:
        """The drives a DRIVE_ENABLE or DRIVE_RESET names, or why it is rejected."""
        rejected = self._check_powered()
        if rejected is not None:
            return rejected
        if drive == -1:
            return list(range(self.spec.drives))
        if 0 <= drive < self.spec.drives:
            return [drive]
        return Rejected(
            RejectCode.BAD_ARGUMENT,
            f"{self.name} has drives 0…{self.spec.drives - 1} (or -1 for all), not {drive}",
        )

    def check_move(self, position: float) -> Rejected | None:
        """Why a point-to-point move to ``position`` would be rejected, or `None`."""
        rejected = self._check_can_move()
        if rejected is None and self.tracking_enabled:
            rejected = Rejected(
                RejectCode.TRACKING_ENABLED,
                f"{self.name} is in tracking mode; disable tracking to move",
            )
        if rejected is None and not (math.isfinite(position) and self.limits.contains(position)):
            rejected = self._out_of_limits("position", position)
        return rejected

    def check_track(self, position: float, velocity: float, tai: float) -> Rejected | None:
        """Why a tracking target would be rejected, or `None`."""
        rejected = self._check_can_move()
        if rejected is None and not self.tracking_enabled:
            rejected = Rejected(
                RejectCode.TRACKING_NOT_ENABLED, f"{self.name}: tracking is not enabled"
            )
        if rejected is None and not (
            math.isfinite(position) and math.isfinite(tai) and self.limits.contains(position)
        ):
            rejected = self._out_of_limits("position", position)
        if rejected is None and not abs(velocity) <= self.limits.max_velocity:
            rejected = Rejected(
                RejectCode.OUT_OF_LIMITS,
                f"{self.name}: velocity {velocity} is beyond ±{self.limits.max_velocity} deg/s",
            )
        return rejected

    def _out_of_limits(self, what: str, value: float) -> Rejected:
        return Rejected(
            RejectCode.OUT_OF_LIMITS,
            f"{self.name}: {what} {value} is outside "
            f"[{self.limits.min_position}, {self.limits.max_position}] deg",
        )

    # --- motion helpers -----------------------------------------------------------

    @staticmethod
    def _hold_goal(position: float) -> Callable[[float], Kinematics]:
        return lambda _t: Kinematics(position)

    def _set_path(self, path: Path, goal: Callable[[float], Kinematics], now: float) -> None:
        """Adopt a new plan and update in-position state."""
        current = self.path.at(now)
        target = goal(now)
        close = (
            abs(current.position - target.position) <= POSITION_TOLERANCE
            and abs(current.velocity - target.velocity) <= POSITION_TOLERANCE
        )
        self.path = path
        self._goal = goal
        self._cancel_enter()
        self._cancel_track_timeout()
        self._clear_track_warning(now)
        if not close:
            self._set_in_position(False, now)
            self._enter_timer = self._schedule(path.arrival_time, self._arrive)
        elif not self.in_position:
            self._set_in_position(True, now)
        if path.limit_time is not None:
            self._schedule(path.limit_time, self._make_limit_action(path))

    def _make_limit_action(self, path: Path) -> Callable[[float], None]:
        def reach_limit(at: float) -> None:
            if self.path is path:
                self._cancel_enter()
                self._cancel_track_timeout()
                self._set_in_position(False, at)
                halt = path.final.position
                self._goal = self._hold_goal(halt)
                self._raise_alarm(
                    at,
                    f"{self.name}: tracking target runs past the position limit; "
                    f"stopping at {halt:.4f} deg",
                    code=LIMIT_CONDITION,
                    severity=Severity.WARNING,
                )

        return reach_limit

    def _arrive(self, at: float) -> None:
        self._enter_timer = None
        self._set_in_position(True, at)

    def _cancel_enter(self) -> None:
        if self._enter_timer is not None:
            self._enter_timer.cancelled = True
            self._enter_timer = None

    def _set_in_position(self, value: bool, at: float) -> None:
        if value and not (self.powered and all(self.drives_enabled)):
            return
        if value != self.in_position:
            self.in_position = value
            self._emit(InPositionChanged(self.spec.name, value, at))

    def _cancel_track_timeout(self) -> None:
        if self._track_timer is not None:
            self._track_timer.cancelled = True
            self._track_timer = None

    def _clear_track_warning(self, now: float) -> None:
        """Report the tracking-timeout WARNING (if raised) as inactive."""
        if self._track_warning is not None:
            self._emit(dataclasses.replace(self._track_warning, active=False, at=now))
            self._track_warning = None

    def _track_timed_out(self, at: float) -> None:
        """No new tracking target for ``track_timeout_s``: brake and warn."""
        self._track_timer = None
        self._brake(at)
        self._track_warning = self._raise_alarm(
            at,
            f"{self.name}: tracking targets stopped (none for "
            f"{self.timings.track_timeout_s:g} s); braking to a halt",
            code=TRACK_TIMEOUT_CONDITION,
            severity=Severity.WARNING,
        )

    def _brake(self, now: float) -> None:
        """Brake to a halt at the acceleration limit and leave position."""
        path = plan_stop(self.path.at(now), now, self.limits)
        self._cancel_enter()
        self._cancel_track_timeout()
        self._set_in_position(False, now)
        self.path = path
        self._goal = self._hold_goal(path.final.position)

    def halt(self, now: float, reason: str) -> None:
        """Brake to a halt, failing the motion operation and leaving position."""
        self._fail("motion", now, reason)
        self._brake(now)

    # --- command handlers (see AxisSpec.codes) ------------------------------------

    def _do_power(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command,
            commands.AzimuthAxisPower | commands.ElevationAxisPower | commands.CameraCableWrapPower,
        )
        if command.on:
            if self.powered:
                return self._instant(now)
            return self._begin("power", now, self.timings.axis_power_s, self._powered_on)
        self.power_lost(now, f"{self.name} powered off")
        return self._instant(now)

    def _powered_on(self, _at: float) -> None:
        self.powered = True

    def power_lost(self, now: float, reason: str) -> None:
        """Switch off at once (POWER off, or main power lost): brake and disable."""
        self._run_until(now)
        self._supersede("power", now)
        self._fail("drive", now, reason)
        if self.powered:
            self.halt(now, reason)
        self.powered = False
        self.drives_enabled = [False] * self.spec.drives
        self.tracking_enabled = False

    def _do_drive_enable(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command,
            commands.AzimuthAxisDriveEnable
            | commands.ElevationAxisDriveEnable
            | commands.CameraCableWrapDriveEnable,
        )
        indices = self._drive_indices(command.drive)
        if isinstance(indices, Rejected):
            return indices
        if command.on:
            if all(self.drives_enabled[i] for i in indices):
                return self._instant(now)

            def enable(_at: float) -> None:
                for i in indices:
                    self.drives_enabled[i] = True

            return self._begin("drive", now, self.timings.drive_enable_s, enable)
        self._fail("drive", now, f"{self.name}: drives disabled")
        for i in indices:
            self.drives_enabled[i] = False
        if self.path.at(now).velocity != 0 or "motion" in self._ops or self.in_position:
            self.halt(now, f"{self.name}: drives disabled")
        return self._instant(now)

    def _do_drive_reset(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command,
            commands.AzimuthAxisDriveReset
            | commands.ElevationAxisDriveReset
            | commands.CameraCableWrapDriveReset,
        )
        indices = self._drive_indices(command.drive)
        if isinstance(indices, Rejected):
            return indices
        return self._instant(now)

    def _do_enable_tracking(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command,
            commands.AzimuthAxisEnableTracking
            | commands.ElevationAxisEnableTracking
            | commands.CameraCableWrapEnableTracking,
        )
        if command.on:
            rejected = self._check_can_move()
            if rejected is not None:
                return rejected
            self.tracking_enabled = True
            return self._instant(now)
        if self.tracking_enabled:
            self.tracking_enabled = False
            if "motion" not in self._ops:  # tracking: brake to a halt
                stop = plan_stop(self.path.at(now), now, self.limits)
                self._set_path(stop, self._hold_goal(stop.final.position), now)
        return self._instant(now)

    def _do_move(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command,
            commands.AzimuthAxisMove | commands.ElevationAxisMove | commands.CameraCableWrapMove,
        )
        return self.move(
            now, command.position, command.velocity, command.acceleration, command.jerk
        )

    def _do_home(self, command: Command, now: float) -> Outcome:
        assert self.spec.home is not None
        return self.move(now, self.spec.home)

    def move(
        self,
        now: float,
        position: float,
        velocity: float = 0.0,
        acceleration: float = 0.0,
        jerk: float = 0.0,
    ) -> Outcome:
        """Start a point-to-point move (MOVE, HOME, or one half of BOTH_AXES_MOVE).

        Parameters
        ----------
        now : `float`
            [TAI unix s]
        position : `float`
            Target [deg].
        velocity, acceleration, jerk : `float`
            Requested maxima [deg/s], [deg/s²], [deg/s³]; 0 means the axis
            default (see `prepare_move` for what is rejected).
        """
        plan = self.prepare_move(now, position, velocity, acceleration, jerk)
        if isinstance(plan, Rejected):
            return plan
        return self.start_move(now, plan)

    def prepare_move(
        self,
        now: float,
        position: float,
        velocity: float = 0.0,
        acceleration: float = 0.0,
        jerk: float = 0.0,
    ) -> Path | Rejected:
        """Plan a move to ``position`` without starting it, or say why it is rejected.

        Rejected: the axis cannot move (`check_move`), a maximum outside
        ``(0, limit]`` (0 means the default; see `check_profile`), or a plan
        whose duration is not finite or longer than `MAX_DURATION_S`.
        """
        self._run_until(now)
        rejected = self.check_move(position) or check_profile(
            self.name, self.limits, velocity, acceleration, jerk
        )
        if rejected is not None:
            return rejected
        path = plan_move(
            self.path.at(now),
            now,
            self.limits,
            position,
            velocity=velocity,
            acceleration=acceleration,
        )
        return check_duration(self.name, path.arrival_time - now) or path

    def start_move(self, now: float, path: Path) -> Accepted:
        """Start a move planned by `prepare_move` at the same ``now``."""
        accepted = self._begin("motion", now, path.arrival_time - now)
        self._set_path(path, self._hold_goal(path.final.position), now)
        return accepted

    def _do_track(self, command: Command, now: float) -> Outcome:
        assert isinstance(
            command,
            commands.AzimuthAxisTrack | commands.ElevationAxisTrack | commands.CameraCableWrapTrack,
        )
        return self.track(now, command.position, command.velocity, command.tai)

    def track(self, now: float, position: float, velocity: float, tai: float) -> Outcome:
        """Follow a new tracking target (TRACK, or one half of BOTH_AXES_TRACK); ack-only.

        Parameters
        ----------
        now : `float`
            [TAI unix s]
        position, velocity : `float`
            The target at ``tai`` [deg], [deg/s].
        tai : `float`
            [TAI unix s]
        """
        self._run_until(now)
        rejected = self.check_track(position, velocity, tai)
        if rejected is not None:
            return rejected
        path = plan_track(
            self.path.at(now), now, self.limits, position=position, velocity=velocity, tai=tai
        )
        self._supersede("motion", now)

        def goal(t: float) -> Kinematics:
            return Kinematics(self.limits.clip(position + velocity * (t - tai)), velocity)

        self._set_path(path, goal, now)
        if math.isfinite(self.timings.track_timeout_s):
            self._track_timer = self._schedule(
                now + self.timings.track_timeout_s, self._track_timed_out
            )
        return Accepted(duration_s=0.0, done_at=now, op_id=None)

    def _do_stop(self, command: Command, now: float) -> Outcome:
        return self.stop(now)

    def stop(self, now: float) -> Outcome:
        """Brake to a halt (STOP, or one half of BOTH_AXES_STOP); always accepted."""
        self._run_until(now)
        path = plan_stop(self.path.at(now), now, self.limits)
        accepted = self._begin("motion", now, path.arrival_time - now)
        self._set_path(path, self._hold_goal(path.final.position), now)
        return accepted

    def _do_reset_alarm(self, command: Command, now: float) -> Outcome:
        return self.handle_reset_alarm(command, now)

    def inject_alarm(
        self,
        now: float,
        text: str,
        code: int = ALARM_CONDITION,
        severity: Severity = Severity.ERROR,
    ) -> None:
        """Raise an alarm (fault injection); an ERROR also brakes the axis to a halt."""
        self._run_until(now)
        if severity is Severity.ERROR:
            self.halt(now, f"{self.name} alarm: {text}")
            self.tracking_enabled = False
        self._raise_alarm(now, text, code, severity)


ACTION_HANDLERS: Mapping[str, Handler] = {
    "power": Axis._do_power,
    "stop": Axis._do_stop,
    "move": Axis._do_move,
    "track": Axis._do_track,
    "home": Axis._do_home,
    "reset_alarm": Axis._do_reset_alarm,
    "enable_tracking": Axis._do_enable_tracking,
    "drive_reset": Axis._do_drive_reset,
    "drive_enable": Axis._do_drive_enable,
}
"""The handler of each axis action (`AxisSpec.codes` maps the actions to codes)."""
