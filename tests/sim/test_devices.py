"""Main power supply, oil supply, mirror covers and locks, chiller (no loop)."""

from __future__ import annotations

import pytest

from mountcomm.protocol import commands
from mountcomm.sim.devices import (
    AlarmChanged,
    Failed,
    MainPowerSupply,
    MirrorCoverLocks,
    MirrorCovers,
    OilSupplySystem,
    RejectCode,
    Severity,
    Superseded,
    Timings,
    TopEndChiller,
)

from .sim_helpers import Bench


def test_main_power_supply() -> None:
    bench = Bench(MainPowerSupply())
    mps = bench.device
    power = bench.accept(commands.MainPowerSupplyPower(on=True))
    assert power.duration_s == Timings().main_power_s
    assert not mps.powered
    bench.wait_until(power.done_at)
    assert mps.powered
    bench.assert_finished(power)
    assert bench.run(commands.MainPowerSupplyPower(on=True)).duration_s == 0
    bench.run(commands.MainPowerSupplyPower(on=False))
    assert not mps.powered
    power = bench.accept(commands.MainPowerSupplyPower(on=True))
    mps.inject_alarm(bench.now, "phase lost")
    mps.power_off(bench.now, "phase lost")
    bench.wait(0)
    assert bench.ends(power.op_id) == [Failed(power.op_id, bench.now, "phase lost")]
    bench.reject(commands.MainPowerSupplyPower(on=True), RejectCode.ALARM, "phase lost")
    bench.run(commands.MainPowerSupplyResetAlarm())
    bench.run(commands.MainPowerSupplyPower(on=True))
    bench.reject(commands.ElevationAxisPower(on=True), RejectCode.UNSUPPORTED)


def test_oil_supply_stages_in_order() -> None:
    bench = Bench(OilSupplySystem())
    oss = bench.device
    bench.reject(commands.OilSupplySystemPowerCooling(on=True), RejectCode.OFF, "power must be on")
    bench.run(commands.OilSupplySystemPower(on=True))
    bench.reject(commands.OilSupplySystemPowerOil(on=True), RejectCode.INTERLOCK, "cooling")
    bench.reject(commands.OilSupplySystemPowerMainPump(on=True), RejectCode.INTERLOCK, "oil")
    bench.run(commands.OilSupplySystemPowerCooling(on=True))
    bench.run(commands.OilSupplySystemPowerOil(on=True))
    pump = bench.accept(commands.OilSupplySystemPowerMainPump(on=True))
    assert pump.duration_s == Timings().oil_step_s
    bench.wait_until(pump.done_at)
    assert oss.ready
    # Switching cooling off also stops oil and pump.
    bench.run(commands.OilSupplySystemPowerCooling(on=False))
    assert oss.on == {"power": True, "cooling": False, "oil": False, "main_pump": False}
    cooling = bench.accept(commands.OilSupplySystemPowerCooling(on=True))
    bench.run(commands.OilSupplySystemPower(on=False))
    assert bench.ends(cooling.op_id)[0] == Failed(
        cooling.op_id, bench.now, "Oil supply system: power switched off"
    )
    assert not any(oss.on.values())
    oss.inject_alarm(bench.now, "low oil level")
    bench.reject(commands.OilSupplySystemPower(on=True), RejectCode.ALARM)
    bench.run(commands.OilSupplySystemResetAlarm())
    bench.run(commands.OilSupplySystemPower(on=True))


def test_mirror_covers_deploy_retract_per_drive_and_all() -> None:
    bench = Bench(MirrorCovers(Timings(mirror_cover_travel_s=10.0)))
    covers = bench.device
    bench.reject(commands.MirrorCoversDeploy(), RejectCode.OFF, "drives [0, 1, 2, 3] are off")
    bench.run(commands.MirrorCoversPower(drive=1, on=True))
    bench.reject(commands.MirrorCoversDeploy(), RejectCode.OFF, "drives [0, 2, 3] are off")
    bench.reject(commands.MirrorCoversDeploy(drive=4), RejectCode.BAD_ARGUMENT)
    one = bench.run(commands.MirrorCoversDeploy(drive=1))
    assert one.duration_s == pytest.approx(10.0)
    assert covers.deployed(bench.now) == [False, True, False, False]
    bench.run(commands.MirrorCoversPower(on=True))
    deploy = bench.accept(commands.MirrorCoversDeploy())
    assert deploy.duration_s == pytest.approx(10.0)  # the slowest drive
    bench.wait(4.0)
    assert covers.positions(bench.now) == pytest.approx([0.4, 1.0, 0.4, 0.4])
    # Retracting drive 2 supersedes the deploy-all; the others carry on.
    retract = bench.accept(commands.MirrorCoversRetract(drive=2))
    assert bench.ends(deploy.op_id) == [Superseded(deploy.op_id, bench.now)]
    assert retract.duration_s == pytest.approx(4.0)
    bench.wait(6.0)
    assert covers.deployed(bench.now) == [True, True, False, True]
    assert covers.retracted(bench.now) == [False, False, True, False]
    bench.assert_finished(retract)
    # Stop freezes drives mid-way.
    retract_all = bench.accept(commands.MirrorCoversRetract())
    bench.wait(5.0)
    stop = bench.run(commands.MirrorCoversStop())
    assert stop.duration_s == 0
    assert bench.ends(retract_all.op_id)[0] == Superseded(retract_all.op_id, bench.now)
    frozen = covers.positions(bench.now)
    bench.wait(5.0)
    assert covers.positions(bench.now) == frozen == pytest.approx([0.5, 0.5, 0.0, 0.5])
    # Power off fails motion in progress.
    move = bench.accept(commands.MirrorCoversDeploy(drive=0))
    bench.run(commands.MirrorCoversPower(drive=0, on=False))
    assert isinstance(bench.ends(move.op_id)[0], Failed)
    # Alarms stop everything until reset.
    move = bench.accept(commands.MirrorCoversDeploy(drive=3))
    covers.inject_alarm(bench.now, "jammed")
    bench.wait(0)
    assert bench.ends(move.op_id) == [Failed(move.op_id, bench.now, "Mirror covers alarm: jammed")]
    bench.reject(commands.MirrorCoversDeploy(drive=3), RejectCode.ALARM)
    bench.reject(commands.MirrorCoversResetAlarm(drive=9), RejectCode.BAD_ARGUMENT)
    bench.run(commands.MirrorCoversResetAlarm())
    bench.run(commands.MirrorCoversDeploy(drive=3))
    covers.inject_alarm(bench.now, "slow", severity=Severity.WARNING)
    assert covers.alarm is None


def test_mirror_cover_locks() -> None:
    bench = Bench(MirrorCoverLocks(Timings(mirror_cover_lock_travel_s=3.0)))
    locks = bench.device
    bench.reject(commands.MirrorCoverLocksMoveAll(deploy=True), RejectCode.OFF)
    bench.run(commands.MirrorCoverLocksPower(on=True))
    lock = bench.run(commands.MirrorCoverLocksMoveAll(deploy=True))
    assert lock.duration_s == pytest.approx(3.0)
    assert locks.deployed(bench.now) == [True] * 4
    unlock = bench.accept(commands.MirrorCoverLocksMoveAll(drive=0, deploy=False))
    bench.run(commands.MirrorCoverLocksStop(drive=0))
    assert isinstance(bench.ends(unlock.op_id)[0], Superseded)
    bench.run(commands.MirrorCoverLocksResetAlarm())
    bench.reject(commands.MirrorCoversDeploy(), RejectCode.UNSUPPORTED)


def test_instant_travel() -> None:
    bench = Bench(MirrorCovers(Timings.fast(0.0)))
    bench.run(commands.MirrorCoversPower(on=True))
    assert bench.run(commands.MirrorCoversDeploy()).duration_s == 0
    assert bench.device.deployed(bench.now) == [True] * 4


def test_top_end_chiller() -> None:
    bench = Bench(TopEndChiller())
    chiller = bench.device
    bench.reject(commands.TopEndChillerTrackAmbient(on=True, temperature=0), RejectCode.OFF)
    power = bench.run(commands.TopEndChillerPower(on=True))
    assert power.duration_s == Timings().chiller_power_s
    bench.reject(
        commands.TopEndChillerTrackAmbient(on=False, temperature=99), RejectCode.OUT_OF_LIMITS
    )
    bench.run(commands.TopEndChillerTrackAmbient(on=False, temperature=5.5))
    assert (chiller.track_ambient, chiller.setpoint) == (False, 5.5)
    chiller.inject_alarm(bench.now, "coolant flow")
    assert bench.of_type(AlarmChanged) == []
    bench.wait(0)
    assert bench.of_type(AlarmChanged)[0].code == 2201
    bench.reject(commands.TopEndChillerTrackAmbient(on=True, temperature=0), RejectCode.ALARM)
    bench.reject(commands.TopEndChillerPower(on=True), RejectCode.ALARM)
    bench.run(commands.TopEndChillerResetAlarm())
    bench.run(commands.TopEndChillerPower(on=False))
    assert not chiller.powered
    assert chiller.next_event_time() is None
    assert not chiller.busy()
