"""End-to-end tests of MountClient against a scripted controller on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mountcomm import Communicator, MountClient
from mountcomm.commanding import ClientState
from mountcomm.commanding.ids import IdRange
from mountcomm.exceptions import (
    CommandRejected,
    CommandSuperseded,
    CommandTimeout,
    ConnectionClosedError,
)
from mountcomm.net.errors import PeerClosedError
from mountcomm.protocol import MAX_SEQUENCE_ID, Source, commands, replies
from mountcomm.protocol.commands import Command
from mountcomm.testing.harness import mount_client_with_peer
from tests.ports import unused_port
from tests.timing import UNIT

HOST = "127.0.0.1"
T = 5 * UNIT  # bound on any wait for the peer [s]
LONG = 60.0  # a command timeout that never fires during a test [s]
ALL_IDS = IdRange(1, MAX_SEQUENCE_ID)


class Controller:
    """The controller's side of the protocol (the PXI role), scripted by a test."""

    def __init__(self, communicator: Communicator) -> None:
        self.communicator = communicator

    async def next_command(self) -> Command:
        message = await asyncio.wait_for(self.communicator.read(), T)
        assert isinstance(message, Command)
        return message

    async def commands(self, n: int) -> list[Command]:
        return [await self.next_command() for _ in range(n)]

    async def send(self, *messages: replies.Reply) -> None:
        for message in messages:
            await self.communicator.write(message)

    async def ack(self, cmd: Command, timeout_ms: int = 0) -> None:
        await self.send(
            replies.AckReply(sequence_id=cmd.sequence_id, source=cmd.source, timeout_ms=timeout_ms)
        )

    async def done(self, cmd: Command) -> None:
        await self.send(replies.DoneReply(sequence_id=cmd.sequence_id, source=cmd.source))

    async def noack(self, cmd: Command, explanation: str) -> None:
        await self.send(
            replies.NoAckReply(
                sequence_id=cmd.sequence_id, source=cmd.source, explanation=explanation
            )
        )


@contextlib.asynccontextmanager
async def connected(**options: Any) -> AsyncIterator[tuple[MountClient, Controller]]:
    """A MountClient connected to a scripted controller, both on port 0."""
    options.setdefault("ack_timeout", LONG)
    options.setdefault("done_margin", LONG)
    async with mount_client_with_peer(timeout=T, **options) as (mount, peer):
        assert mount.connected
        yield mount, Controller(peer)


def move(position: float = 45.0) -> Command:
    return commands.ElevationAxisMove(position=position)


async def run_answered(mount: MountClient, controller: Controller) -> None:
    """Run a move that the controller acknowledges and finishes; it must succeed."""
    task = asyncio.create_task(mount.run(move()))
    cmd = await controller.next_command()
    await controller.ack(cmd)
    await controller.done(cmd)
    await asyncio.wait_for(task, T)


# --- success paths ---------------------------------------------------------------------


async def test_run_returns_on_done() -> None:
    async with connected() as (mount, controller):
        task = asyncio.create_task(mount.run(move(60)))
        cmd = await controller.next_command()
        assert isinstance(cmd, commands.ElevationAxisMove)
        assert (cmd.sequence_id in ALL_IDS, cmd.source, cmd.position) == (True, Source.CSC, 60.0)
        await controller.ack(cmd, timeout_ms=1000)
        await controller.done(cmd)
        assert await asyncio.wait_for(task, T) is None
        assert mount.in_flight == 0


async def test_ack_only_command_returns_on_ack() -> None:
    async with connected() as (mount, controller):
        task = asyncio.create_task(
            mount.run(commands.AzimuthAxisTrack(position=1.0, velocity=0.1, tai=1.0e9))
        )
        cmd = await controller.next_command()
        await controller.ack(cmd)
        await asyncio.wait_for(task, T)
        assert mount.in_flight == 0


async def test_send_sets_role_as_source() -> None:
    async with connected(role=Source.EUI) as (mount, controller):
        assert mount.role is Source.EUI
        futures = await mount.send(commands.AskForCommand(commander=Source.EUI))
        cmd = await controller.next_command()
        assert cmd.source == Source.EUI
        assert cmd.sequence_id == futures.sequence_id
        await controller.ack(cmd, timeout_ms=250)
        await controller.done(cmd)
        assert await asyncio.wait_for(futures.wait(), T) == pytest.approx(0.25)


async def test_concurrent_commands_resolve_independently_out_of_order() -> None:
    async with connected() as (mount, controller):
        sent = [await mount.send(move(float(i))) for i in range(20)]
        received = await controller.commands(20)
        assert [c.sequence_id for c in received] == [f.sequence_id for f in sent]
        for cmd in reversed(received):
            await controller.ack(cmd, timeout_ms=cmd.sequence_id)
        # Finish the even ones in a scrambled order, reject the odd ones.
        for cmd in received[::-2] + received[-2::-2]:
            if cmd.sequence_id % 2 == 0:
                await controller.done(cmd)
            else:
                await controller.noack(cmd, f"failed {cmd.sequence_id}")
        results = await asyncio.wait_for(
            asyncio.gather(*(f.wait() for f in sent), return_exceptions=True), T
        )
        for futures, result in zip(sent, results, strict=True):
            if futures.sequence_id % 2 == 0:
                assert result == pytest.approx(futures.sequence_id / 1000)
            else:
                assert isinstance(result, CommandRejected)
                assert result.explanation == f"failed {futures.sequence_id}"
        assert mount.in_flight == 0
        assert mount.unknown_replies == 0


# --- failures --------------------------------------------------------------------------


async def test_noack_raises_command_rejected() -> None:
    async with connected() as (mount, controller):
        task = asyncio.create_task(mount.run(move(100)))
        cmd = await controller.next_command()
        await controller.noack(cmd, "Out of limits")
        with pytest.raises(CommandRejected, match="Out of limits") as info:
            await asyncio.wait_for(task, T)
        assert info.type is CommandRejected


async def test_superseded_after_ack() -> None:
    async with connected() as (mount, controller):
        first = asyncio.create_task(mount.run(move(30)))
        old = await controller.next_command()
        await controller.ack(old, timeout_ms=5000)
        second = asyncio.create_task(mount.run(move(40)))
        new = await controller.next_command()
        await controller.noack(old, "Superseded")
        await controller.ack(new, timeout_ms=10)
        await controller.done(new)
        with pytest.raises(CommandSuperseded):
            await asyncio.wait_for(first, T)
        await asyncio.wait_for(second, T)


async def test_ack_timeout(unit: float) -> None:
    async with connected(ack_timeout=unit, auto_reconnect=True) as (mount, controller):
        task = asyncio.create_task(mount.run(move()))
        cmd = await controller.next_command()
        with pytest.raises(CommandTimeout, match="no ACK") as info:
            await asyncio.wait_for(task, T)
        assert info.value.delivered == "unknown"
        await controller.ack(cmd)  # too late: counted, not fatal
        # The command connection was reset; the client makes it again.
        async with asyncio.timeout(T):
            await mount.wait_connected()
            await controller.communicator.server.wait_connected()
        mount.tracker.ack_timeout = T  # the new connection's commands: no hurry
        await run_answered(mount, controller)
        assert mount.unknown_replies == 1


async def test_done_timeout(unit: float) -> None:
    async with connected(done_margin=unit) as (mount, controller):
        task = asyncio.create_task(mount.run(move()))
        cmd = await controller.next_command()
        await controller.ack(cmd, timeout_ms=round(unit * 1000))
        with pytest.raises(CommandTimeout, match="no DONE") as info:
            await asyncio.wait_for(task, T)
        assert info.value.delivered == "yes"
        assert mount.connected  # a DONE timeout keeps the connection
        await run_answered(mount, controller)
        assert mount.connected


async def test_run_timeout_argument(unit: float) -> None:
    async with connected() as (mount, controller):
        task = asyncio.create_task(mount.run(move(), timeout=unit))
        cmd = await controller.next_command()
        await controller.ack(cmd, timeout_ms=100_000)
        with pytest.raises(CommandTimeout, match=r"not done within"):
            await asyncio.wait_for(task, T)
        await controller.done(cmd)  # the abandoned command's DONE: harmless
        futures = await mount.send(move())
        cmd = await controller.next_command()
        await controller.ack(cmd)
        await controller.done(cmd)
        assert await asyncio.wait_for(futures.wait(), T) == 0.0


async def test_peer_disconnect_fails_50_commands_promptly() -> None:
    async with connected() as (mount, controller):
        tasks = [asyncio.create_task(mount.run(move(float(i)))) for i in range(50)]
        received = await controller.commands(50)
        stream = mount.unsolicited()
        for cmd in received[:25]:
            await controller.ack(cmd, timeout_ms=60_000)
        marker = replies.OnStateInfoReply(description="marker")
        await controller.send(marker)
        # Replies are handled in order: once the marker is here, so are the ACKs.
        assert await asyncio.wait_for(anext(stream), T) == marker
        assert mount.in_flight == 50
        await controller.communicator.close()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), T)
        assert all(isinstance(r, ConnectionClosedError) for r in results), results
        assert all(isinstance(r, ConnectionError) for r in results)
        assert not mount.connected
        with pytest.raises(ConnectionClosedError):
            await mount.send(move())
        assert stream.dropped == 0


async def test_command_connection_loss_alone_fails_commands() -> None:
    async with connected() as (mount, controller):
        futures = [await mount.send(move(float(i))) for i in range(5)]
        await controller.commands(5)
        await controller.communicator.server.close_client()  # drop only our command socket
        results = await asyncio.wait_for(
            asyncio.gather(*(f.wait() for f in futures), return_exceptions=True), T
        )
        assert all(isinstance(r, ConnectionClosedError) for r in results), results
        assert not mount.connected


async def test_close_fails_commands_in_flight() -> None:
    async with connected() as (mount, controller):
        futures = await mount.send(move())
        await controller.next_command()
        await mount.close()
        await mount.close()  # idempotent
        with pytest.raises(ConnectionClosedError, match="connection closed"):
            await asyncio.wait_for(futures.wait(), T)


# --- unsolicited replies and bad frames ------------------------------------------------

UNSOLICITED = (
    replies.ErrorReply(on=True, active=True, code=101, subsystem="100. azimuth fault"),
    replies.WarningReply(active=True, code=401, subsystem="400. elevation warning"),
    replies.InPositionReply(what=1, in_position=True),
    replies.OnStateInfoReply(description="ready"),
)


async def test_unsolicited_replies_are_delivered() -> None:
    seen: list[replies.Reply] = []
    async with connected(unsolicited_callback=seen.append) as (mount, controller):
        stream = mount.unsolicited()
        task = asyncio.create_task(mount.run(move()))
        cmd = await controller.next_command()
        await controller.send(UNSOLICITED[0], UNSOLICITED[1])
        await controller.ack(cmd)
        await controller.send(UNSOLICITED[2], UNSOLICITED[3])
        await controller.done(cmd)
        received = [await asyncio.wait_for(anext(stream), T) for _ in UNSOLICITED]
        assert received == list(UNSOLICITED)
        assert seen == list(UNSOLICITED)
        await asyncio.wait_for(task, T)
    # Closing the client ends the iteration normally.
    assert [r async for r in stream] == []


async def test_unsolicited_iteration_raises_after_connection_loss() -> None:
    async with connected() as (mount, controller):
        stream = mount.unsolicited()
        await controller.send(UNSOLICITED[3])
        await controller.communicator.close()
        assert await asyncio.wait_for(anext(stream), T) == UNSOLICITED[3]
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(anext(stream), T)
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        late = mount.unsolicited()
        with pytest.raises(ConnectionClosedError):
            await anext(late)


async def test_garbage_frame_does_not_kill_the_client() -> None:
    async with connected() as (mount, controller):
        stream = mount.unsolicited()
        task = asyncio.create_task(mount.run(move()))
        cmd = await controller.next_command()
        writer = controller.communicator.client_writer
        assert writer is not None
        writer.write(b"garbage\nframe\r\n" + b"\xff\xfe\r\n" + b"0\n1\r\n")
        await controller.send(UNSOLICITED[2])
        assert await asyncio.wait_for(anext(stream), T) == UNSOLICITED[2]
        assert mount.protocol_errors == 3
        await controller.ack(cmd)
        await controller.done(cmd)
        await asyncio.wait_for(task, T)
        assert mount.connected


async def test_unknown_sequence_id_is_counted_not_fatal() -> None:
    async with connected() as (mount, controller):
        await controller.send(replies.AckReply(sequence_id=999), replies.DoneReply(sequence_id=998))
        await run_answered(mount, controller)
        assert mount.unknown_replies == 2


# --- life cycle and misuse -------------------------------------------------------------


async def test_connect_timeout_and_send_before_start(unit: float) -> None:
    peer = Communicator("controller", HOST, 0, HOST, 0, None, read_replies=False, connect=False)
    try:
        command_port = await asyncio.wait_for(peer.wait_server_port(), T)
        # The controller never connects back to the reply port: start times out.
        mount = MountClient(
            HOST, command_port, reply_host=HOST, reply_port=0, connect_timeout=4 * unit
        )
        with pytest.raises(RuntimeError, match="not started"):
            await mount.send(move())
        with pytest.raises(TimeoutError) as info:
            async with mount:
                pass
        message = str(info.value)
        assert f"connected to {HOST}:{command_port}" in message
        assert f"did not connect back to reply port {mount.reply_port}" in message
        assert not mount.connected
        with pytest.raises(ConnectionClosedError):
            await mount.send(move())
    finally:
        await peer.close()


def test_managed_options_are_refused() -> None:
    async def make() -> None:
        MountClient(HOST, 1, connect=True)

    with pytest.raises(TypeError, match="manages"):
        asyncio.run(make())


async def test_unsolicited_callback_errors_are_logged_not_raised() -> None:
    def broken(reply: replies.Reply) -> None:
        raise RuntimeError("callback bug")

    seen: list[replies.Reply] = []
    async with connected() as (mount, controller):
        mount.add_unsolicited_callback(broken)
        mount.add_unsolicited_callback(seen.append)
        async with mount.unsolicited() as stream:
            await controller.send(UNSOLICITED[0], UNSOLICITED[1])
            assert await asyncio.wait_for(anext(stream), T) == UNSOLICITED[0]
            assert await asyncio.wait_for(anext(stream), T) == UNSOLICITED[1]
        with pytest.raises(StopAsyncIteration):  # unsubscribed
            await anext(stream)
        mount.remove_unsolicited_callback(broken)
        mount.remove_unsolicited_callback(broken)  # not registered: nothing happens
        assert seen == [UNSOLICITED[0], UNSOLICITED[1]]
        assert mount.connected


async def test_close_while_connecting() -> None:
    peer = Communicator("controller", HOST, 0, HOST, 0, None, read_replies=False, connect=False)
    try:
        command_port = await asyncio.wait_for(peer.wait_server_port(), T)
        mount = MountClient(HOST, command_port, reply_host=HOST, reply_port=0)
        starting = asyncio.create_task(mount.start())
        await asyncio.wait_for(peer.server.wait_connected(), T)  # our command socket is up
        await asyncio.wait_for(mount.close(), T)
        with pytest.raises(ConnectionClosedError, match="closed before it connected"):
            await asyncio.wait_for(starting, T)
        with pytest.raises(ConnectionClosedError):
            await mount.start()
        assert mount.start_task.cancelled()
    finally:
        await peer.close()


async def test_reply_port_in_use_fails_start() -> None:
    taken = await asyncio.start_server(lambda r, w: None, HOST, 0)
    try:
        port = taken.sockets[0].getsockname()[1]
        mount = MountClient(HOST, port, reply_host=HOST, reply_port=port)
        with pytest.raises(OSError):
            async with mount:
                pass
        assert mount.start_task.done()
    finally:
        taken.close()
        await taken.wait_closed()


async def test_connect_timeout_names_host_and_port(unit: float) -> None:
    port = unused_port()  # a port where nothing listens
    mount = MountClient(HOST, port, reply_host=HOST, reply_port=0, connect_timeout=4 * unit)
    with pytest.raises(TimeoutError, match=rf"no connection to {HOST}:{port} within") as info:
        await mount.start()
    assert not isinstance(info.value, CommandTimeout)
    assert mount.state is ClientState.LOST
    await mount.close()
    assert mount.state is ClientState.CLOSED


async def test_tcp_keepalive_reaches_both_connections() -> None:
    async with connected(tcp_keepalive=3.0) as (mount, _controller):
        comm = mount.communicator
        for writer in (comm.client_writer, comm.server_writer):
            assert writer is not None
            sock = writer.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 3


async def test_tcp_user_timeout_reaches_both_connections() -> None:
    async with connected(tcp_user_timeout=3.0) as (mount, _controller):
        comm = mount.communicator
        for writer in (comm.client_writer, comm.server_writer):
            assert writer is not None
            sock = writer.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 3000


async def test_states_of_one_life() -> None:
    async with connected() as (mount, controller):
        assert mount.state is ClientState.CONNECTED
        stream = mount.unsolicited()
        await controller.communicator.close()
        with pytest.raises(ConnectionClosedError):  # the client ended: so did the stream
            await asyncio.wait_for(anext(stream), T)
        assert mount.state is ClientState.LOST
        with pytest.raises(ConnectionClosedError) as info:
            await mount.wait_connected()
        assert isinstance(info.value.__cause__, ConnectionError)
    assert mount.state is ClientState.CLOSED


async def test_lost_command_connection_fails_commands_with_its_first_cause() -> None:
    async with connected() as (mount, controller):
        futures = await mount.send(move())
        await controller.next_command()
        # The controller drops the command connection (EOF to the client's socket).
        await controller.communicator.server.close_client()
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(futures.wait(), T)
        # Chained to the cause recorded when the connection ended, not to a stand-in.
        assert isinstance(info.value.__cause__, PeerClosedError)
        assert info.value.__cause__ is mount.communicator.cause
        with pytest.raises(ConnectionClosedError) as waited:
            await mount.wait_connected()
        assert waited.value.__cause__ is mount.communicator.cause


async def test_lost_reply_connection_hands_out_earlier_replies_then_fails_with_its_cause() -> None:
    async with connected() as (mount, controller):
        first = await mount.send(move(1.0))
        second = await mount.send(move(2.0))
        cmd1, _cmd2 = await controller.commands(2)
        await controller.ack(cmd1)
        await controller.done(cmd1)
        await controller.communicator.close_client()  # EOF after the replies
        await asyncio.wait_for(first.wait(), T)  # its replies arrived before the end
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(second.wait(), T)
        assert isinstance(info.value.__cause__, PeerClosedError)


async def test_a_connected_client_runs_no_task_and_replies_resolve_commands() -> None:
    before = asyncio.all_tasks()
    async with connected() as (mount, controller):
        await run_answered(mount, controller)
        # The old client kept a read task (and its Communicator a monitor task).
        assert asyncio.all_tasks() <= before
