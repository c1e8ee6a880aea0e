"""The simulator's clock: TAI, optionally running faster than the wall clock.

`tai_now` is the real TAI time. A `SimClock` starts at the real TAI time and
then runs ``time_scale`` times as fast as the wall clock, so that tests can
play long motions in a fraction of the wall time. With ``time_scale=1`` (the
default) it is `tai_now`.
"""

from __future__ import annotations

__all__ = ["TAI_MINUS_UTC", "SimClock", "tai_now"]

import math
import time
from collections.abc import Callable

TAI_MINUS_UTC = 37.0
"""TAI - UTC [s] (leap seconds, constant since 2017)."""


def tai_now() -> float:
    """The current time as TAI unix seconds."""
    return time.time() + TAI_MINUS_UTC


class SimClock:
    """Simulated TAI time, ``time_scale`` times faster than the wall clock.

    Parameters
    ----------
    time_scale : `float`
        Simulated seconds per wall second; finite and positive. 1: real time.
    wall : callable, optional
        The wall clock (UTC unix seconds); `time.time` by default.

    Raises
    ------
    ValueError
        If ``time_scale`` is not finite and positive.
    """

    def __init__(self, time_scale: float = 1.0, wall: Callable[[], float] = time.time) -> None:
        if not (
            isinstance(time_scale, int | float) and math.isfinite(time_scale) and time_scale > 0
        ):
            raise ValueError(f"time_scale must be a finite number > 0, got {time_scale!r}")
        self.time_scale = float(time_scale)
        self._wall = wall
        self._wall0 = wall()

    def now(self) -> float:
        """The simulated time [TAI unix s]."""
        wall = self._wall()
        return self._wall0 + (wall - self._wall0) * self.time_scale + TAI_MINUS_UTC

    def wall_seconds(self, sim_seconds: float) -> float:
        """How long ``sim_seconds`` of simulated time take on the wall clock [s]."""
        return sim_seconds / self.time_scale

    def timeout_ms(self, duration_s: float) -> int:
        """An ACK's ``timeout_ms`` for an operation of ``duration_s`` simulated seconds.

        The wall time the client will wait, rounded up to whole milliseconds.
        """
        return math.ceil(self.wall_seconds(duration_s) * 1000)
