"""MockController end to end: real sockets on port 0, a plain Communicator as console."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import InPositionAxis, Source
from mountcomm.sim.controller import SHUTDOWN_EXPLANATION, MockController

from .controller_helpers import STD_TIMEOUT, console, csc_and_eui, fast_controller, power_up

CSC, EUI, HHD = Source.CSC, Source.EUI, Source.HHD


async def test_life_cycle_ack_done_noack() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        seq = await csc.send(commands.MainPowerSupplyPower(on=True))
        await csc.expect(replies.NoAckReply, seq, explanation="does not have command")
        seq = await csc.send(commands.AskForCommand(commander=CSC))
        await csc.expect(replies.AckReply, seq, timeout_ms=0, source=CSC)
        await csc.expect(replies.DoneReply, seq)
        assert controller.authority.holder is CSC
        seq = await csc.send(commands.MainPowerSupplyPower(on=True))
        ack = await csc.expect(replies.AckReply, seq)
        assert ack.timeout_ms == 10  # Timings.fast(0.01).main_power_s
        await csc.expect(replies.DoneReply, seq)
        assert controller.mount.main_power_supply.powered
        seq = await csc.send(commands.ElevationAxisMove(position=45.0))
        await csc.expect(replies.NoAckReply, seq, explanation="Elevation axis is off")
        seq = await csc.send(commands.MainPowerSupplyResetAlarm())
        await csc.expect(replies.AckReply, seq, timeout_ms=0)
        await csc.expect(replies.DoneReply, seq)
        assert [c.command_code.name for _, c in controller.received][-1] == (
            "MAIN_POWER_SUPPLY_RESET_ALARM"
        )


async def test_move_supersession_and_in_position() -> None:
    async with csc_and_eui() as (controller, csc, eui):
        await power_up(csc, "elevation")
        first = await csc.send(commands.ElevationAxisMove(position=30.0))
        ack = await csc.expect(replies.AckReply, first)
        assert 0 < ack.timeout_ms < 1000
        second = await csc.send(commands.ElevationAxisMove(position=40.0))
        await csc.expect(replies.AckReply, second)
        await csc.expect(replies.NoAckReply, first, explanation="Superseded")
        await csc.expect(replies.DoneReply, second)
        await csc.expect(replies.InPositionReply, what=InPositionAxis.ELEVATION, in_position=True)
        # Unsolicited replies go to every console.
        await eui.expect(replies.InPositionReply, what=1, in_position=True)
        seq = await csc.send(commands.ElevationAxisMove(position=50.0))
        await csc.expect(replies.AckReply, seq)
        await csc.expect(replies.InPositionReply, in_position=False)
        await csc.expect(replies.DoneReply, seq)
        await csc.expect(replies.InPositionReply, in_position=True)
        assert (
            controller.mount.elevation.state(controller.mount.elevation.path.arrival_time).position
            == 50.0
        )


async def test_device_rejection_and_ack_only_tracking() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        await power_up(csc, "azimuth", "elevation")
        seq = await csc.send(commands.ElevationAxisMove(position=95.0))
        await csc.expect(replies.NoAckReply, seq, explanation="outside")
        seq = await csc.send(commands.AzimuthAxisTrack(position=10, velocity=0, tai=0))
        await csc.expect(replies.NoAckReply, seq, explanation="tracking is not enabled")
        await csc.run(commands.AzimuthAxisEnableTracking(on=True))
        await csc.run(commands.ElevationAxisEnableTracking(on=True))
        from mountcomm.sim.controller import tai_now

        track = await csc.send(
            commands.BothAxesTrack(
                azimuth=1.0,
                elevation=80.0,
                azimuth_velocity=0.0,
                elevation_velocity=0.0,
                tai=tai_now(),
            )
        )
        await csc.expect(replies.AckReply, track, timeout_ms=0)
        # No DONE follows an ack-only command: the next reply for us is the next ACK.
        seq = await csc.send(commands.TopEndChillerResetAlarm())
        assert (await csc.next_for(seq)).reply_code == 0
        reply = await csc.next_for(seq)
        assert isinstance(reply, replies.DoneReply)
        unsolicited = [await csc.read(), await csc.read()]  # both axes enter position
        assert {(r.what, r.in_position) for r in unsolicited} == {(0, True), (1, True)}
        assert controller.mount.azimuth.in_position


async def test_authority_forged_source_and_hhd() -> None:
    async with (
        fast_controller((CSC, EUI, HHD)) as controller,
        console(controller, CSC) as csc,
        console(controller, EUI) as eui,
        console(controller, HHD) as hhd,
    ):
        await csc.take_command()
        # The EUI forges source=CSC: the port pair decides, so it is refused.
        forged = commands.MainPowerSupplyPower(on=True, source=CSC)
        seq = await eui.send(forged, keep_source=True)
        await eui.expect(
            replies.NoAckReply,
            seq,
            source=CSC,
            explanation="EUI does not have command; CSC has it",
        )
        assert not controller.mount.main_power_supply.busy()
        seq = await eui.send(commands.AskForCommand(commander=CSC, source=CSC), keep_source=True)
        await eui.expect(replies.NoAckReply, seq, explanation="only ask for command for itself")
        await eui.take_command()
        assert controller.authority.holder is EUI
        seq = await csc.send(commands.MainPowerSupplyPower(on=True))
        await csc.expect(replies.NoAckReply, seq, explanation="EUI has it")
        await hhd.take_command()
        for c in (csc, eui):
            seq = await c.send(commands.AskForCommand(commander=c.role))
            await c.expect(
                replies.NoAckReply, seq, explanation="HHD has command and cannot be preempted"
            )
        await hhd.run(commands.MainPowerSupplyPower(on=True))
        await hhd.run(commands.AskForCommand(commander=CSC))
        await csc.run(commands.MainPowerSupplyPower(on=False))


async def test_console_reconnects_and_keeps_command() -> None:
    async with fast_controller() as controller:
        async with console(controller) as first:
            await first.take_command()
        # The console is gone; a new one connects on the same port pair.
        async with console(controller) as second:
            await second.run(commands.MainPowerSupplyPower(on=True))
            assert controller.console_connected(CSC)


async def test_garbage_from_one_console_does_not_disturb_others() -> None:
    async with csc_and_eui() as (controller, csc, eui):
        await eui.take_command()
        writer = csc.comm.client_writer
        assert writer is not None
        # Unknown command code with a readable sequence id: NOACK.
        writer.write(b"77\n9999\n1\n2020-02-27T14:48:27.469\r\n")
        reply = await csc.expect(replies.NoAckReply, 77, explanation="Invalid command")
        assert "9999" in reply.explanation
        # Not even a sequence id, invalid UTF-8, a wrong field count: logged only.
        writer.write(b"\xff\xfe\x00garbage\r\nabc\r\n78\n403\n1\n2020-02-27T14:48:27\r\n")
        await csc.expect(replies.NoAckReply, 78, explanation="Invalid command")
        assert controller.bad_frames == 4
        # Both consoles carry on.
        seq = await csc.send(commands.Enable())
        await csc.expect(replies.NoAckReply, seq, explanation="does not have command")
        await eui.run(commands.MainPowerSupplyPower(on=True))


async def test_explicit_reply_port_and_repr() -> None:
    from mountcomm.net import Communicator

    comm = Communicator(
        "console", "127.0.0.1", 0, "127.0.0.1", 0, None, read_replies=True, connect=False
    )
    try:
        port = await asyncio.wait_for(comm.wait_server_port(), STD_TIMEOUT)
        async with fast_controller(["csc"], reply_ports={"csc": port}) as controller:
            assert controller.reply_port(CSC) == port
            await asyncio.wait_for(comm.connect(port=controller.command_port("csc")), STD_TIMEOUT)
            await asyncio.wait_for(controller.wait_console_connected(CSC), STD_TIMEOUT)
            await comm.write(commands.AskForCommand(sequence_id=1))
            assert isinstance(await asyncio.wait_for(comm.read(), STD_TIMEOUT), replies.AckReply)
            assert "commander=CSC" in repr(controller)
            with pytest.raises(ValueError, match="not served"):
                controller.command_port(EUI)
            with pytest.raises(ValueError, match="nonzero"):
                controller.connect_console(CSC, 0)
    finally:
        await comm.close()


async def test_close_fails_pending_operations_and_is_idempotent() -> None:
    controller = fast_controller()
    await controller.start()
    try:
        async with console(controller) as csc:
            await power_up(csc, "azimuth")
            seq = await csc.send(commands.AzimuthAxisMove(position=260.0, velocity=1.0))
            await csc.expect(replies.AckReply, seq)
            await controller.close()
            await csc.expect(replies.NoAckReply, seq, explanation=SHUTDOWN_EXPLANATION)
    finally:
        await controller.close()
    assert controller.done_task is not None and controller.done_task.done()
    await MockController().close()  # never started


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MockController([])
    with pytest.raises(ValueError, match="positive"):
        MockController(telemetry_rate_hz=-1)


def test_ports_from_config_before_start() -> None:
    from mountcomm.config import Config, RolePorts

    config = Config(
        roles={
            "csc": RolePorts(50005, 50006),
            "eui": RolePorts(60005, 60010),
            "hhd": RolePorts(0, 0),
        },
        telemetry_port=50035,
        telemetry_rate_hz=2.0,
    )
    controller = MockController.from_config(config)
    assert controller.roles == (CSC, EUI, HHD)
    assert controller.command_port("csc") == 50005
    assert controller.reply_port(EUI) == 60010
    assert controller.reply_port(HHD) == 0
    assert controller.telemetry_port == 50035
    assert controller.telemetry_rate_hz == 2.0
    only = MockController([EUI], command_ports={EUI: 40000})
    assert only.reply_port(EUI) == 40001  # command port + 1
    with pytest.raises(ValueError, match="not served"):
        only.command_port(CSC)
    assert MockController.from_config(config, roles=["hhd"]).roles == (HHD,)
