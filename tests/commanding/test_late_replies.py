"""A late reply to an earlier connection's command never resolves a newer command.

Real sockets on 127.0.0.1, port 0: a scripted controller (a `Communicator` in the
controller role) answers a previous connection's sequence id late, after the
client reconnected (same `MountClient`, ``auto_reconnect``) or after a new client
replaced the old one (as a new `mountcomm command` process would).
"""

from __future__ import annotations

import asyncio

import pytest

from mountcomm import Communicator, MountClient
from mountcomm.commanding import ClientState
from mountcomm.exceptions import ConnectionClosedError
from mountcomm.protocol import commands, replies
from mountcomm.protocol.commands import Command
from mountcomm.testing.harness import mount_client_with_peer
from tests.timing import UNIT

HOST = "127.0.0.1"
T = 5 * UNIT  # bound on any wait for the peer [s]
LONG = 60.0  # a command timeout that never fires during a test [s]
MARKER = replies.OnStateInfoReply(description="marker", timestamp=1.0e9)


async def next_command(peer: Communicator) -> Command:
    message = await asyncio.wait_for(peer.read(), T)
    assert isinstance(message, Command)
    return message


async def late_replies_then_marker(mount: MountClient, peer: Communicator, old_id: int) -> None:
    """Send an ACK and a DONE for ``old_id``; return once the client has handled them."""
    async with mount.unsolicited() as stream:
        await peer.write(replies.AckReply(sequence_id=old_id, timeout_ms=10))
        await peer.write(replies.DoneReply(sequence_id=old_id))
        await peer.write(MARKER)
        # Replies are handled in order: once the marker is here, so are the others.
        assert await asyncio.wait_for(anext(stream), T) == MARKER


async def finish(peer: Communicator, cmd: Command) -> None:
    await peer.write(replies.AckReply(sequence_id=cmd.sequence_id, timeout_ms=0))
    await peer.write(replies.DoneReply(sequence_id=cmd.sequence_id))


async def test_late_reply_after_reconnection_is_unknown() -> None:
    options = {"ack_timeout": LONG, "done_margin": LONG, "auto_reconnect": True}
    async with mount_client_with_peer(timeout=T, **options) as (mount, peer):
        states = [mount.state]
        old = await mount.send(commands.ElevationAxisMove(position=60))
        old_cmd = await next_command(peer)
        # The controller drops our command connection: the old command fails ...
        await peer.server.close_client()
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(old.wait(), T)
        states.append(mount.state)
        async with asyncio.timeout(T):  # ... and the client connects again.
            await mount.wait_connected()
            await peer.server.wait_connected()
        states.append(mount.state)
        new = await mount.send(commands.AzimuthAxisMove(position=10))
        new_cmd = await next_command(peer)
        assert new_cmd.sequence_id != old_cmd.sequence_id
        assert new_cmd.sequence_id not in mount.tracker._ids.retired[0]

        await late_replies_then_marker(mount, peer, old_cmd.sequence_id)
        assert not new.ack.done()  # the old DONE did not finish the new move
        assert mount.unknown_replies == 2
        assert mount.in_flight == 1

        await finish(peer, new_cmd)
        assert await asyncio.wait_for(new.wait(), T) == 0.0
        assert states == [ClientState.CONNECTED, ClientState.RECONNECTING, ClientState.CONNECTED]


async def test_late_reply_to_a_previous_client_is_unknown() -> None:
    """A new client (as a new process would) never takes an old client's reply."""
    peer = Communicator("controller", HOST, 0, HOST, 0, None, read_replies=False, connect=False)

    async def new_client() -> MountClient:
        mount = MountClient(HOST, command_port, reply_host=HOST, reply_port=0, ack_timeout=LONG)
        async with asyncio.timeout(T):
            reply_port = await mount.wait_reply_port()
            await asyncio.gather(mount.start(), peer.connect(port=reply_port))
        return mount

    try:
        command_port = await asyncio.wait_for(peer.wait_server_port(), T)
        first = await new_client()
        try:
            abandoned = await first.send(commands.ElevationAxisMove(position=60))
            old_cmd = await next_command(peer)
        finally:
            await first.close()  # goes away without an answer
        with pytest.raises(ConnectionClosedError):
            await abandoned.wait()

        second = await new_client()
        try:
            futures = await second.send(commands.AzimuthAxisMove(position=10))
            cmd = await next_command(peer)
            # Ids start at a random value per connection: equal with a chance of 1 in 2**31.
            assert cmd.sequence_id != old_cmd.sequence_id
            # The controller answers the first client's command late, to the second.
            await late_replies_then_marker(second, peer, old_cmd.sequence_id)
            assert not futures.ack.done()
            assert second.unknown_replies == 2
            await finish(peer, cmd)
            await asyncio.wait_for(futures.wait(), T)
        finally:
            await second.close()
    finally:
        await peer.close()
