"""The Communicator's fast path: chunk-wise decoding, no helper task, streams still usable."""

from __future__ import annotations

import asyncio
import gc

import pytest

from mountcomm import OneClientServer
from mountcomm.exceptions import ConnectionClosedError, ProtocolError
from mountcomm.net.communicator import PAUSE_AT_FRAMES
from mountcomm.net.link_server import start_link_server, stop_link_server
from mountcomm.net.streams import RECEIVE_BUFFER_BYTES, Link
from mountcomm.protocol import commands, replies
from tests.timing import T

from .helpers import LOCAL_HOST, connected_communicators, reset


async def test_a_connected_pair_runs_no_helper_task() -> None:
    before = asyncio.all_tasks()
    async with connected_communicators() as (console, controller):
        # Both connections of both sides are up, data flows both ways.
        await controller.write(replies.DoneReply(sequence_id=1))
        await asyncio.wait_for(console.read(), T)
        await console.write(commands.Enable(sequence_id=2))
        await asyncio.wait_for(controller.read(), T)
        extra = asyncio.all_tasks() - before
        assert extra == set(), extra  # the old Communicator ran a monitor task per pair


async def test_every_frame_of_a_chunk_is_read_without_waiting() -> None:
    async with connected_communicators() as (console, controller):
        assert controller.client_writer is not None
        frames = [replies.DoneReply(sequence_id=i).encode() for i in range(1, 101)]
        controller.client_writer.write(b"".join(frames))  # one chunk
        first = await asyncio.wait_for(console.read(), T)
        assert first.sequence_id == 1  # type: ignore[attr-defined]
        for expected in range(2, 101):
            coro = console.read()
            with pytest.raises(StopIteration) as done:
                coro.send(None)  # the frame is already decoded: no suspension
            assert done.value.value.sequence_id == expected


async def test_write_does_not_wait_while_the_transport_is_not_full() -> None:
    async with connected_communicators() as (console, controller):
        coro = console.write(commands.Enable(sequence_id=1))
        with pytest.raises(StopIteration):
            coro.send(None)  # no drain, no suspension
        assert (await asyncio.wait_for(controller.read(), T)).sequence_id == 1  # type: ignore[attr-defined]


async def test_a_flood_pauses_reading_and_every_frame_arrives_in_order() -> None:
    n = 3 * PAUSE_AT_FRAMES
    async with connected_communicators() as (console, controller):

        async def flood() -> None:
            for i in range(1, n + 1):
                await controller.write(replies.DoneReply(sequence_id=i))

        sender = asyncio.create_task(flood())
        try:
            most = 0
            for expected in range(1, n + 1):
                reply = await asyncio.wait_for(console.read(), T)
                assert reply.sequence_id == expected  # type: ignore[attr-defined]
                most = max(most, console.buffered_frames)
            await asyncio.wait_for(sender, T)
        finally:
            sender.cancel()
        # Bounded: the socket stops being read once PAUSE_AT_FRAMES are waiting
        # (plus what one read of the socket, at most RECEIVE_BUFFER_BYTES, brings).
        frame = len(replies.DoneReply(sequence_id=1).encode())
        assert most < PAUSE_AT_FRAMES + RECEIVE_BUFFER_BYTES // frame


async def test_server_reader_still_works_for_code_that_reads_the_stream() -> None:
    async with connected_communicators() as (console, controller):
        await controller.write(replies.DoneReply(sequence_id=1))
        assert (await asyncio.wait_for(console.read(), T)).sequence_id == 1  # type: ignore[attr-defined]
        # Old-style code takes the stream and reads it itself ...
        reader = console.server_reader
        assert reader is not None
        second = replies.DoneReply(sequence_id=2)
        await controller.write(second)
        line = await asyncio.wait_for(reader.readuntil(b"\r\n"), T)
        assert line == second.encode()
        # ... and read() takes it back, with whatever the stream still buffers.
        await controller.write(replies.DoneReply(sequence_id=3))
        await controller.write(replies.DoneReply(sequence_id=4))
        got = [await asyncio.wait_for(console.read(), T) for _ in range(2)]
        assert [m.sequence_id for m in got] == [3, 4]  # type: ignore[attr-defined]


async def test_a_reset_ends_reads_after_the_frames_before_it_with_the_reset_as_cause() -> None:
    async with connected_communicators() as (console, controller):
        await controller.write(replies.DoneReply(sequence_id=1))
        assert (await asyncio.wait_for(console.read(), T)).sequence_id == 1  # type: ignore[attr-defined]
        assert controller.client_writer is not None
        reset(controller.client_writer)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(console.read(), T)
        assert isinstance(info.value.__cause__, ConnectionResetError)
        assert info.value.__cause__ is console.server.cause


async def test_messages_flow_without_any_stream_object() -> None:
    def streams() -> int:
        return sum(
            isinstance(o, asyncio.StreamReader | asyncio.StreamWriter) for o in gc.get_objects()
        )

    gc.collect()
    before = streams()
    async with connected_communicators() as (console, controller):
        for i in range(1, 4):
            await controller.write(replies.DoneReply(sequence_id=i))
            assert (await asyncio.wait_for(console.read(), T)).sequence_id == i  # type: ignore[attr-defined]
            await console.write(commands.Enable(sequence_id=i))
            assert (await asyncio.wait_for(controller.read(), T)).sequence_id == i  # type: ignore[attr-defined]
        gc.collect()
        assert streams() <= before  # the old links each held a StreamReader and a StreamWriter


async def test_streams_made_late_see_what_came_before_and_the_end() -> None:
    async with OneClientServer("server", LOCAL_HOST, 0, None) as server:
        _, writer = await asyncio.open_connection(LOCAL_HOST, server.port)
        await asyncio.wait_for(server.wait_connected(), T)
        link = server.link
        assert link is not None
        writer.write(b"before\r\n")
        writer.close()  # data, then EOF, before anyone asked for the reader
        await writer.wait_closed()
        await asyncio.wait_for(asyncio.shield(link.lost), T)
        late = link.reader
        assert await asyncio.wait_for(late.readuntil(b"\r\n"), T) == b"before\r\n"
        assert await asyncio.wait_for(late.read(), T) == b""  # EOF reached it too


async def test_a_late_writer_drains_while_the_peer_does_not_read() -> None:
    async with OneClientServer("server", LOCAL_HOST, 0, None) as server:
        reader, writer = await asyncio.open_connection(LOCAL_HOST, server.port)
        await asyncio.wait_for(server.wait_connected(), T)
        link = server.link
        out = server.writer  # made now, long after the connection
        assert link is not None and out is not None
        out.transport.set_write_buffer_limits(high=1024)
        chunk = b"x" * 65536
        for _ in range(1000):  # fill the socket buffers until the transport pauses
            out.write(chunk)
            if link.write_paused:
                break
        assert link.write_paused  # so drain must wait ...
        draining = asyncio.ensure_future(out.drain())
        received = 0
        while not draining.done():  # ... until the peer reads
            reading = asyncio.ensure_future(reader.read(1 << 20))
            first = asyncio.FIRST_COMPLETED
            done, _ = await asyncio.wait({draining, reading}, timeout=T, return_when=first)
            assert done, "neither the drain nor the peer's read ended"
            if reading.done():
                received += len(reading.result())
            else:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        await draining
        assert received > 0 and not link.write_paused
        writer.close()
        await writer.wait_closed()


async def test_a_consumer_gets_every_message_and_bad_frame_in_order() -> None:
    got: list[object] = []
    async with connected_communicators() as (console, controller):
        await controller.write(replies.DoneReply(sequence_id=1))  # read() first ...
        assert (await asyncio.wait_for(console.read(), T)).sequence_id == 1  # type: ignore[attr-defined]
        done = asyncio.Event()

        def consumer(item: object) -> None:
            got.append(item)
            if len(got) == 3:
                done.set()
                console.consume(None)

        console.consume(consumer)  # ... then a consumer
        with pytest.raises(RuntimeError, match="consumer"):
            await console.read()
        await controller.write(replies.DoneReply(sequence_id=2))
        await controller.write(b"77\r\n")  # not a reply
        await controller.write(replies.DoneReply(sequence_id=3))
        await controller.write(replies.DoneReply(sequence_id=4))  # after consume(None)
        await asyncio.wait_for(done.wait(), T)
        assert got[0].sequence_id == 2  # type: ignore[attr-defined]
        assert isinstance(got[1], ProtocolError)
        assert got[2].sequence_id == 3  # type: ignore[attr-defined]
        assert (await asyncio.wait_for(console.read(), T)).sequence_id == 4  # type: ignore[attr-defined]


async def test_one_read_hands_on_at_most_read_bytes() -> None:
    """A flood arrives in reads of at most `RECEIVE_BUFFER_BYTES`, however fast it comes: the
    objects decoded from one read, hence the memory they take at once, stay bounded."""
    sizes: list[int] = []
    received = asyncio.Event()
    total = 1 << 20

    def sink(data: bytes) -> None:
        sizes.append(len(data))
        if sum(sizes) >= total:
            received.set()

    def accept(link: Link) -> None:
        link.take_input(sink)

    server = await start_link_server(accept, LOCAL_HOST, 0)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(LOCAL_HOST, server.sockets[0].getsockname()[1]), T
        )
        try:
            writer.write(b"x" * total)
            await asyncio.wait_for(received.wait(), T)
        finally:
            writer.close()
    finally:
        await stop_link_server(server)
    assert sum(sizes) == total and max(sizes) <= RECEIVE_BUFFER_BYTES


async def test_a_fault_of_the_parser_is_a_protocol_error_and_the_connection_carries_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Frames are parsed as they arrive: a parser bug must not end the connection."""
    import mountcomm.net.communicator as communicator_module

    real_parse = communicator_module.parse_reply

    def faulty_parse(fields: list[str]) -> object:
        if fields[1] == "13":  # sequence_id 13: the parser fails with a non-protocol error
            raise RuntimeError("parser bug")
        return real_parse(fields)

    monkeypatch.setattr(communicator_module, "parse_reply", faulty_parse)
    async with connected_communicators() as (console, controller):
        await controller.write(replies.DoneReply(sequence_id=13))
        with pytest.raises(ProtocolError) as info:
            await asyncio.wait_for(console.read(), T)
        assert isinstance(info.value.__cause__, RuntimeError)
        await controller.write(replies.DoneReply(sequence_id=14))
        message = await asyncio.wait_for(console.read(), T)
        assert message.sequence_id == 14  # type: ignore[attr-defined]
        assert console.server_connected


async def test_links_sharing_the_receive_buffer_keep_their_bytes_apart() -> None:
    """Every link of a thread reads into one buffer; each read's bytes are copied out."""
    async with (
        connected_communicators() as (console_a, controller_a),
        connected_communicators() as (console_b, controller_b),
    ):
        n = 2000
        for i in range(1, n + 1):  # both flows interleaved, each larger than a read
            await controller_a.write(replies.DoneReply(sequence_id=i))
            await controller_b.write(replies.AckReply(sequence_id=i))
        for i in range(1, n + 1):
            a = await asyncio.wait_for(console_a.read(), T)
            b = await asyncio.wait_for(console_b.read(), T)
            assert isinstance(a, replies.DoneReply) and a.sequence_id == i
            assert isinstance(b, replies.AckReply) and b.sequence_id == i


def _holds(value: object, error: BaseException) -> bool:
    return value is error or (isinstance(value, list) and any(x is error for x in value))


async def test_a_raised_bad_frame_closes_no_reference_cycle() -> None:
    """The error `read` raises is held by no frame of its own traceback (nor by the
    queue such a frame holds): a cycle there would keep each chunk of a flood of bad
    frames alive until the garbage collector runs (hundreds of MiB in the chaos fuzz)."""
    async with connected_communicators() as (console, controller):
        await controller.write(b"garbage\r\n")
        await controller.write(replies.DoneReply(sequence_id=1))
        with pytest.raises(ProtocolError) as info:
            await asyncio.wait_for(console.read(), T)
        error = info.value
        tb = error.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename.endswith("communicator.py"):
                held = [name for name, v in frame.f_locals.items() if _holds(v, error)]
                assert not held, f"{frame.f_code.co_name} holds the error in {held}"
            tb = tb.tb_next
        assert not _holds(console._pending, error)
        assert (await asyncio.wait_for(console.read(), T)).sequence_id == 1  # type: ignore[attr-defined]
