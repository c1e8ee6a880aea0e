"""A client accepted while the previous client's end is still being reported.

asyncio reports a transport's end (``connection_lost``) one callback after the
transport starts closing; a new client's connection may be accepted in between.
The server must then report the old connection lost (with its cause) before the
new one up, and a read waiting on the old connection must go on with the new one.
Here that window is made on purpose: the old server-side transport is aborted and
the new link is handed to the server in the same loop step, as the loop's accept
would when both events come in one poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from mountcomm import Communicator, OneClientServer
from mountcomm.net.changes import Change, ConnectionChange
from mountcomm.net.streams import DEFAULT_STREAM_LIMIT, Link, LinkProtocol
from mountcomm.protocol import commands
from tests.timing import T

from .helpers import LOCAL_HOST


@contextlib.asynccontextmanager
async def accepted_link() -> AsyncIterator[tuple[Link, socket.socket]]:
    """A link as the server's accept makes it, and the socket of its peer."""
    loop = asyncio.get_running_loop()
    ours, peer = socket.socketpair()
    made: asyncio.Future[Link] = loop.create_future()
    try:
        await loop.connect_accepted_socket(
            lambda: LinkProtocol(Link(DEFAULT_STREAM_LIMIT), made.set_result), ours
        )
        link = await asyncio.wait_for(made, T)
        try:
            yield link, peer
        finally:
            link.close()
            await link.wait_closed()
    finally:
        peer.close()


async def connect_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(LOCAL_HOST, port), T)


async def test_the_old_end_is_reported_before_the_new_client() -> None:
    changes: list[Change] = []
    async with OneClientServer("handover", LOCAL_HOST, 0, None) as server:

        def note(change: ConnectionChange) -> None:
            changes.append(change.kind)

        server.add_change_listener(note)
        _, writer = await connect_raw(server.port)
        try:
            await asyncio.wait_for(server.wait_connected(), T)
            old = server.link
            assert old is not None
            async with accepted_link() as (new, _peer):
                old.transport.abort()  # closing; its end is reported a callback later
                server._accept(new)  # the loop accepts the next client in between
                assert changes == [Change.SERVER_UP]  # nothing of the old end yet
                await asyncio.wait_for(old.wait_closed(), T)
                for _ in range(3):  # the loss and the hand-over take a callback each
                    await asyncio.sleep(0)
                assert changes == [Change.SERVER_UP, Change.SERVER_LOST, Change.SERVER_UP]
                assert server.link is new and server.connected
        finally:
            writer.close()


async def test_a_waiting_read_goes_on_with_the_next_client() -> None:
    async with Communicator(
        "handover", LOCAL_HOST, 0, LOCAL_HOST, 0, None, read_replies=False, connect=False
    ) as comm:
        port = await asyncio.wait_for(comm.wait_server_port(), T)
        _, writer = await connect_raw(port)
        try:
            await asyncio.wait_for(comm.server.wait_connected(), T)
            old = comm.server.link
            assert old is not None
            reading = asyncio.create_task(comm.read())
            await asyncio.sleep(0)  # one loop turn: the read waits on the old connection
            assert not reading.done()
            async with accepted_link() as (new, peer):
                old.transport.abort()
                comm.server._accept(new)
                command = commands.Enable(sequence_id=7)
                peer.sendall(command.encode())
                try:
                    # The old end comes first: the read raises it, as for any hang-up.
                    with pytest.raises(ConnectionError):
                        await asyncio.wait_for(asyncio.shield(reading), T)
                    got = await asyncio.wait_for(comm.read(), T)
                finally:
                    reading.cancel()
                assert got == command
        finally:
            writer.close()
