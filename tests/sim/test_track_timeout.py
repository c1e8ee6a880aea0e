"""Tracking timeout: an axis whose tracking targets stop brakes and warns (no loop)."""

from __future__ import annotations

import math

import pytest

from mountcomm.protocol import commands
from mountcomm.sim.devices import (
    ELEVATION,
    TRACK_TIMEOUT_CONDITION,
    AlarmChanged,
    Axis,
    InPositionChanged,
    Mount,
    Severity,
    Timings,
)

from .sim_helpers import EL_LIMITS, Bench

TIMEOUT = Timings().track_timeout_s


def tracking(timings: Timings | None = None, velocity: float = 0.1) -> Bench:
    """A powered elevation axis in tracking mode, in position on a target near 60°."""
    bench = Bench(Axis(ELEVATION, EL_LIMITS, timings or Timings(), position=60.0))
    bench.run(commands.ElevationAxisPower(on=True))
    bench.run(commands.ElevationAxisDriveEnable(on=True))
    bench.run(commands.ElevationAxisEnableTracking(on=True))
    start = bench.now
    bench.accept(target(bench, 60.0, velocity))
    bench.wait(0.2)  # long enough to meet the target, short of any timeout used here
    bench.accept(target(bench, 60.0 + velocity * (bench.now - start), velocity))
    assert bench.device.in_position
    bench.events.clear()
    return bench


def target(bench: Bench, position: float, velocity: float = 0.1) -> commands.ElevationAxisTrack:
    return commands.ElevationAxisTrack(position=position, velocity=velocity, tai=bench.now)


def warnings(bench: Bench) -> list[AlarmChanged]:
    return bench.of_type(AlarmChanged)


def in_position(bench: Bench) -> list[tuple[bool, float]]:
    return [(e.in_position, e.at) for e in bench.of_type(InPositionChanged)]


def test_targets_in_time_keep_tracking() -> None:
    bench = tracking()
    for _ in range(3 * int(TIMEOUT)):  # a target every second, well past one timeout
        bench.wait(1.0)
        bench.accept(target(bench, bench.device.goal(bench.now).position))
    assert warnings(bench) == [] and in_position(bench) == []
    assert bench.device.state(bench.now).velocity == pytest.approx(0.1)


def test_stale_target_brakes_warns_and_leaves_position() -> None:
    bench = tracking()
    axis = bench.device
    last = bench.now
    bench.wait(TIMEOUT - 1e-3)
    assert warnings(bench) == [] and axis.in_position
    bench.wait(1.0)
    timed_out = last + TIMEOUT
    assert in_position(bench) == [(False, timed_out)]
    [warning] = warnings(bench)
    assert warning.severity is Severity.WARNING
    assert warning.active and not warning.latched
    assert warning.code == int(ELEVATION.subsystem) + TRACK_TIMEOUT_CONDITION == 403
    assert warning.at == timed_out
    assert "tracking targets stopped" in warning.text
    # It brakes at the acceleration limit from the target's velocity, then holds.
    state = axis.state(bench.now)
    assert state.velocity == 0
    braking = 0.1**2 / (2 * EL_LIMITS.max_acceleration)
    assert state.position == pytest.approx(axis.state(timed_out).position + braking)
    assert axis.goal(bench.now).velocity == 0
    # A warning blocks nothing; tracking stays enabled.
    assert axis.alarm is None and axis.tracking_enabled
    bench.wait(10 * TIMEOUT)
    assert len(warnings(bench)) == 1  # it halts once, it does not repeat


def test_new_target_resumes_and_clears_the_warning() -> None:
    bench = tracking()
    bench.wait(TIMEOUT + 1.0)
    bench.events.clear()
    bench.accept(target(bench, 62.0))
    [cleared] = warnings(bench)
    assert not cleared.active and cleared.code == 403 and cleared.at == bench.now
    bench.wait(3.0)
    bench.accept(target(bench, 62.0 + 0.3))
    assert [entered for entered, _ in in_position(bench)] == [True]
    assert bench.device.in_position
    # And the timeout is armed again, from the newest target.
    bench.events.clear()
    bench.wait(TIMEOUT + 1.0)
    assert [w.active for w in warnings(bench)] == [True]


@pytest.mark.parametrize(
    "leave",
    [
        commands.ElevationAxisStop(),
        commands.ElevationAxisEnableTracking(on=False),
        commands.ElevationAxisPower(on=False),
        commands.ElevationAxisDriveEnable(on=False),
    ],
    ids=["stop", "tracking_off", "power_off", "drives_off"],
)
def test_leaving_tracking_disarms_the_timeout(leave: commands.Command) -> None:
    bench = tracking()
    bench.accept(leave)
    bench.wait(3 * TIMEOUT)
    assert warnings(bench) == []


def test_error_alarm_disarms_the_timeout() -> None:
    bench = tracking()
    bench.device.inject_alarm(bench.now, "encoder fault")
    bench.wait(3 * TIMEOUT)
    assert [w.severity for w in warnings(bench)] == [Severity.ERROR]


def test_timeout_is_a_timing() -> None:
    assert Timings.fast(0.01).track_timeout_s == TIMEOUT  # a tolerance, not scaled
    short = tracking(Timings(track_timeout_s=0.5))
    short.wait(0.6)
    assert len(warnings(short)) == 1
    never = tracking(Timings(track_timeout_s=math.inf), velocity=0.0)
    assert never.device.next_event_time() is None
    never.wait(1e6)
    assert warnings(never) == [] and never.device.in_position


def test_both_axes_track_times_out_on_both_axes() -> None:
    bench = Bench(Mount())
    bench.run(commands.MainPowerSupplyPower(on=True))
    for cls in ("AzimuthAxis", "ElevationAxis"):
        bench.run(getattr(commands, f"{cls}Power")(on=True))
        bench.run(getattr(commands, f"{cls}DriveEnable")(on=True))
        bench.run(getattr(commands, f"{cls}EnableTracking")(on=True))
    bench.accept(
        commands.BothAxesTrack(
            azimuth=0.0,
            elevation=86.5,
            azimuth_velocity=0.0,
            elevation_velocity=0.0,
            tai=bench.now,
        )
    )
    bench.wait(TIMEOUT + 1.0)
    assert sorted(w.code for w in warnings(bench)) == [103, 403]
    assert not bench.device.azimuth.in_position and not bench.device.elevation.in_position
