"""GatewayConnection against a small scripted HTTP server on 127.0.0.1 (real sockets)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mountcomm.registry.cluster.gateway import (
    STREAM_HIGH_WATER,
    GatewayClosed,
    GatewayConnection,
    GatewayReply,
    GatewayStream,
    Mode,
)
from mountcomm.registry.cluster.http import HttpProtocolError
from tests.timing import UNIT

T = 5 * UNIT
"""Bound on every wait for the peer [s]."""


class Peer:
    """The server side of one accepted connection, driven by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> tuple[str, dict[str, Any]]:
        """The next request's path and JSON body."""
        async with asyncio.timeout(T):
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ")
            assert (method, version) == ("POST", "HTTP/1.1")
            headers = dict(line.split(": ", 1) for line in lines[1:] if line)
            body = await self.reader.readexactly(int(headers["Content-Length"]))
        return path, json.loads(body)

    def respond(self, body: bytes, status: int = 200) -> None:
        self.writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )

    def start_stream(self, status: int = 200) -> None:
        self.writer.write(f"HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n".encode())

    def chunk(self, data: bytes) -> None:
        self.writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    async def wait_closed_by_client(self) -> None:
        """Wait until the client has ended the connection (EOF or reset)."""
        async with asyncio.timeout(T):
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionError:
                pass


class FakeGateway:
    """A TCP server on 127.0.0.1 port 0 that hands each connection to the test."""

    def __init__(self) -> None:
        self.port = 0
        self._peers: asyncio.Queue[Peer] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def peer(self) -> Peer:
        async with asyncio.timeout(T):
            return await self._peers.get()

    async def connect(self, timeout: float = T) -> tuple[GatewayConnection, Peer]:
        connection = await GatewayConnection.open("127.0.0.1", self.port, timeout=timeout)
        return connection, await self.peer()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._peers.put(Peer(reader, writer))
        try:
            await self._stop.wait()
        finally:
            writer.transport.abort()


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    server = FakeGateway()
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def as_json(reply: GatewayReply) -> tuple[int, Any]:
    return reply.status, json.loads(reply.body)


# ---- pipelined requests ---------------------------------------------------------------


async def test_pipelined_requests_are_all_written_before_any_answer(
    gateway: FakeGateway,
) -> None:
    connection, peer = await gateway.connect()
    try:
        order: list[int] = []
        futures = [connection.request(f"/r/{i}", {"i": i}, as_json) for i in range(5)]
        for i, future in enumerate(futures):
            future.add_done_callback(lambda _, i=i: order.append(i))
        assert connection.in_flight == 5
        # the server reads all five requests while none has been answered
        assert [await peer.read_request() for _ in range(5)] == [
            (f"/r/{i}", {"i": i}) for i in range(5)
        ]
        assert not any(f.done() for f in futures)
        for i in range(5):
            peer.respond(json.dumps({"answer": i}).encode())
        async with asyncio.timeout(T):
            results = await asyncio.gather(*futures)
        assert results == [(200, {"answer": i}) for i in range(5)]
        assert order == [0, 1, 2, 3, 4]
        assert connection.in_flight == 0 and not connection.closed
    finally:
        connection.close()


async def test_a_decode_that_raises_fails_only_its_future(gateway: FakeGateway) -> None:
    def picky(reply: GatewayReply) -> bytes:
        if reply.body == b"bad":
            raise ValueError("cannot decode")
        return reply.body

    connection, peer = await gateway.connect()
    try:
        futures = [connection.request("/x", {}, picky) for _ in range(3)]
        for body in (b"good", b"bad", b"fine"):
            await peer.read_request()
            peer.respond(body)
        async with asyncio.timeout(T):
            results = await asyncio.gather(*futures, return_exceptions=True)
        assert results[0] == b"good" and results[2] == b"fine"
        assert isinstance(results[1], ValueError)
        assert not connection.closed
    finally:
        connection.close()


async def test_a_non_200_answer_goes_to_decode(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        future = connection.request("/x", {}, lambda reply: reply)
        await peer.read_request()
        peer.respond(b'{"error":"nope","code":5}', status=404)
        async with asyncio.timeout(T):
            assert await future == GatewayReply(404, b'{"error":"nope","code":5}')
    finally:
        connection.close()


async def test_no_answer_in_time_ends_the_connection(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect(timeout=0.2)
    try:
        futures = [connection.request("/x", {}, as_json) for _ in range(3)]
        # the peer reads nothing: after the timeout its buffered requests may be reset away
        for future in futures:
            with pytest.raises(GatewayClosed, match=r"did not answer within 0\.2 s"):
                async with asyncio.timeout(T):
                    await future
        assert connection.closed
        await peer.wait_closed_by_client()
        with pytest.raises(GatewayClosed, match="did not answer"):
            connection.request("/x", {}, as_json)
    finally:
        connection.close()


async def test_each_answer_restarts_the_timer(gateway: FakeGateway) -> None:
    """Answers that come in time keep the connection, and the next one is timed anew.

    The timeout leaves the first answer a full second: a loaded machine must
    not turn "in time" into "late".
    """
    connection, peer = await gateway.connect(timeout=1.0 * UNIT)
    try:
        first = connection.request("/x", {}, as_json)
        await peer.read_request()
        peer.respond(b"1")
        async with asyncio.timeout(T):
            assert await first == (200, 1)
        second = connection.request("/x", {}, as_json)
        await peer.read_request()  # never answered
        with pytest.raises(GatewayClosed, match="did not answer"):
            async with asyncio.timeout(T):
                await second
    finally:
        connection.close()


async def test_peer_close_fails_pending(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        futures = [connection.request("/x", {}, as_json) for _ in range(2)]
        await peer.read_request()
        peer.writer.close()
        for future in futures:
            with pytest.raises(GatewayClosed, match="closed the connection"):
                async with asyncio.timeout(T):
                    await future
        assert connection.closed
    finally:
        connection.close()


async def test_peer_reset_fails_pending_chained_to_the_cause(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        future = connection.request("/x", {}, as_json)
        await peer.read_request()
        peer.writer.transport.abort()  # a reset, were data still unread; else an EOF
        with pytest.raises(GatewayClosed, match="closed the connection") as caught:
            async with asyncio.timeout(T):
                await future
        cause = caught.value.__cause__
        assert cause is None or isinstance(cause, ConnectionError)
    finally:
        connection.close()


async def test_garbage_from_the_peer_fails_pending_chained_to_the_cause(
    gateway: FakeGateway,
) -> None:
    connection, peer = await gateway.connect()
    try:
        futures = [connection.request("/x", {}, as_json) for _ in range(2)]
        await peer.read_request()
        peer.writer.write(b"SMTP ready\r\n\r\n")
        for future in futures:
            with pytest.raises(GatewayClosed, match="cannot follow") as caught:
                async with asyncio.timeout(T):
                    await future
            assert isinstance(caught.value.__cause__, HttpProtocolError)
            assert "status line" in str(caught.value.__cause__)
        await peer.wait_closed_by_client()
    finally:
        connection.close()


async def test_an_unrequested_answer_ends_the_connection(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        future = connection.request("/x", {}, as_json)
        await peer.read_request()
        peer.respond(b"1")
        peer.respond(b"2")  # nobody asked
        async with asyncio.timeout(T):
            assert await future == (200, 1)
        await peer.wait_closed_by_client()
        assert connection.closed
        with pytest.raises(GatewayClosed, match="cannot follow"):
            connection.request("/x", {}, as_json)
    finally:
        connection.close()


async def test_close_is_idempotent_and_fails_pending(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    futures = [connection.request("/x", {}, as_json) for _ in range(3)]
    connection.close()
    connection.close()
    assert connection.closed and connection.in_flight == 0
    for future in futures:
        with pytest.raises(GatewayClosed, match="was closed"):
            await future
    with pytest.raises(GatewayClosed, match="was closed"):
        connection.request("/x", {}, as_json)
    with pytest.raises(GatewayClosed, match="was closed"):
        await connection.stream("/w", {})
    await peer.wait_closed_by_client()


async def test_a_cancelled_request_leaves_the_others_in_order(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        futures = [connection.request("/x", {}, as_json) for _ in range(3)]
        futures[1].cancel()
        for i in range(3):
            await peer.read_request()
            peer.respond(str(i).encode())
        async with asyncio.timeout(T):
            assert await futures[0] == (200, 0)
            assert await futures[2] == (200, 2)
        assert connection.in_flight == 0 and not connection.closed
    finally:
        connection.close()


# ---- streams -------------------------------------------------------------------------
async def open_stream(connection: GatewayConnection, peer: Peer) -> GatewayStream:
    """Open a stream on ``connection``, which ``peer`` starts (200, chunked)."""
    opening = asyncio.ensure_future(connection.stream("/v3/watch", {}))
    await peer.read_request()
    peer.start_stream()
    async with asyncio.timeout(T):
        return await opening


async def test_stream_yields_json_lines_across_chunks(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        opening = asyncio.ensure_future(connection.stream("/v3/watch", {"create": 1}))
        assert await peer.read_request() == ("/v3/watch", {"create": 1})
        peer.start_stream()
        peer.chunk(b'{"a":1}\n{"b"')  # a chunk boundary inside a line
        peer.chunk(b":2}\n\n")  # and an empty line, skipped
        peer.chunk(b'{"c":')
        peer.chunk(b"3}\n")
        peer.chunk(b'{"d":4}')  # the last line needs no newline
        peer.writer.write(b"0\r\n\r\n")
        async with asyncio.timeout(T):
            stream = await opening
            messages = [message async for message in stream]
        assert messages == [{"a": 1}, {"b": 2}, {"c": 3}, {"d": 4}]
        assert stream.status == 200
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
    finally:
        connection.close()


async def test_stream_raises_when_the_connection_drops(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        opening = asyncio.ensure_future(connection.stream("/v3/watch", {}))
        await peer.read_request()
        peer.start_stream()
        peer.chunk(b'{"a":1}\n')
        async with asyncio.timeout(T):
            stream = await opening
            assert await anext(stream) == {"a": 1}
        waiting = asyncio.ensure_future(anext(stream))
        peer.writer.transport.abort()
        with pytest.raises(GatewayClosed, match="closed the connection"):
            async with asyncio.timeout(T):
                await waiting
        with pytest.raises(GatewayClosed):  # and again
            await anext(stream)
    finally:
        connection.close()


async def test_close_ends_a_stream_with_gateway_closed(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    stream = await open_stream(connection, peer)
    waiting = asyncio.ensure_future(anext(stream))
    connection.close()
    with pytest.raises(GatewayClosed, match="was closed"):
        async with asyncio.timeout(T):
            await waiting


async def test_a_stream_message_that_is_not_json_ends_the_connection(
    gateway: FakeGateway,
) -> None:
    connection, peer = await gateway.connect()
    try:
        stream = await open_stream(connection, peer)
        peer.chunk(b"[1, 2]\n")
        with pytest.raises(GatewayClosed, match="not an object") as caught:
            async with asyncio.timeout(T):
                await anext(stream)
        assert isinstance(caught.value.__cause__, HttpProtocolError)
        await peer.wait_closed_by_client()
    finally:
        connection.close()


async def test_a_non_200_stream_start_raises(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        opening = asyncio.ensure_future(connection.stream("/v3/watch", {}))
        await peer.read_request()
        peer.respond(b'{"error":"denied"}', status=403)
        with pytest.raises(GatewayClosed, match=r"refused the stream: HTTP 403.*denied"):
            async with asyncio.timeout(T):
                await opening
    finally:
        connection.close()


async def test_stream_needs_a_connection_of_its_own(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        pending = connection.request("/x", {}, as_json)
        with pytest.raises(RuntimeError, match="connection of its own"):
            await connection.stream("/v3/watch", {})
        await peer.read_request()
        peer.respond(b"1")
        async with asyncio.timeout(T):
            assert await pending == (200, 1)
        assert connection.mode is Mode.REQUESTS
        await open_stream(connection, peer)
        assert connection.mode is Mode.STREAM
        with pytest.raises(RuntimeError, match="carries a stream"):
            connection.request("/x", {}, as_json)
        with pytest.raises(RuntimeError, match="connection of its own"):
            await connection.stream("/v3/watch", {})
    finally:
        connection.close()


async def test_reading_pauses_at_the_high_water_mark_and_resumes(gateway: FakeGateway) -> None:
    connection, peer = await gateway.connect()
    try:
        stream = await open_stream(connection, peer)
        transport = connection._transport
        assert transport is not None and transport.is_reading()
        count = STREAM_HIGH_WATER + 10
        peer.chunk(b"".join(b'{"n":%d}\n' % i for i in range(count)))  # one chunk: all at once
        async with asyncio.timeout(T):
            assert await anext(stream) == {"n": 0}
        assert not transport.is_reading()  # count - 1 messages wait to be consumed
        for n in range(1, count - STREAM_HIGH_WATER // 2):
            assert not transport.is_reading(), n
            assert await anext(stream) == {"n": n}
        assert transport.is_reading()  # down to half the high-water mark
        peer.chunk(b'{"n":"more"}\n')
        async with asyncio.timeout(T):
            rest = [await anext(stream) for _ in range(STREAM_HIGH_WATER // 2 + 1)]
        assert rest[-1] == {"n": "more"}
        assert rest[0] == {"n": count - STREAM_HIGH_WATER // 2}
    finally:
        connection.close()


async def test_open_to_a_closed_port_raises_oserror(gateway: FakeGateway) -> None:
    port = gateway.port
    await gateway.close()
    with pytest.raises(OSError):
        await GatewayConnection.open("127.0.0.1", port, timeout=T)


def _never_paused() -> None:
    raise AssertionError("reading is never paused here")


def test_a_long_stream_line_in_many_chunks_is_searched_in_linear_time() -> None:
    """Each byte of a streamed line is searched for its end a bounded number of times,
    however it is split (the stream's lines come from `mountcomm.protocol.lines`)."""
    line = json.dumps({"pad": "p" * 200_000}).encode() + b"\n"
    stream = GatewayStream(1 << 20, pause=_never_paused, resume=lambda: None)
    for i in range(0, len(line), 1000):
        stream.feed(line[i : i + 1000])
    assert stream._messages.popleft() == {"pad": "p" * 200_000}
    # searching from the start of the line on every chunk would scan ~len(line)**2 / 2000
    assert stream._lines.scanned_bytes <= 3 * len(line)


@pytest.mark.parametrize("cut", [1, 7, 1000])
def test_a_stream_line_over_the_limit_is_a_protocol_error_however_split(cut: int) -> None:
    stream = GatewayStream(100, pause=_never_paused, resume=lambda: None)
    stream.feed(b'{"ok": 1}\r\n')
    assert stream._messages.popleft() == {"ok": 1}
    line = json.dumps({"pad": "p" * 100}).encode() + b"\n"
    with pytest.raises(HttpProtocolError, match="streamed message longer than 100 bytes"):
        for i in range(0, len(line), cut):
            stream.feed(line[i : i + cut])
