"""Checks of a command's numbers before a device acts on it (pure).

Every numeric field must be finite. A motion profile's maxima (velocity,
acceleration, jerk) must lie in ``(0, limit]``, 0 meaning the axis default; a
planned duration must be finite and at most `MAX_DURATION_S`. Each check
returns a `Rejected` with a sentence that names the field and the value, or
`None`.
"""

from __future__ import annotations

__all__ = ["MAX_DURATION_S", "check_duration", "check_finite", "check_profile"]

import math

from ...protocol.commands import Command
from ..motion import AxisLimits
from .base import RejectCode, Rejected

MAX_DURATION_S = 86_400.0
"""Longest operation the simulator accepts [s] (one day): a longer plan is a bad argument."""


def check_finite(command: Command) -> Rejected | None:
    """Reject a command with a NaN or infinite number in any field."""
    for info in command.field_infos:
        value = getattr(command, info.name)
        if isinstance(value, float) and not math.isfinite(value):
            return Rejected(
                RejectCode.BAD_ARGUMENT,
                f"{command.command_code.name}: {info.name} must be a finite number, got {value}",
            )
    return None


def check_profile(
    name: str, limits: AxisLimits, velocity: float, acceleration: float, jerk: float = 0.0
) -> Rejected | None:
    """Reject motion maxima outside ``(0, limit]`` (0 means the default).

    Parameters
    ----------
    name : `str`
        The axis, for the explanation.
    limits : `AxisLimits`
    velocity, acceleration : `float`
        Requested maxima [deg/s], [deg/s²].
    jerk : `float`
        Requested jerk [deg/s³]; not modelled (the profiles are trapezoidal),
        so it has no upper limit, but it must still be finite and not negative.
    """
    bounds = (
        ("velocity", velocity, limits.max_velocity, "deg/s"),
        ("acceleration", acceleration, limits.max_acceleration, "deg/s²"),
        ("jerk", jerk, math.inf, "deg/s³"),
    )
    for field, value, limit, unit in bounds:
        if not (math.isfinite(value) and (value == 0 or 0 < value <= limit)):
            allowed = f"(0, {limit}] {unit}" if math.isfinite(limit) else f"> 0 {unit}"
            return Rejected(
                RejectCode.OUT_OF_LIMITS if value > 0 else RejectCode.BAD_ARGUMENT,
                f"{name}: {field} {value} must be in {allowed}, or 0 for the default",
            )
    return None


def check_duration(name: str, duration_s: float) -> Rejected | None:
    """Reject a plan that would take forever (or longer than `MAX_DURATION_S`)."""
    if math.isfinite(duration_s) and duration_s <= MAX_DURATION_S:
        return None
    return Rejected(
        RejectCode.BAD_ARGUMENT,
        f"{name}: the move would take {duration_s:.3g} s (more than {MAX_DURATION_S:g} s); "
        "use a larger velocity or acceleration",
    )
