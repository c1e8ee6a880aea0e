"""MockController fault injection, each knob end to end."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm.exceptions import ConnectionClosedError, ProtocolError
from mountcomm.net.errors import PeerClosedError
from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import ReplyCode, Source
from mountcomm.sim.devices import Severity

from .controller_helpers import STD_TIMEOUT, console, csc_and_eui, fast_controller, power_up

CSC, EUI = Source.CSC, Source.EUI
QUIET = 0.2  # how long a test listens to check that nothing arrives [s]


async def test_reject_next_n_commands() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        controller.reject_next(2, "simulated failure")
        for _ in range(2):
            seq = await csc.send(commands.AskForCommand())
            await csc.expect(replies.NoAckReply, seq, explanation="simulated failure")
        await csc.take_command()  # the third is handled normally


async def test_delay_replies() -> None:
    loop = asyncio.get_running_loop()
    async with fast_controller() as controller, console(controller) as csc:
        controller.delay_replies(0.3)
        start = loop.time()
        seq = await csc.send(commands.AskForCommand())
        await csc.expect(replies.AckReply, seq)
        assert loop.time() - start >= 0.3
        await csc.expect(replies.DoneReply, seq)
        controller.resume_replies()
        await csc.run(commands.Enable())
        assert controller.faults.replies[CSC].delay_s == 0


async def test_withhold_replies() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        controller.withhold_replies([ReplyCode.DONE], role="csc")
        first = await csc.send(commands.AskForCommand())
        await csc.expect(replies.AckReply, first)
        second = await csc.send(commands.Enable())
        await csc.expect(replies.AckReply, second)  # the DONE of `first` never came
        controller.withhold_replies()  # everything
        third = await csc.send(commands.Enable())
        with pytest.raises(TimeoutError):
            await csc.read(timeout=QUIET)
        controller.resume_replies()
        fourth = await csc.send(commands.Enable())
        await csc.expect(replies.AckReply, fourth)
        await csc.expect(replies.DoneReply, fourth)
        assert third < fourth


async def test_drop_connection_and_reconnect() -> None:
    async with csc_and_eui() as (controller, csc, eui):
        await csc.take_command()
        await controller.drop_connection(CSC)
        with pytest.raises(ConnectionClosedError):
            await csc.read()
        # The EUI is unaffected.
        await eui.run(commands.AskForCommand(commander=EUI))
        # The console reconnects its command client; the controller has
        # already reconnected its reply client.
        await asyncio.wait_for(csc.comm.connect(), STD_TIMEOUT)
        await asyncio.wait_for(controller.wait_console_connected(CSC), STD_TIMEOUT)
        await csc.take_command()


async def test_send_malformed_frame() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        controller.send_malformed()
        with pytest.raises(ProtocolError):
            await csc.read()
        controller.send_malformed(b"1\n1\r\n", role=CSC)  # a NOACK missing fields
        with pytest.raises(ProtocolError):
            await csc.read()
        await csc.take_command()  # the stream is still in sync


async def test_stall_and_resume() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        controller.stall()
        seq = await csc.send(commands.AskForCommand())
        with pytest.raises(TimeoutError):
            await csc.read(timeout=QUIET)
        controller.resume()
        await csc.expect(replies.AckReply, seq)
        await csc.expect(replies.DoneReply, seq)


async def test_alarms_reach_every_console() -> None:
    async with csc_and_eui() as (controller, csc, eui):
        await power_up(csc, "elevation")
        move = await csc.send(commands.ElevationAxisMove(position=30.0))
        await csc.expect(replies.AckReply, move)
        controller.inject_alarm("elevation", "encoder fault")
        await csc.expect(replies.NoAckReply, move, explanation="encoder fault")
        for c in (csc, eui):
            await c.expect(
                replies.ErrorReply,
                on=True,
                active=True,
                code=401,
                subsystem="400. encoder fault",
            )
        seq = await csc.send(commands.ElevationAxisMove(position=30.0))
        await csc.expect(replies.NoAckReply, seq, explanation="active alarm")
        await csc.run(commands.ElevationAxisResetAlarm())
        await eui.expect(replies.ErrorReply, on=False, active=False, code=401)
        controller.inject_alarm("top_end_chiller", "flow low", Severity.WARNING)
        await eui.expect(replies.WarningReply, active=True, code=2201)
        controller.trip_interlock("e-stop")
        interlock = await eui.read()
        assert isinstance(interlock, replies.ErrorReply) and interlock.code == 1801
        seq = await csc.send(commands.Enable())
        reply = await csc.next_for(seq)  # after the unsolicited WARNING and ERROR
        assert isinstance(reply, replies.NoAckReply) and "SAFETY_RESET" in reply.explanation
        await csc.run(commands.SafetyReset())


async def test_console_port_keeps_the_cause_of_a_lost_console() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        port = controller._console(CSC)
        seen = asyncio.Event()
        port.comm.add_change_listener(lambda change: change.is_loss and seen.set())
        await csc.comm.close_client()  # the console hangs up its command connection
        await asyncio.wait_for(seen.wait(), STD_TIMEOUT)
        assert isinstance(port.cause, PeerClosedError)
        assert not controller.console_connected(CSC)
