"""Axis state machine: every command, every rejection, supersession, in-position (no loop)."""

from __future__ import annotations

import pytest

from mountcomm.protocol import commands
from mountcomm.sim.devices import (
    AZIMUTH,
    CAMERA_CABLE_WRAP,
    ELEVATION,
    AlarmChanged,
    Axis,
    Failed,
    Finished,
    InPositionChanged,
    RejectCode,
    Severity,
    Superseded,
    Timings,
)
from mountcomm.sim.motion import AxisLimits, plan_move

from .sim_helpers import EL_LIMITS, Bench


def elevation() -> Bench:
    return Bench(Axis(ELEVATION, EL_LIMITS, Timings()))


def ready() -> Bench:
    bench = elevation()
    bench.run(commands.ElevationAxisPower(on=True))
    bench.run(commands.ElevationAxisDriveEnable(on=True))
    return bench


def in_position_events(bench: Bench) -> list[tuple[bool, float]]:
    return [(e.in_position, e.at) for e in bench.of_type(InPositionChanged)]


def test_power_up_sequence_and_rejections() -> None:
    bench = elevation()
    axis = bench.device
    bench.reject(commands.ElevationAxisMove(position=45), RejectCode.OFF, "is off")
    bench.reject(commands.ElevationAxisDriveEnable(on=True), RejectCode.OFF)
    bench.reject(commands.ElevationAxisEnableTracking(on=True), RejectCode.OFF)
    bench.reject(commands.ElevationAxisDriveReset(), RejectCode.OFF)
    power = bench.accept(commands.ElevationAxisPower(on=True))
    assert power.duration_s == Timings().axis_power_s
    assert not power.ack_only
    bench.wait(power.duration_s / 2)
    assert not axis.powered
    bench.reject(commands.ElevationAxisMove(position=45), RejectCode.OFF)
    bench.wait_until(power.done_at)
    assert axis.powered
    bench.assert_finished(power)
    bench.reject(commands.ElevationAxisMove(position=45), RejectCode.DRIVE_DISABLED, "drives")
    bench.reject(commands.ElevationAxisDriveEnable(drive=12, on=True), RejectCode.BAD_ARGUMENT)
    bench.run(commands.ElevationAxisDriveEnable(drive=3, on=True))
    bench.reject(commands.ElevationAxisMove(position=45), RejectCode.DRIVE_DISABLED)
    bench.run(commands.ElevationAxisDriveEnable(on=True))
    assert all(axis.drives_enabled)
    bench.run(commands.ElevationAxisDriveReset(drive=0))
    bench.reject(commands.ElevationAxisDriveReset(drive=-2), RejectCode.BAD_ARGUMENT)
    # Already on: instant.
    assert bench.run(commands.ElevationAxisPower(on=True)).duration_s == 0
    assert bench.run(commands.ElevationAxisDriveEnable(on=True)).duration_s == 0


def test_move_arrives_when_predicted_and_enters_position() -> None:
    bench = ready()
    axis = bench.device
    start = bench.now
    bench.reject(commands.ElevationAxisMove(position=90), RejectCode.OUT_OF_LIMITS, "outside")
    bench.reject(commands.ElevationAxisMove(position=float("nan")), RejectCode.OUT_OF_LIMITS)
    move = bench.accept(commands.ElevationAxisMove(position=40.0))
    expected = plan_move(axis.state(start), start, EL_LIMITS, 40.0)
    assert move.done_at == pytest.approx(expected.arrival_time)
    assert move.duration_s == pytest.approx(46.5 / 3.5 + 1.0)
    assert axis.next_event_time() == pytest.approx(move.done_at)
    bench.wait(move.duration_s / 2)
    assert not move.is_done(bench.now)
    assert axis.state(bench.now).velocity == pytest.approx(-3.5)
    assert bench.ends(move.op_id) == []
    bench.wait_until(move.done_at)
    assert bench.ends(move.op_id) == [Finished(move.op_id, move.done_at)]
    assert axis.state(bench.now).position == pytest.approx(40.0)
    assert in_position_events(bench) == [(True, move.done_at)]
    # A tiny move keeps the axis in position; a real one leaves and re-enters.
    bench.run(commands.ElevationAxisMove(position=40.0))
    assert len(in_position_events(bench)) == 1
    again = bench.run(commands.ElevationAxisMove(position=41.0, velocity=1.0))
    assert in_position_events(bench)[1:] == [
        (False, again.done_at - again.duration_s),
        (True, again.done_at),
    ]
    home = bench.run(commands.ElevationAxisHome())
    assert axis.state(home.done_at).position == 86.5


def test_newer_move_supersedes_older() -> None:
    bench = ready()
    first = bench.accept(commands.ElevationAxisMove(position=30.0))
    bench.wait(2.0)
    second = bench.accept(commands.ElevationAxisMove(position=60.0))
    assert bench.ends(first.op_id) == [Superseded(first.op_id, bench.now)]
    bench.wait_until(second.done_at)
    bench.assert_finished(second)
    assert bench.device.state(bench.now).position == pytest.approx(60.0)
    assert in_position_events(bench) == [(True, second.done_at)]


def test_stop_supersedes_move_and_brakes() -> None:
    bench = ready()
    move = bench.accept(commands.ElevationAxisMove(position=30.0))
    bench.wait(3.0)
    stop = bench.accept(commands.ElevationAxisStop())
    assert bench.ends(move.op_id) == [Superseded(move.op_id, bench.now)]
    assert stop.duration_s == pytest.approx(1.0)  # 3.5 deg/s at 3.5 deg/s²
    bench.wait_until(stop.done_at)
    bench.assert_finished(stop)
    state = bench.device.state(bench.now)
    assert state.velocity == 0
    assert state.position > 30.0
    # Stop when standing still, or when off: accepted, instant.
    assert bench.run(commands.ElevationAxisStop()).duration_s == 0
    off = elevation()
    assert off.run(commands.ElevationAxisStop()).duration_s == 0


def test_tracking_rules_and_following() -> None:
    bench = ready()
    axis = bench.device
    track = commands.ElevationAxisTrack(position=50.0, velocity=0.01, tai=bench.now)
    bench.reject(track, RejectCode.TRACKING_NOT_ENABLED, "tracking is not enabled")
    move = bench.accept(commands.ElevationAxisMove(position=30.0))
    bench.run(commands.ElevationAxisEnableTracking(on=True))
    assert axis.tracking_enabled
    bench.reject(commands.ElevationAxisMove(position=40.0), RejectCode.TRACKING_ENABLED)
    bench.reject(commands.ElevationAxisHome(), RejectCode.TRACKING_ENABLED)
    bench.reject(
        commands.ElevationAxisTrack(position=10.0, velocity=0, tai=bench.now),
        RejectCode.OUT_OF_LIMITS,
    )
    bench.reject(
        commands.ElevationAxisTrack(position=50.0, velocity=4.0, tai=bench.now),
        RejectCode.OUT_OF_LIMITS,
        "velocity",
    )
    accepted = bench.accept(
        commands.ElevationAxisTrack(position=50.0, velocity=0.01, tai=bench.now)
    )
    assert accepted.ack_only and accepted.op_id is None and accepted.duration_s == 0
    # The track replaced the move still in progress.
    assert bench.ends(move.op_id) == [Superseded(move.op_id, bench.now)]
    t0 = bench.now
    for _ in range(400):  # 20 s of targets at 20 Hz
        bench.wait(0.05)
        bench.accept(
            commands.ElevationAxisTrack(
                position=50.0 + 0.01 * (bench.now - t0), velocity=0.01, tai=bench.now
            )
        )
    state = axis.state(bench.now)
    assert state.position == pytest.approx(50.0 + 0.01 * (bench.now - t0), abs=1e-6)
    assert state.velocity == pytest.approx(0.01)
    events = in_position_events(bench)
    assert events[-1][0] is True
    assert len(events) == 1  # entered once, stayed in position while following
    assert axis.telemetry(bench.now)["velocitySet"] == 0.01
    # Disabling tracking brakes to a halt and allows moves again.
    bench.run(commands.ElevationAxisEnableTracking(on=False))
    bench.wait(1.0)
    assert axis.state(bench.now).velocity == 0
    bench.run(commands.ElevationAxisMove(position=45.0))


def test_track_past_limit_warns_and_leaves_position() -> None:
    bench = ready()
    bench.run(commands.ElevationAxisEnableTracking(on=True))
    bench.accept(commands.ElevationAxisTrack(position=85.0, velocity=0.5, tai=bench.now))
    bench.wait(10.0)
    warnings = bench.of_type(AlarmChanged)
    assert len(warnings) == 1
    assert warnings[0].severity is Severity.WARNING
    assert not warnings[0].latched
    assert "limit" in warnings[0].text
    assert [e[0] for e in in_position_events(bench)] == [True, False]
    assert bench.device.state(bench.now).position == pytest.approx(86.5)
    assert bench.device.alarm is None  # a warning does not block commands


def test_alarm_fails_motion_and_blocks_until_reset() -> None:
    bench = ready()
    axis = bench.device
    move = bench.accept(commands.ElevationAxisMove(position=30.0))
    bench.wait(1.0)
    axis.inject_alarm(bench.now, "drive overcurrent")
    bench.wait(0.0)
    assert bench.ends(move.op_id) == [
        Failed(move.op_id, bench.now, "Elevation axis alarm: drive overcurrent")
    ]
    alarm = bench.of_type(AlarmChanged)[-1]
    assert (alarm.active, alarm.latched, alarm.severity) == (True, True, Severity.ERROR)
    assert alarm.code == 401
    bench.reject(commands.ElevationAxisMove(position=40.0), RejectCode.ALARM, "overcurrent")
    bench.reject(commands.ElevationAxisEnableTracking(on=True), RejectCode.ALARM)
    bench.run(commands.ElevationAxisResetAlarm())
    cleared = bench.of_type(AlarmChanged)[-1]
    assert (cleared.active, cleared.latched) == (False, False)
    bench.wait(2.0)
    bench.run(commands.ElevationAxisMove(position=40.0))


def test_power_off_and_drive_disable_fail_motion() -> None:
    bench = ready()
    axis = bench.device
    move = bench.accept(commands.ElevationAxisMove(position=30.0))
    bench.wait(1.0)
    bench.run(commands.ElevationAxisDriveEnable(drive=2, on=False))
    assert bench.ends(move.op_id) == [
        Failed(move.op_id, bench.now, "Elevation axis: drives disabled")
    ]
    bench.run(commands.ElevationAxisDriveEnable(on=True))
    bench.wait(2.0)
    move = bench.accept(commands.ElevationAxisMove(position=60.0))
    bench.wait(1.0)
    bench.run(commands.ElevationAxisPower(on=False))
    assert bench.ends(move.op_id) == [Failed(move.op_id, bench.now, "Elevation axis powered off")]
    assert not axis.powered and not any(axis.drives_enabled) and not axis.tracking_enabled
    # Power off during power-up supersedes the power-up.
    power = bench.accept(commands.ElevationAxisPower(on=True))
    bench.run(commands.ElevationAxisPower(on=False))
    assert bench.ends(power.op_id) == [Superseded(power.op_id, bench.now)]


def test_camera_cable_wrap_and_azimuth_specs() -> None:
    ccw = Bench(Axis(CAMERA_CABLE_WRAP, AxisLimits(-90, 90, 3.5, 1.0)))
    assert ccw.device.state(0).position == 0.0
    ccw.reject(commands.AzimuthAxisHome(), RejectCode.UNSUPPORTED, "does not support")
    ccw.run(commands.CameraCableWrapPower(on=True))
    ccw.reject(commands.CameraCableWrapDriveEnable(drive=2, on=True), RejectCode.BAD_ARGUMENT)
    ccw.run(commands.CameraCableWrapDriveEnable(drive=-1, on=True))
    move = ccw.run(commands.CameraCableWrapMove(position=10.0))
    assert move.duration_s == pytest.approx(2 * (10 / 1.0) ** 0.5)  # triangle at 1 deg/s²
    az = Bench(Axis(AZIMUTH, AxisLimits(-270, 270, 7, 7), position=100.0))
    az.run(commands.AzimuthAxisPower(on=True))
    az.run(commands.AzimuthAxisDriveEnable(on=True))
    az.run(commands.AzimuthAxisHome())
    assert az.device.state(az.now).position == 0.0


def test_telemetry_sample() -> None:
    bench = ready()
    move = bench.accept(commands.ElevationAxisMove(position=30.0))
    sample = bench.device.telemetry(bench.now + 2.0)
    assert sample["topicID"] == 15
    assert sample["timestamp"] == bench.now + 2.0
    assert sample["angleSet"] == 30.0
    assert sample["velocitySet"] == 0.0
    assert sample["velocityActual"] == pytest.approx(-3.5)
    assert sample["accelerationActual"] == 0.0
    assert sample["angleActual"] == pytest.approx(86.5 - 3.5 / 2 - 3.5)
    assert sample["torqueActual"] == 0.0
    accel = bench.device.telemetry(bench.now + 0.5)
    assert accel["torqueActual"] < 0
    assert move.op_id is not None
