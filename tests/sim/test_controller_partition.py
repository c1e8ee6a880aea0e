"""The controller side of partitions: socket options, authority grace, stale commands, record."""

from __future__ import annotations

import socket
import time

import pytest

from mountcomm.log import capture_events
from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import CommandCode, Source
from mountcomm.sim.core import Executed
from mountcomm.sockets import TcpKeepalive

from .controller_helpers import console, fast_controller

CSC, EUI = Source.CSC, Source.EUI


def _options(sock: socket.socket) -> tuple[int, int, int]:
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
    )


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="Linux socket options")
async def test_console_connections_get_keepalive_and_user_timeout() -> None:
    async with (
        fast_controller(
            tcp_keepalive=TcpKeepalive(idle=4, interval=1, count=2), tcp_user_timeout=3
        ) as controller,
        console(controller) as csc,
    ):
        await csc.take_command()  # both connections are up
        port = controller._console(CSC)
        for writer in (port.comm.server_writer, port.comm.client_writer):
            assert writer is not None
            assert _options(writer.get_extra_info("socket")) == (1, 4, 3000)
    async with (
        fast_controller(tcp_keepalive=None, tcp_user_timeout=None) as controller,
        console(controller) as csc,
    ):
        await csc.take_command()
        writer = controller._console(CSC).comm.server_writer
        assert writer is not None
        keepalive, _, user_timeout = _options(writer.get_extra_info("socket"))
        assert (keepalive, user_timeout) == (0, 0)
    with pytest.raises(ValueError):
        fast_controller(tcp_user_timeout=-1.0)


async def test_a_vanished_holder_loses_command_after_the_grace() -> None:
    async with (
        fast_controller((CSC, EUI), authority_grace=0.1) as controller,
        console(controller, EUI, state_info=True) as eui,
    ):
        async with console(controller, CSC) as csc:
            await csc.take_command()
            await eui.expect(replies.OnStateInfoReply, description="Commander: CSC")
        # The CSC's console is gone: after the grace, everyone hears it.
        await eui.expect(replies.OnStateInfoReply, description="Commander: NONE")
        assert controller.authority.holder is Source.NONE
        await eui.take_command()


async def test_a_holder_back_within_the_grace_keeps_command() -> None:
    with capture_events() as logs:
        async with fast_controller(authority_grace=60.0) as controller:
            async with console(controller) as first:
                await first.take_command()
            async with console(controller) as second:
                await second.run(commands.MainPowerSupplyPower(on=True))
                assert controller.authority.release_at is None
    assert [e for e in logs if e["event"] == "console_lost"]


async def test_stale_commands_are_refused_only_when_asked() -> None:
    async with fast_controller(max_command_age=5.0) as controller, console(controller) as csc:
        seq = await csc.send(commands.AskForCommand(commander=CSC, timestamp=time.time() - 60))
        reply = await csc.expect(replies.NoAckReply, seq, explanation="stale")
        assert "max_command_age 5 s" in reply.explanation
        await csc.take_command()
        assert controller.authority.holder is CSC
    async with fast_controller() as controller, console(controller) as csc:
        await csc.run(commands.AskForCommand(commander=CSC, timestamp=time.time() - 3600))
    with pytest.raises(ValueError, match="max_command_age"):
        fast_controller(max_command_age=0.0)


async def test_executed_records_what_was_acted_upon() -> None:
    async with fast_controller() as controller, console(controller) as csc:
        refused = await csc.send(commands.MainPowerSupplyPower(on=True))  # no command yet
        await csc.expect(replies.NoAckReply, refused)
        await csc.take_command()
        await csc.run(commands.MainPowerSupplyPower(on=True))
        assert list(controller.executed) == [
            Executed(CSC, 2, CommandCode.ASK_FOR_COMMAND),
            Executed(CSC, 3, CommandCode.MAIN_POWER_SUPPLY_POWER),
        ]
        assert controller.executed[0] == (CSC, 2, CommandCode.ASK_FOR_COMMAND)
