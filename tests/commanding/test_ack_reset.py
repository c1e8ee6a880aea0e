"""An ACK timeout resets the command connection, so a timed-out command never runs later.

The controller here is a raw asyncio peer on 127.0.0.1, port 0, that accepts the
command connection but does not read it (its transport is paused and its receive
buffer small): the commands sent stay queued in the client's kernel and
transport, as during a network partition. After the ACK timeout the peer must see
a reset (not a FIN) and must never receive the queued commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mountcomm import ClientServerPair, MountClient
from mountcomm.commanding import ClientState
from mountcomm.exceptions import CommandTimeout, ConnectionClosedError
from mountcomm.protocol import commands, replies
from tests.timing import UNIT

HOST = "127.0.0.1"
T = 5 * UNIT  # bound on any wait for the peer [s]
N = 500  # commands queued behind the one that times out (about 40 KiB: no drain)
PEER_RCVBUF = 4096  # the peer's receive buffer [bytes] (Linux doubles it)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class RawController:
    """Accepts command connections (queued, unread) and connects back to the reply port."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[Streams] = asyncio.Queue()
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.reply_writer: asyncio.StreamWriter | None = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.transport.pause_reading()  # read only when the test says so
        self.writers.append(writer)
        await self.connections.put((reader, writer))

    async def start(self) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PEER_RCVBUF)  # inherited
        sock.bind((HOST, 0))
        self.server = await asyncio.start_server(self._accept, sock=sock)
        port: int = sock.getsockname()[1]
        return port

    async def connect_back(self, reply_port: int) -> None:
        _, self.reply_writer = await asyncio.open_connection(HOST, reply_port)

    async def next_connection(self) -> Streams:
        return await asyncio.wait_for(self.connections.get(), T)

    async def close(self) -> None:
        for writer in [*self.writers, self.reply_writer]:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@contextlib.asynccontextmanager
async def client_and_raw_controller(
    **options: Any,
) -> AsyncIterator[tuple[MountClient, RawController, Streams]]:
    controller = RawController()
    try:
        port = await controller.start()
        mount = MountClient(HOST, port, reply_host=HOST, reply_port=0, **options)
        try:
            async with asyncio.timeout(T):
                await controller.connect_back(await mount.wait_reply_port())
                await mount.start()
            yield mount, controller, await controller.next_connection()
        finally:
            await mount.close()
    finally:
        await controller.close()


async def read_until_closed(streams: Streams) -> tuple[bytes, BaseException | None]:
    """Resume reading; return everything the peer still gets and how the stream ended."""
    reader, writer = streams
    writer.transport.resume_reading()  # type: ignore[attr-defined]
    received = b""
    try:
        while data := await asyncio.wait_for(reader.read(65536), T):
            received += data
    except ConnectionError as e:
        return received, e
    return received, None


def move(position: float) -> commands.Command:
    return commands.ElevationAxisMove(position=position)


async def test_ack_timeout_resets_and_queued_commands_never_arrive(unit: float) -> None:
    async with client_and_raw_controller(ack_timeout=4 * unit) as (mount, _, streams):
        sent = [await mount.send(move(float(i))) for i in range(N)]
        results = await asyncio.wait_for(
            asyncio.gather(*(f.wait() for f in sent), return_exceptions=True), T
        )
        assert all(isinstance(r, CommandTimeout) for r in results), results
        assert all(r.delivered == "unknown" for r in results)  # type: ignore[union-attr]
        assert "no ACK" in str(results[0])
        # Those whose own deadline had not yet passed failed with the reset, chained to it.
        for result in results:
            if "no ACK" not in str(result):
                assert "outcome unknown" in str(result)
                assert isinstance(result.__cause__, CommandTimeout)
                assert "no ACK" in str(result.__cause__)

        # The peer reads only now: a reset, and none of the queued commands after it.
        received, ending = await read_until_closed(streams)
        assert isinstance(ending, ConnectionResetError), ending
        assert received.count(b"\r\n") < N

        assert mount.state is ClientState.LOST  # no auto_reconnect: one connection, one life
        assert not mount.connected
        with pytest.raises(ConnectionClosedError) as info:
            await mount.send(move(1.0))
        assert isinstance(info.value.__cause__, CommandTimeout)


async def test_ack_timeout_then_auto_reconnect(unit: float) -> None:
    options = {"ack_timeout": 4 * unit, "auto_reconnect": True}
    async with client_and_raw_controller(**options) as (mount, controller, streams):
        states = [mount.state]
        timed_out = await mount.send(move(1.0))
        with pytest.raises(CommandTimeout) as info:
            await asyncio.wait_for(timed_out.wait(), T)
        assert info.value.delivered == "unknown"
        states.append(mount.state)
        _, ending = await read_until_closed(streams)
        assert isinstance(ending, ConnectionResetError), ending

        # The client connects again; the controller reads and answers this time.
        new_reader, new_writer = await controller.next_connection()
        new_writer.transport.resume_reading()  # type: ignore[attr-defined]
        await asyncio.wait_for(mount.wait_connected(), T)
        states.append(mount.state)
        mount.tracker.ack_timeout = T  # the new connection's commands: no hurry
        futures = await mount.send(commands.Enable())
        line = await asyncio.wait_for(new_reader.readuntil(b"\r\n"), T)
        assert str(futures.sequence_id).encode() in line
        assert futures.sequence_id != timed_out.sequence_id
        writer = controller.reply_writer
        assert writer is not None
        writer.write(replies.AckReply(sequence_id=futures.sequence_id).encode())
        writer.write(replies.DoneReply(sequence_id=futures.sequence_id).encode())
        assert await asyncio.wait_for(futures.wait(), T) == 0.0
        assert states == [ClientState.CONNECTED, ClientState.RECONNECTING, ClientState.CONNECTED]


async def test_done_timeout_keeps_the_connection(unit: float) -> None:
    async with client_and_raw_controller(done_margin=2 * unit) as (mount, controller, streams):
        reader, peer_writer = streams
        peer_writer.transport.resume_reading()  # type: ignore[attr-defined]
        futures = await mount.send(move(1.0))
        await asyncio.wait_for(reader.readuntil(b"\r\n"), T)
        writer = controller.reply_writer
        assert writer is not None
        writer.write(replies.AckReply(sequence_id=futures.sequence_id, timeout_ms=0).encode())
        with pytest.raises(CommandTimeout, match="no DONE") as info:
            await asyncio.wait_for(futures.wait(), T)
        assert info.value.delivered == "yes"
        assert mount.state is ClientState.CONNECTED
        # The same command connection still carries commands.
        follow_up = await mount.send(commands.Enable())
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), T)
        assert str(follow_up.sequence_id).encode() in line
        writer.write(replies.DoneReply(sequence_id=follow_up.sequence_id).encode())
        await asyncio.wait_for(follow_up.wait(), T)


async def test_abort_client_resets_and_reports_the_loss() -> None:
    controller = RawController()
    lost = asyncio.Event()
    try:
        port = await controller.start()
        pair = ClientServerPair(
            "pair",
            HOST,
            port,
            HOST,
            0,
            None,
            connect=False,
            connect_callback=lambda p: None if p.client_connected else lost.set(),
        )
        try:
            await asyncio.wait_for(pair.connect_client(), T)
            streams = await controller.next_connection()
            writer = pair.client_writer
            assert writer is not None
            sock = writer.get_extra_info("socket")
            writer.write(b"queued\r\n" * 10_000)  # far more than the peer's buffer
            pair.abort_client()
            linger = sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)
            assert struct.unpack("ii", linger) == (1, 0)  # on, 0 s: close sends RST
            pair.abort_client()  # not connected any more: nothing happens
            assert not pair.client_connected
            received, ending = await read_until_closed(streams)
            assert isinstance(ending, ConnectionResetError), ending
            assert received.count(b"\r\n") < 10_000
            await asyncio.wait_for(lost.wait(), T)  # the ordinary loss path ran
        finally:
            await pair.close()
    finally:
        await controller.close()
