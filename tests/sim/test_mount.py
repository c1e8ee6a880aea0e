"""The whole mount: routing, interlocks, ENABLE/DISABLE, BOTH_AXES_* (no loop)."""

from __future__ import annotations

import math

import pytest

from mountcomm.config import Config
from mountcomm.protocol import commands
from mountcomm.protocol.enums import CommandCode
from mountcomm.sim.devices import (
    AlarmChanged,
    Failed,
    Finished,
    InPositionChanged,
    Mount,
    RejectCode,
    Superseded,
    Timings,
)
from mountcomm.sim.motion import AxisLimits

from .sim_helpers import Bench


def powered_mount(**kwargs: object) -> Bench:
    bench = Bench(Mount(**kwargs))  # type: ignore[arg-type]
    bench.run(commands.MainPowerSupplyPower(on=True))
    for power, drives in (
        (commands.AzimuthAxisPower, commands.AzimuthAxisDriveEnable),
        (commands.ElevationAxisPower, commands.ElevationAxisDriveEnable),
        (commands.CameraCableWrapPower, commands.CameraCableWrapDriveEnable),
    ):
        bench.run(power(on=True))
        bench.run(drives(drive=-1, on=True))
    return bench


def test_routing_and_unsupported() -> None:
    mount = Mount()
    assert mount.supports(CommandCode.ELEVATION_AXIS_MOVE)
    assert mount.supports(CommandCode.BOTH_AXES_TRACK)
    assert not mount.supports(CommandCode.ASK_FOR_COMMAND)
    bench = Bench(mount)
    bench.reject(commands.AskForCommand(), RejectCode.UNSUPPORTED, "not supported")
    assert mount.device("mirror_covers") is mount.mirror_covers
    with pytest.raises(ValueError, match="no device"):
        mount.device("_level")
    with pytest.raises(ValueError, match="no device"):
        mount.device("enabled")
    assert [s["topicID"] for s in mount.telemetry(0.0)] == [6, 15, 8, 5, 14]


def test_limits_come_from_config_and_overrides() -> None:
    config = Config(
        sim_limits={
            **Config().sim_limits,
            "elevation": {"min": 10.0, "max": 80.0, "max_velocity": 1.0, "max_acceleration": 1.0},
        }
    )
    mount = Mount(config, limits={"azimuth": AxisLimits(-10, 10, 1, 1)})
    assert mount.elevation.limits == AxisLimits(10, 80, 1, 1)
    assert mount.azimuth.limits == AxisLimits(-10, 10, 1, 1)
    assert mount.camera_cable_wrap.limits == AxisLimits(-90, 90, 3.5, 1.0)
    assert mount.elevation.state(0).position == 80.0  # home, clipped


def test_axes_need_main_power() -> None:
    bench = Bench(Mount())
    bench.reject(commands.ElevationAxisPower(on=True), RejectCode.INTERLOCK, "main power")
    bench.reject(commands.MirrorCoversPower(on=True), RejectCode.INTERLOCK, "main power")
    bench.run(commands.ElevationAxisPower(on=False))  # off is always fine
    bench.run(commands.TopEndChillerPower(on=True))  # the chiller has its own supply
    bench = powered_mount()
    mount = bench.device
    move = bench.accept(commands.AzimuthAxisMove(position=90.0))
    bench.wait(1.0)
    bench.run(commands.MainPowerSupplyPower(on=False))
    assert bench.ends(move.op_id) == [Failed(move.op_id, bench.now, "Main power supply is off")]
    assert not any(axis.powered for axis in mount.axes)


def test_main_power_alarm_cuts_power() -> None:
    bench = powered_mount()
    mount = bench.device
    bench.run(commands.MirrorCoversPower(on=True))
    mount.inject_alarm("main_power_supply", bench.now, "phase lost")
    bench.wait(0)
    assert not mount.elevation.powered
    assert mount.mirror_covers.powered == [False] * 4
    assert mount.main_power_supply.alarm is not None
    bench.reject(commands.MainPowerSupplyPower(on=True), RejectCode.ALARM)


def test_enable_disable() -> None:
    bench = Bench(Mount(enabled=False))
    bench.reject(commands.MainPowerSupplyPower(on=True), RejectCode.DISABLED, "send ENABLE")
    bench.run(commands.Disable())
    bench.run(commands.Enable())
    bench = powered_mount()
    move = bench.accept(commands.ElevationAxisMove(position=30.0))
    bench.wait(1.0)
    bench.run(commands.Disable())
    assert bench.ends(move.op_id) == [Failed(move.op_id, bench.now, "Mount disabled")]
    bench.reject(commands.ElevationAxisMove(position=30.0), RejectCode.DISABLED)
    bench.run(commands.Enable())
    bench.wait(2.0)
    bench.run(commands.ElevationAxisMove(position=30.0))


def test_interlock_and_safety_reset() -> None:
    bench = powered_mount()
    mount = bench.device
    bench.run(commands.OilSupplySystemPower(on=True))
    move = bench.accept(commands.ElevationAxisMove(position=30.0))
    mount.trip_interlock(bench.now, "e-stop pressed")
    bench.wait(0)
    assert isinstance(bench.ends(move.op_id)[0], Failed)
    alarm = bench.of_type(AlarmChanged)[-1]
    assert alarm.code == 1801 and alarm.latched and "e-stop" in alarm.text
    assert not mount.main_power_supply.powered and not mount.oil_supply_system.on["power"]
    bench.reject(commands.MainPowerSupplyPower(on=True), RejectCode.INTERLOCK, "SAFETY_RESET")
    bench.reject(commands.Enable(), RejectCode.INTERLOCK)
    bench.run(commands.SafetyReset())
    assert not mount.interlock
    assert not bench.of_type(AlarmChanged)[-1].active
    bench.run(commands.SafetyReset())  # harmless when not tripped
    bench.run(commands.MainPowerSupplyPower(on=True))


def test_both_axes_move_is_one_operation() -> None:
    bench = powered_mount()
    mount = bench.device
    bench.reject(
        commands.BothAxesMove(azimuth=10.0, elevation=95.0), RejectCode.OUT_OF_LIMITS, "Elevation"
    )
    bench.reject(
        commands.BothAxesMove(azimuth=300.0, elevation=45.0), RejectCode.OUT_OF_LIMITS, "Azimuth"
    )
    assert mount.next_event_time() is None  # nothing started
    both = bench.accept(commands.BothAxesMove(azimuth=-7.0, elevation=83.0, negate_azimuth=1))
    az_time = 2 * (7.0 / 7.0) ** 0.5
    el_time = 2 * (3.5 / 3.5) ** 0.5
    assert both.duration_s == pytest.approx(max(az_time, el_time))
    bench.wait_until(both.done_at)
    assert [e for e in bench.events if isinstance(e, Finished)][-1] == Finished(
        both.op_id, both.done_at
    )
    assert len(bench.ends(both.op_id)) == 1
    assert mount.azimuth.state(bench.now).position == pytest.approx(7.0)
    assert {e.axis for e in bench.of_type(InPositionChanged)} == {"azimuth", "elevation"}
    # A newer single-axis command supersedes the pair; the other half goes on silently.
    both = bench.accept(commands.BothAxesMove(azimuth=20.0, elevation=60.0))
    bench.wait(0.5)
    bench.accept(commands.ElevationAxisMove(position=70.0))
    assert bench.ends(both.op_id) == [Superseded(both.op_id, bench.now)]
    bench.wait(30.0)
    assert len(bench.ends(both.op_id)) == 1
    assert mount.azimuth.state(bench.now).position == pytest.approx(20.0)


def test_both_axes_track_and_stop() -> None:
    # One target extrapolated for a minute: no tracking timeout here.
    bench = powered_mount(timings=Timings(track_timeout_s=math.inf))
    track = commands.BothAxesTrack(
        azimuth=10.0, elevation=60.0, azimuth_velocity=0.1, elevation_velocity=0.0, tai=bench.now
    )
    bench.reject(track, RejectCode.TRACKING_NOT_ENABLED, "Azimuth")
    bench.run(commands.AzimuthAxisEnableTracking(on=True))
    bench.reject(track, RejectCode.TRACKING_NOT_ENABLED, "Elevation")
    bench.run(commands.ElevationAxisEnableTracking(on=True))
    accepted = bench.accept(track)
    assert accepted.ack_only
    bench.wait(60.0)
    mount = bench.device
    assert mount.azimuth.state(bench.now).position == pytest.approx(10.0 + 0.1 * 60.0)
    assert mount.elevation.state(bench.now).position == pytest.approx(60.0)
    stop = bench.accept(commands.BothAxesStop())
    assert stop.duration_s == pytest.approx(0.1 / 7.0)
    bench.wait_until(stop.done_at)
    bench.assert_finished(stop)
    assert mount.azimuth.state(bench.now).velocity == 0


def test_fast_timings_power_up_quickly() -> None:
    bench = powered_mount(timings=Timings.fast())
    assert bench.now < 1000.1
    assert Timings.fast(0.5).axis_power_s == Timings().axis_power_s / 2
