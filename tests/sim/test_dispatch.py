"""Declared dispatch: every command code is handled or refused; shared power logic; checks."""

from __future__ import annotations

import math

import pytest

from mountcomm.protocol import commands
from mountcomm.protocol.commands import COMMANDS
from mountcomm.protocol.enums import CommandCode
from mountcomm.sim.core import UNMODELLED_COMMANDS, ControllerCore
from mountcomm.sim.devices import (
    Axis,
    Failed,
    MainPowerSupply,
    Mount,
    RejectCode,
    Rejected,
    TopEndChiller,
)
from mountcomm.sim.devices.axis import ACTION_HANDLERS
from mountcomm.sim.devices.axis_spec import AXIS_ACTIONS
from mountcomm.sim.devices.validation import (
    MAX_DURATION_S,
    check_duration,
    check_finite,
    check_profile,
)

from .sim_helpers import EL_LIMITS, Bench


def test_every_command_code_is_handled_or_explicitly_refused() -> None:
    mount = Mount()
    by_controller = set(ControllerCore.COMMAND_HANDLERS)
    by_mount = {code for code in CommandCode if mount.supports(code)}
    assert not by_controller & by_mount
    assert not (by_controller | by_mount) & UNMODELLED_COMMANDS
    assert by_controller | by_mount | UNMODELLED_COMMANDS == set(CommandCode)
    # Every code with a message class is answered by someone.
    assert set(COMMANDS) == by_controller | by_mount


def test_device_tables_name_methods_of_their_class() -> None:
    mount = Mount()
    for device in mount.devices:
        for code, handler in device.handlers.items():
            assert isinstance(code, CommandCode)
            assert getattr(type(device), handler.__name__) is handler, (device, code)
    for code, handler in Mount.HANDLERS.items():
        assert getattr(Mount, handler.__name__) is handler, code


def test_axis_actions_all_have_handlers() -> None:
    assert set(ACTION_HANDLERS) == set(AXIS_ACTIONS)
    mount = Mount()
    for axis in mount.axes:
        assert isinstance(axis, Axis)
        assert set(axis.handlers) == set(axis.spec.codes.values())


@pytest.mark.parametrize(
    ("device", "power"),
    [
        (MainPowerSupply(), commands.MainPowerSupplyPower),
        (TopEndChiller(), commands.TopEndChillerPower),
    ],
)
def test_power_off_during_power_on_fails_it(device: object, power: type) -> None:
    bench = Bench(device)
    on = bench.accept(power(on=True))
    bench.wait(on.duration_s / 2)
    bench.run(power(on=False))
    assert bench.ends(on.op_id) == [
        Failed(on.op_id, bench.now, f"{bench.device.name} switched off")
    ]
    assert not bench.device.powered
    bench.run(power(on=True))
    assert bench.device.powered


def test_check_finite_names_the_field() -> None:
    assert check_finite(commands.ElevationAxisMove(position=60.0)) is None
    rejected = check_finite(commands.ElevationAxisMove(position=60.0, jerk=math.nan))
    assert rejected is not None and rejected.code is RejectCode.BAD_ARGUMENT
    assert "jerk" in rejected.reason
    rejected = check_finite(commands.TopEndChillerTrackAmbient(on=True, temperature=math.inf))
    assert rejected is not None and "temperature" in rejected.reason


@pytest.mark.parametrize(
    ("velocity", "acceleration", "jerk", "ok"),
    [
        (0.0, 0.0, 0.0, True),
        (3.5, 3.5, 100.0, True),
        (5e-324, 0.0, 0.0, True),  # in range: the duration check catches it
        (3.6, 0.0, 0.0, False),
        (0.0, 3.6, 0.0, False),
        (-1.0, 0.0, 0.0, False),
        (math.nan, 0.0, 0.0, False),
        (0.0, math.inf, 0.0, False),
        (0.0, 0.0, math.inf, False),
        (0.0, 0.0, -0.5, False),
    ],
)
def test_check_profile(velocity: float, acceleration: float, jerk: float, ok: bool) -> None:
    rejected = check_profile("Elevation axis", EL_LIMITS, velocity, acceleration, jerk)
    assert (rejected is None) is ok, rejected


def test_check_duration() -> None:
    assert check_duration("x", 0.0) is None
    assert check_duration("x", MAX_DURATION_S) is None
    for bad in (MAX_DURATION_S * 2, math.inf, math.nan):
        rejected = check_duration("x", bad)
        assert isinstance(rejected, Rejected) and "would take" in rejected.reason


def test_tiny_velocity_is_rejected_by_the_pure_core() -> None:
    bench = Bench(Mount())
    bench.run(commands.MainPowerSupplyPower(on=True))
    bench.run(commands.ElevationAxisPower(on=True))
    bench.run(commands.ElevationAxisDriveEnable(on=True))
    bench.reject(
        commands.ElevationAxisMove(position=60.0, velocity=5e-324),
        RejectCode.BAD_ARGUMENT,
        "would take",
    )
    bench.reject(
        commands.ElevationAxisMove(position=60.0, velocity=math.nan),
        RejectCode.BAD_ARGUMENT,
        "finite",
    )
    assert not bench.device.elevation.busy()
