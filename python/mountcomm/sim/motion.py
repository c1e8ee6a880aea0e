"""Pure axis kinematics: point-to-point moves, tracking and stops.

Nothing here reads a clock: every function takes the time as an argument
(seconds on any fixed scale; the simulator uses TAI unix seconds).

A motion is a `Path`: a sequence of constant-acceleration `Segment` pieces, the
last of which lasts forever (standing still after a move or a stop, moving at the
target's velocity after tracking). Plans are time-optimal within the limits
(bang-bang acceleration with a velocity cap):

* `plan_move`: from any state to rest at a target position; the velocity profile
  is a trapezoid, or a triangle when the move is too short to reach the cruise
  velocity. If the axis is already moving away from the target, or too fast to
  stop in time, it first brakes to a halt and then moves back.
* `plan_track`: from any state onto a moving target ``position + velocity *
  (t - tai)``. The same profile is planned in the frame moving with the target,
  so the axis meets the target with matching velocity at ``arrival_time``.
  The extrapolated target is limited: the axis brakes to a halt at the position
  limit instead of following the target beyond it.
* `plan_stop`: brake to a halt with a constant deceleration.

Every plan keeps ``|velocity| <= max_velocity`` (given a start inside that bound)
and ``|acceleration| <= max_acceleration``.
"""

from __future__ import annotations

__all__ = [
    "AxisLimits",
    "Kinematics",
    "Path",
    "Segment",
    "plan_hold",
    "plan_move",
    "plan_stop",
    "plan_track",
]

import bisect
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class AxisLimits:
    """Motion limits of one axis.

    Parameters
    ----------
    min_position, max_position : `float`
        Position limits [deg].
    max_velocity : `float`
        Maximum speed [deg/s]; positive.
    max_acceleration : `float`
        Maximum acceleration magnitude [deg/s²]; positive.

    Raises
    ------
    ValueError
        If ``min_position >= max_position`` or a maximum is not positive.
    """

    min_position: float
    max_position: float
    max_velocity: float
    max_acceleration: float

    def __post_init__(self) -> None:
        if not self.min_position < self.max_position:
            raise ValueError(
                f"min_position must be less than max_position, "
                f"got {self.min_position} and {self.max_position}"
            )
        if not (self.max_velocity > 0 and self.max_acceleration > 0):
            raise ValueError(
                f"max_velocity and max_acceleration must be positive, "
                f"got {self.max_velocity} and {self.max_acceleration}"
            )

    @classmethod
    def from_mapping(cls, limits: Mapping[str, float]) -> AxisLimits:
        """Build from a ``Config.sim_limits`` entry.

        Parameters
        ----------
        limits : `Mapping` [`str`, `float`]
            Keys ``min``, ``max``, ``max_velocity``, ``max_acceleration``.
        """
        return cls(
            min_position=float(limits["min"]),
            max_position=float(limits["max"]),
            max_velocity=float(limits["max_velocity"]),
            max_acceleration=float(limits["max_acceleration"]),
        )

    def contains(self, position: float) -> bool:
        """Is ``position`` [deg] inside the position limits (inclusive)?"""
        return self.min_position <= position <= self.max_position

    def clip(self, position: float) -> float:
        """Return ``position`` [deg] clipped to the position limits."""
        return min(max(position, self.min_position), self.max_position)


@dataclasses.dataclass(frozen=True)
class Kinematics:
    """The state of an axis at one time.

    Attributes
    ----------
    position : `float`
        [deg]
    velocity : `float`
        [deg/s]
    acceleration : `float`
        [deg/s²]
    """

    position: float
    velocity: float = 0.0
    acceleration: float = 0.0


@dataclasses.dataclass(frozen=True)
class Segment:
    """A piece of constant acceleration starting at time ``start``.

    Attributes
    ----------
    start : `float`
        Start time [s].
    position, velocity : `float`
        State at ``start`` [deg], [deg/s].
    acceleration : `float`
        Constant acceleration [deg/s²].
    """

    start: float
    position: float
    velocity: float
    acceleration: float

    def at(self, t: float) -> Kinematics:
        """Return the state at time ``t`` [s] (extrapolating the segment)."""
        dt = t - self.start
        return Kinematics(
            position=self.position + dt * (self.velocity + 0.5 * self.acceleration * dt),
            velocity=self.velocity + self.acceleration * dt,
            acceleration=self.acceleration,
        )


class Path:
    """A planned motion: constant-acceleration segments, the last lasting forever.

    Parameters
    ----------
    segments : `Sequence` [`Segment`]
        In time order; at least one.
    arrival_time : `float`
        When the plan reaches its goal [s] (a move's target at rest, a stop's halt,
        a tracking target with matching velocity).
    limits : `AxisLimits` or `None`
        If given, positions beyond the position limits are reported clipped, at
        rest (the axis stopped against its limit).
    limit_time : `float` or `None`
        When the axis starts braking to avoid following a tracking target beyond
        a position limit [s], if it does.

    Attributes
    ----------
    segments : `tuple` [`Segment`, ...]
    arrival_time : `float`
    limit_time : `float` or `None`
    """

    __slots__ = ("_starts", "arrival_time", "limit_time", "limits", "segments")

    def __init__(
        self,
        segments: Sequence[Segment],
        arrival_time: float,
        limits: AxisLimits | None = None,
        limit_time: float | None = None,
    ) -> None:
        if not segments:
            raise ValueError("a path needs at least one segment")
        self.segments = tuple(segments)
        self.arrival_time = arrival_time
        self.limits = limits
        self.limit_time = limit_time
        self._starts = [s.start for s in self.segments]

    @property
    def start_time(self) -> float:
        """When the path starts [s]."""
        return self._starts[0]

    @property
    def final(self) -> Segment:
        """The last, endless segment."""
        return self.segments[-1]

    def at(self, t: float) -> Kinematics:
        """Return the state at time ``t`` [s].

        Before the start of the path, the state at the start.
        """
        t = max(t, self._starts[0])
        state = self.segments[bisect.bisect_right(self._starts, t) - 1].at(t)
        if self.limits is not None and not self.limits.contains(state.position):
            return Kinematics(self.limits.clip(state.position))
        return state

    def __repr__(self) -> str:
        return (
            f"Path({len(self.segments)} segments, {self.start_time:.3f} → "
            f"{self.arrival_time:.3f}, final={self.final})"
        )


def _profile(
    distance: float, v0: float, v_up: float, v_down: float, accel: float
) -> list[tuple[float, float]]:
    """Time-optimal phases from velocity ``v0`` to rest ``distance`` away.

    Returns ``(duration, acceleration)`` pairs with ``|acceleration| == accel``
    or 0 (cruise), velocity kept in ``[-v_down, v_up]`` (both positive).
    """
    if distance < 0 or (distance == 0 and v0 < 0):
        flipped = _profile(-distance, -v0, v_down, v_up, accel)
        return [(dt, -a) for dt, a in flipped]
    stop_distance = v0 * abs(v0) / (2 * accel)  # signed, if braking now
    if v0 < 0 or stop_distance > distance:
        brake = (abs(v0) / accel, -math.copysign(accel, v0))
        return [brake, *_profile(distance - stop_distance, 0.0, v_up, v_down, accel)]
    peak = math.sqrt(accel * distance + v0 * v0 / 2)
    if peak <= v_up:
        phases = [((peak - v0) / accel, accel), (peak / accel, -accel)]
    else:
        speed_change = abs(v0 * v0 - v_up * v_up) / (2 * accel)
        braking = v_up * v_up / (2 * accel)
        phases = [
            (abs(v_up - v0) / accel, math.copysign(accel, v_up - v0)),
            ((distance - speed_change - braking) / v_up, 0.0),
            (v_up / accel, -accel),
        ]
    return [(dt, a) for dt, a in phases if dt > 0]


def _build(
    t0: float,
    start: Kinematics,
    phases: list[tuple[float, float]],
    final_velocity: float,
    final_position: Callable[[float], float],
) -> list[Segment]:
    segments = []
    t, p, v = t0, start.position, start.velocity
    for dt, a in phases:
        segments.append(Segment(t, p, v, a))
        p += dt * (v + 0.5 * a * dt)
        v += a * dt
        t += dt
    segments.append(Segment(t, final_position(t), final_velocity, 0.0))
    return segments


def _cap(requested: float, limit: float) -> float:
    """A command's nonzero magnitude capped by the limit; 0 means the limit."""
    requested = abs(requested)
    return limit if requested == 0 or requested > limit else requested


def plan_hold(position: float, t0: float) -> Path:
    """Return a path standing still at ``position`` [deg] from ``t0`` [s]."""
    return Path([Segment(t0, position, 0.0, 0.0)], arrival_time=t0)


def plan_move(
    start: Kinematics,
    t0: float,
    limits: AxisLimits,
    target: float,
    *,
    velocity: float = 0.0,
    acceleration: float = 0.0,
) -> Path:
    """Plan a point-to-point move to rest at ``target``.

    Parameters
    ----------
    start : `Kinematics`
        State at ``t0`` (its acceleration is ignored).
    t0 : `float`
        Start time [s].
    limits : `AxisLimits`
        Velocity and acceleration limits.
    target : `float`
        Target position [deg]; the caller checks it against the position limits.
    velocity, acceleration : `float`
        Requested cruise speed [deg/s] and acceleration [deg/s²]; 0 means the
        limit, larger values are capped by the limit, the sign is ignored.

    Returns
    -------
    path : `Path`
        Arrives at rest at ``target`` at ``path.arrival_time``.
    """
    vmax = _cap(velocity, limits.max_velocity)
    amax = _cap(acceleration, limits.max_acceleration)
    phases = _profile(target - start.position, start.velocity, vmax, vmax, amax)
    segments = _build(t0, start, phases, 0.0, lambda _t: target)
    return Path(segments, arrival_time=segments[-1].start)


def plan_stop(
    start: Kinematics, t0: float, limits: AxisLimits, *, acceleration: float = 0.0
) -> Path:
    """Plan braking to a halt with constant deceleration.

    Parameters
    ----------
    start : `Kinematics`
        State at ``t0``.
    t0 : `float`
        Start time [s].
    limits : `AxisLimits`
        The acceleration limit.
    acceleration : `float`
        Deceleration magnitude [deg/s²]; 0 means the limit.
    """
    amax = _cap(acceleration, limits.max_acceleration)
    v0 = start.velocity
    if v0 == 0:
        return plan_hold(start.position, t0)
    halt = start.position + v0 * abs(v0) / (2 * amax)
    phases = [(abs(v0) / amax, -math.copysign(amax, v0))]
    segments = _build(t0, start, phases, 0.0, lambda _t: halt)
    return Path(segments, arrival_time=segments[-1].start)


def plan_track(
    start: Kinematics,
    t0: float,
    limits: AxisLimits,
    *,
    position: float,
    velocity: float,
    tai: float,
) -> Path:
    """Plan following the moving target ``position + velocity * (t - tai)``.

    Parameters
    ----------
    start : `Kinematics`
        State at ``t0``.
    t0 : `float`
        Start time [s].
    limits : `AxisLimits`
        All limits: the axis meets the target within the velocity and
        acceleration limits and brakes to a halt at a position limit rather than
        follow the target beyond it.
    position : `float`
        Target position at ``tai`` [deg].
    velocity : `float`
        Target velocity [deg/s]; the caller keeps ``|velocity| < max_velocity``
        (a target at the velocity limit can never be caught up).
    tai : `float`
        Time of the target [s]; may be before or after ``t0``.

    Returns
    -------
    path : `Path`
        Matches the target's position and velocity from ``path.arrival_time``;
        ``path.limit_time`` is when it starts braking at a position limit, if ever.
    """
    vmax = limits.max_velocity
    amax = limits.max_acceleration
    vt = max(-vmax * (1 - 1e-9), min(vmax * (1 - 1e-9), velocity))

    def target(t: float) -> float:
        return position + vt * (t - tai)

    phases = _profile(target(t0) - start.position, start.velocity - vt, vmax - vt, vmax + vt, amax)
    segments = _build(t0, start, phases, vt, target)
    arrival = segments[-1].start
    limit_time = None
    hold = segments[-1]
    limit = limits.max_position if vt > 0 else limits.min_position
    brake_at = limit - vt * abs(vt) / (2 * amax)
    if vt != 0 and math.isfinite(guard := (brake_at - hold.position) / vt):
        limit_time = arrival + max(0.0, guard)
        brake_from = hold.at(limit_time)
        segments[-1:] = _build(
            limit_time,
            brake_from,
            [(abs(vt) / amax, -math.copysign(amax, vt))],
            0.0,
            lambda _t: brake_from.position + vt * abs(vt) / (2 * amax),
        )
        if limit_time > arrival:
            segments.insert(-2, hold)
    return Path(segments, arrival_time=arrival, limits=limits, limit_time=limit_time)
