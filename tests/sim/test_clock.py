"""The simulated clock (pure: the wall clock is an argument)."""

from __future__ import annotations

import math

import pytest

from mountcomm.sim.clock import TAI_MINUS_UTC, SimClock


class FakeWall:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


def test_real_time_is_tai() -> None:
    wall = FakeWall()
    clock = SimClock(wall=wall)
    assert clock.now() == wall.t + TAI_MINUS_UTC
    wall.t += 2.5
    assert clock.now() == wall.t + TAI_MINUS_UTC
    assert clock.timeout_ms(1.0) == 1000


def test_scaled_time_runs_faster_from_the_start() -> None:
    wall = FakeWall()
    start = wall.t
    clock = SimClock(100.0, wall=wall)
    assert clock.now() == start + TAI_MINUS_UTC
    wall.t += 0.5
    assert clock.now() == pytest.approx(start + 50.0 + TAI_MINUS_UTC)
    assert clock.wall_seconds(17.0) == pytest.approx(0.17)
    assert clock.timeout_ms(16.9) == 169
    assert clock.timeout_ms(0.0) == 0


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, "fast"])
def test_bad_scales_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        SimClock(bad)  # type: ignore[arg-type]
