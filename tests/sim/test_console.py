"""MountClient and SimulatedConsole against the MockController (real sockets, port 0)."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm.commanding.client import MountClient
from mountcomm.exceptions import (
    CommandRejected,
    CommandSuperseded,
    CommandTimeout,
    ConnectionClosedError,
)
from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import ReplyCode, Source
from mountcomm.sim.console import Pause, SimulatedConsole
from mountcomm.sim.controller import tai_now
from tests.timing import UNIT

from .controller_helpers import STD_TIMEOUT, fast_controller

CSC, EUI, HHD = Source.CSC, Source.EUI, Source.HHD


async def power_up(console: SimulatedConsole) -> None:
    await console.take_command()
    for command in (
        commands.MainPowerSupplyPower(on=True),
        commands.AzimuthAxisPower(on=True),
        commands.ElevationAxisPower(on=True),
        commands.AzimuthAxisDriveEnable(on=True),
        commands.ElevationAxisDriveEnable(on=True),
    ):
        await console.run(command, timeout=STD_TIMEOUT)


async def test_mount_client_slews_tracks_and_sees_in_position() -> None:
    async with (
        fast_controller() as controller,
        SimulatedConsole(controller, role=CSC) as csc,
    ):
        assert csc.client is not None
        mount: MountClient = csc.client
        await power_up(csc)
        async with mount.unsolicited() as unsolicited:
            await mount.run(commands.BothAxesMove(azimuth=30.0, elevation=60.0), STD_TIMEOUT)
            assert controller.mount.azimuth.in_position
            seen = set()
            while seen != {(0, True), (1, True)}:
                reply = await asyncio.wait_for(anext(unsolicited), STD_TIMEOUT)
                assert isinstance(reply, replies.InPositionReply)
                seen.add((reply.what, reply.in_position))
        # Supersession and rejection surface as the client's exceptions.
        first = await mount.send(commands.AzimuthAxisMove(position=-200.0))
        await asyncio.wait_for(first.ack, STD_TIMEOUT)
        await mount.run(commands.AzimuthAxisMove(position=0.0), STD_TIMEOUT)
        with pytest.raises(CommandSuperseded):
            await asyncio.wait_for(first.done, STD_TIMEOUT)
        with pytest.raises(CommandRejected, match="outside"):
            await mount.run(commands.ElevationAxisMove(position=5.0), STD_TIMEOUT)
        await mount.run(commands.ElevationAxisEnableTracking(on=True), STD_TIMEOUT)
        await mount.run(
            commands.ElevationAxisTrack(position=50.0, velocity=0.1, tai=tai_now()), STD_TIMEOUT
        )


async def test_fault_knobs_seen_through_mount_client() -> None:
    async with (
        fast_controller() as controller,
        SimulatedConsole(
            controller, role=CSC, ack_timeout=1.0 * UNIT, done_margin=0.2 * UNIT
        ) as csc,
    ):
        await csc.take_command()
        controller.reject_next(1, "maintenance")
        with pytest.raises(CommandRejected, match="maintenance"):
            await csc.run(commands.Enable())
        await csc.run(commands.Enable())
        controller.withhold_replies([ReplyCode.DONE])
        with pytest.raises(CommandTimeout):
            await csc.run(commands.Enable())
        controller.resume_replies()
        controller.stall()
        with pytest.raises(CommandTimeout):
            await csc.run(commands.Enable())
        controller.resume()
        await controller.drop_connection(CSC)
        with pytest.raises(ConnectionClosedError):
            await csc.run(commands.Enable())


async def test_eui_grabs_command_and_hhd_cannot_be_preempted() -> None:
    async with (
        fast_controller((CSC, EUI, HHD)) as controller,
        SimulatedConsole(controller, role=CSC) as csc,
        SimulatedConsole(controller) as eui,
        SimulatedConsole(controller, role=HHD) as hhd,
    ):
        await csc.take_command()
        await eui.take_command()
        with pytest.raises(CommandRejected, match="EUI has it"):
            await csc.run(commands.Enable())
        await hhd.take_command()
        with pytest.raises(CommandRejected, match="cannot be preempted"):
            await eui.take_command()
        results = await hhd.run_script(
            [
                commands.MainPowerSupplyPower(on=True),
                Pause(0.01),
                commands.ElevationAxisMove(position=45.0),  # the axis is off
                commands.MainPowerSupplyResetAlarm(),
            ]
        )
        assert [r.ok for r in results] == [True, False, True]
        assert isinstance(results[1].error, CommandRejected)
        assert "is off" in str(results[1].error)
        stopped = await hhd.run_script(
            [commands.ElevationAxisMove(position=45.0), commands.Enable()], stop_on_error=True
        )
        assert len(stopped) == 1
        await hhd.give_command(CSC)
        await csc.run(commands.Enable())


async def test_console_by_port_and_misuse() -> None:
    with pytest.raises(ValueError, match="command_port"):
        SimulatedConsole()
    console = SimulatedConsole(command_port=1)
    with pytest.raises(RuntimeError, match="not started"):
        await console.run(commands.Enable())
    await console.close()
