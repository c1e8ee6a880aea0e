"""Communicator over real loopback sockets: messages, bad input, connection loss."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm import Communicator
from mountcomm.exceptions import ConnectionClosedError, FrameTooLongError, ProtocolError
from mountcomm.protocol import commands, replies

from .helpers import STD_TIMEOUT, StateWatcher, connected_communicators, reset


async def read(comm: Communicator) -> object:
    return await asyncio.wait_for(comm.read(), timeout=STD_TIMEOUT)


async def test_messages_both_ways() -> None:
    async with connected_communicators() as (console, controller):
        cmd = commands.ElevationAxisMove(sequence_id=7, position=45.5, velocity=1)
        await console.write(cmd)
        assert await read(controller) == cmd
        ack = replies.AckReply(sequence_id=7, timeout_ms=1234)
        await controller.write(ack)
        assert await read(console) == ack


async def test_many_messages_in_one_chunk_arrive_in_order() -> None:
    async with connected_communicators() as (console, controller):
        sent = [replies.DoneReply(sequence_id=i) for i in range(1, 2001)]
        for reply in sent:
            await controller.write(reply)
        received = [await read(console) for _ in sent]
        assert received == sent


@pytest.mark.parametrize(
    "garbage",
    [
        b"1\n1\n1\n2020-02-27T14:48:27.469\r\n",  # MOVE_TO_TARGET: a code with no class
        b"1\n99999\n1\n2020-02-27T14:48:27.469\r\n",  # unknown code
        b"1\n403\n1\n2020-02-27T14:48:27.469\nnot-a-float\n0\n0\n0\r\n",  # bad value
        b"1\n403\n1\r\n",  # wrong field count
        b"\xff\xfe\n403\r\n",  # not UTF-8
        b"\r\n",  # empty frame
    ],
)
async def test_bad_frame_raises_protocol_error_and_stream_stays_in_sync(garbage: bytes) -> None:
    async with connected_communicators() as (console, controller):
        good = commands.AzimuthAxisPower(sequence_id=3, on=True)
        assert console.client_writer is not None
        console.client_writer.write(garbage + good.encode())
        with pytest.raises(ProtocolError) as info:
            await read(controller)
        assert isinstance(info.value, ValueError)
        assert info.value.frame is not None
        assert await read(controller) == good


async def test_frame_too_long_is_skipped_and_memory_bounded() -> None:
    async with connected_communicators(max_frame_bytes=1024) as (console, controller):
        assert console.client_writer is not None
        good = commands.ElevationAxisStop(sequence_id=9)
        console.client_writer.write(b"x" * 200_000)
        await console.client_writer.drain()
        console.client_writer.write(b"\r\n" + good.encode())
        with pytest.raises(FrameTooLongError):
            await read(controller)
        assert controller._decoder.buffered <= 1024
        assert await read(controller) == good


async def test_read_raises_connection_error_when_peer_closes() -> None:
    watcher = StateWatcher()
    async with connected_communicators(watcher) as (console, controller):
        last = replies.DoneReply(sequence_id=1)
        await controller.write(last)
        await controller.close()
        # Data sent before the close is still delivered, then the loss is reported.
        assert await read(console) == last
        with pytest.raises(ConnectionError):
            await read(console)
        await watcher.wait_for(lambda: not console.client_connected)
        assert not console.server_connected and not console.connected


async def test_read_raises_connection_error_on_reset() -> None:
    async with connected_communicators() as (console, controller):
        assert controller.client_writer is not None
        reading = asyncio.create_task(console.read())
        await asyncio.sleep(0)  # let the read start waiting
        reset(controller.client_writer)
        with pytest.raises(ConnectionError) as info:
            await asyncio.wait_for(reading, timeout=STD_TIMEOUT)
        assert isinstance(info.value, ConnectionClosedError)


async def test_read_and_write_when_not_connected() -> None:
    comm = Communicator("lonely", None, 0, "127.0.0.1", 0, None, read_replies=True, connect=False)
    try:
        await comm.wait_server_port()
        with pytest.raises(ConnectionClosedError):
            await comm.read()
        with pytest.raises(ConnectionClosedError):
            await comm.write(commands.Enable())
    finally:
        await comm.close()


async def test_concurrent_read_is_refused() -> None:
    async with connected_communicators() as (console, _controller):
        first = asyncio.create_task(console.read())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already in progress"):
            await console.read()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first


async def test_cancelled_read_loses_nothing() -> None:
    async with connected_communicators() as (console, controller):
        waiting = asyncio.create_task(console.read())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        reply = replies.DoneReply(sequence_id=5)
        await controller.write(reply)
        assert await read(console) == reply


async def test_unexpected_data_on_client_socket_is_discarded() -> None:
    async with connected_communicators() as (console, controller):
        # The controller writes on its *server* socket, i.e. the console's client socket.
        assert controller.server_writer is not None
        controller.server_writer.write(b"z" * 1_000_000)
        await controller.server_writer.drain()
        # The console keeps working and its client reader does not hoard the bytes.
        cmd = commands.Enable(sequence_id=2)
        await console.write(cmd)
        assert await read(controller) == cmd
        assert console.client_reader is not None
        assert len(console.client_reader._buffer) <= 512 * 1024  # type: ignore[attr-defined]


async def test_async_iteration_skips_bad_frames_and_ends_on_close() -> None:
    async with connected_communicators() as (console, controller):
        assert controller.client_writer is not None
        controller.client_writer.write(b"77\r\n")
        await controller.write(replies.DoneReply(sequence_id=1))
        await controller.write(replies.DoneReply(sequence_id=2))
        got = []
        async with asyncio.timeout(STD_TIMEOUT):
            async for message in console:
                got.append(message)
                if len(got) == 2:
                    await controller.close()
        assert [m.sequence_id for m in got] == [1, 2]  # type: ignore[attr-defined]


async def test_write_after_peer_closed_raises() -> None:
    watcher = StateWatcher()
    async with connected_communicators(watcher) as (console, controller):
        await controller.close()
        await watcher.wait_for(lambda: not console.client_connected)
        with pytest.raises(ConnectionClosedError):
            await console.write(commands.Enable())


async def test_high_water_write_drains() -> None:
    async with connected_communicators(write_high_water=0) as (console, controller):
        cmd = commands.Enable(sequence_id=1)
        await console.write(cmd)
        assert await read(controller) == cmd


async def test_close_leaves_no_task_and_is_idempotent() -> None:
    before = asyncio.all_tasks()
    async with connected_communicators() as (console, controller):
        await controller.write(replies.DoneReply(sequence_id=1))
        await read(console)
        reader = asyncio.create_task(console.read())
        await asyncio.sleep(0)
    # Closing while a read waits ends that read with ConnectionError.
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(reader, STD_TIMEOUT)
    await console.close()
    await controller.close()
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert not [t for t in left if not t.done()]
    assert console.done_task.done() and controller.done_task.done()
