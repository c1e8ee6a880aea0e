"""Drive telemetry: each drive's current from the axis torque (pure, then end to end)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from mountcomm.protocol import commands
from mountcomm.protocol.enums import TelemetryTopicId
from mountcomm.sim.controller import tai_now
from mountcomm.sim.devices import AZIMUTH, CAMERA_CABLE_WRAP, ELEVATION, Axis, Timings
from mountcomm.sim.motion import AxisLimits
from mountcomm.sim.telemetry import TelemetryClient

from .controller_helpers import STD_TIMEOUT, console, fast_controller, power_up
from .sim_helpers import EL_LIMITS, Bench

KT = ELEVATION.torque_constant


def ready() -> Bench:
    bench = Bench(Axis(ELEVATION, EL_LIMITS, Timings()))
    bench.run(commands.ElevationAxisPower(on=True))
    bench.run(commands.ElevationAxisDriveEnable(on=True))
    return bench


def test_specs_have_drive_topics() -> None:
    assert AZIMUTH.drive_topic is TelemetryTopicId.AZIMUTH_DRIVE
    assert ELEVATION.drive_topic is TelemetryTopicId.ELEVATION_DRIVE
    assert CAMERA_CABLE_WRAP.drive_topic is None
    ccw = Axis(CAMERA_CABLE_WRAP, AxisLimits(-90.0, 90.0, 3.5, 1.0))
    assert ccw.drive_telemetry(0.0) is None
    assert len(ccw.drive_currents(0.0)) == CAMERA_CABLE_WRAP.drives


def test_off_axis_carries_no_current() -> None:
    axis = Axis(ELEVATION, EL_LIMITS)
    assert axis.drive_telemetry(5.0) == {
        "topicID": 14,
        "timestamp": 5.0,
        "current": [0.0] * 12,
    }


def test_torque_is_shared_by_the_enabled_drives() -> None:
    bench = ready()
    axis = bench.device
    start = bench.now
    bench.accept(commands.ElevationAxisMove(position=40.0))
    accelerating = start + 0.5
    torque = axis.torque(accelerating)
    assert torque == pytest.approx(ELEVATION.inertia * math.radians(-3.5))
    currents = axis.drive_currents(accelerating)
    assert currents == [pytest.approx(torque / (12 * KT))] * 12
    assert sum(currents) * KT == pytest.approx(torque)
    assert axis.drive_telemetry(accelerating)["current"] == currents  # type: ignore[index]
    assert axis.drive_currents(start + 2.0) == [0.0] * 12  # cruising: no torque
    # One drive disabled: the axis brakes, and the others share the braking torque.
    bench.wait(2.0)
    bench.accept(commands.ElevationAxisDriveEnable(drive=0, on=False))
    braking = bench.now + 0.1
    torque = axis.torque(braking)
    assert torque > 0  # braking a downward move
    currents = axis.drive_currents(braking)
    assert currents[0] == 0.0
    assert currents[1:] == [pytest.approx(torque / (11 * KT))] * 11


def test_power_off_cuts_every_current() -> None:
    bench = ready()
    bench.accept(commands.ElevationAxisMove(position=40.0))
    bench.wait(2.0)
    bench.accept(commands.ElevationAxisPower(on=False))
    braking = bench.now + 0.1
    assert bench.device.torque(braking) != 0
    assert bench.device.drive_currents(braking) == [0.0] * 12


async def test_telemetry_client_receives_drive_samples() -> None:
    async with (
        fast_controller() as controller,
        TelemetryClient("127.0.0.1", controller.telemetry_port) as telemetry,
    ):
        for topic, drives in ((5, 16), (14, 12)):
            sample = await asyncio.wait_for(telemetry.next_sample(topic), STD_TIMEOUT)
            assert set(sample) == {"topicID", "timestamp", "current"}
            assert sample["current"] == [0.0] * drives
        async with console(controller) as csc:
            await power_up(csc, "elevation")
            started = tai_now()
            move = await csc.send(commands.ElevationAxisMove(position=20.0))
            # Each tick's drive sample matches that tick's elevation torque, up to
            # a tick during the move's acceleration (about 0.5 s long here).
            ticks: dict[float, dict[int, Any]] = {}
            currents: list[float] = []
            iterator = aiter(telemetry)
            while not any(currents):
                sample = await asyncio.wait_for(anext(iterator), STD_TIMEOUT)
                if sample["timestamp"] < started:
                    continue
                tick = ticks.setdefault(sample["timestamp"], {})
                tick[sample["topicID"]] = sample
                if 14 in tick and 15 in tick:
                    currents = tick[14]["current"]
                    assert len(currents) == 12 and len(set(currents)) == 1
                    assert sum(currents) * KT == pytest.approx(tick[15]["torqueActual"])
                    assert tick[15]["angleActual"] > 20.0, "the move ended unseen"
            await iterator.aclose()
            await csc.next_for(move)  # the ACK
