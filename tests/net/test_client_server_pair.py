"""ClientServerPair and OneClientServer over real loopback sockets."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from typing import Any

import pytest
import structlog

from mountcomm import ClientServerPair, OneClientServer
from mountcomm.net import connector as csp_module
from mountcomm.sockets import TcpKeepalive, coerce_keepalive
from tests.ports import unused_port
from tests.timing import UNIT

from .helpers import LOCAL_HOST, STD_TIMEOUT, StateWatcher


async def make_pair_of_pairs(
    watcher: StateWatcher | None = None, **kwargs: Any
) -> tuple[ClientServerPair, ClientServerPair]:
    pair1 = ClientServerPair("pair1", None, 0, LOCAL_HOST, 0, None, False, watcher, **kwargs)
    pair2 = ClientServerPair("pair2", None, 0, LOCAL_HOST, 0, None, False, watcher, **kwargs)
    async with asyncio.timeout(STD_TIMEOUT):
        await pair1.wait_server_port()
        await pair2.wait_server_port()
        await asyncio.gather(
            pair1.connect(port=pair2.server_port), pair2.connect(port=pair1.server_port)
        )
    return pair1, pair2


async def check_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for data in (b"a string", rb"a\nstring\inwith\nnewlines", b"a long string " * 500):
        writer.write(data + b"\r\n")
        await writer.drain()
        got = await asyncio.wait_for(reader.readuntil(b"\r\n"), STD_TIMEOUT)
        assert got[:-2] == data


async def test_raw_streams_both_ways() -> None:
    watcher = StateWatcher()
    pair1, pair2 = await make_pair_of_pairs(watcher)
    try:
        assert len(watcher.calls) == 4
        for reader, writer in (
            (pair1.client_reader, pair2.server_writer),
            (pair1.server_reader, pair2.client_writer),
            (pair2.client_reader, pair1.server_writer),
            (pair2.server_reader, pair1.client_writer),
        ):
            assert reader is not None and writer is not None
            await check_stream(reader, writer)
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


async def test_async_connect_callback_is_awaited_and_failures_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[bool] = []
    done = asyncio.Event()

    async def callback(pair: ClientServerPair) -> None:
        seen.append(pair.connected)
        if len(seen) == 4:
            done.set()
        raise RuntimeError("callback failure must not escape")

    log = logging.getLogger("test_callback")
    pair1 = ClientServerPair("p1", None, 0, LOCAL_HOST, 0, log, False, callback)
    pair2 = ClientServerPair("p2", None, 0, LOCAL_HOST, 0, log, False, callback)
    try:
        async with asyncio.timeout(STD_TIMEOUT):
            await pair1.wait_server_port()
            await pair2.wait_server_port()
            await asyncio.gather(
                pair1.connect(port=pair2.server_port), pair2.connect(port=pair1.server_port)
            )
            await done.wait()
        assert seen.count(True) >= 1
    finally:
        await asyncio.gather(pair1.close(), pair2.close())
    assert "connect_callback_failed" in caplog.text


async def test_sync_callback_exception_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def callback(pair: ClientServerPair) -> None:
        raise ValueError("boom")

    log = logging.getLogger("test_sync_callback")
    pair = ClientServerPair("p", None, 0, LOCAL_HOST, 0, log, False, callback)
    other = ClientServerPair("o", None, 0, LOCAL_HOST, 0, None, False)
    try:
        async with asyncio.timeout(STD_TIMEOUT):
            await pair.wait_server_port()
            await other.wait_server_port()
            await asyncio.gather(
                pair.connect(port=other.server_port), other.connect(port=pair.server_port)
            )
    finally:
        await asyncio.gather(pair.close(), other.close())
    assert "connect_callback_failed" in caplog.text and "boom" in caplog.text


async def test_connect_retries_when_every_address_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """client_host=None resolving to several refusing addresses is retried, not fatal."""
    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo

    async def two_addresses(host: Any, port: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))
            v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))
            return [v6, v4]
        return await real_getaddrinfo(host, port, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", two_addresses)
    attempts = 0
    third_attempt = asyncio.Event()
    real_open_link = csp_module.open_link

    async def counting_open_link(*args: Any, **kwargs: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            third_attempt.set()
        return await real_open_link(*args, **kwargs)

    monkeypatch.setattr(csp_module, "open_link", counting_open_link)
    port = unused_port()
    pair = ClientServerPair("retrying", None, port, LOCAL_HOST, 0, None, connect=False)
    pair.connect_retry_interval = 0.01
    try:
        connecting = asyncio.create_task(pair.connect_client())
        await asyncio.wait_for(third_attempt.wait(), STD_TIMEOUT)
        assert not connecting.done()  # still retrying after two "all addresses refused"
        accepted: list[asyncio.StreamWriter] = []
        server = await asyncio.start_server(lambda r, w: accepted.append(w), LOCAL_HOST, port)
        async with server:
            await asyncio.wait_for(connecting, STD_TIMEOUT)
            assert pair.client_connected
            await pair.close()
            for writer in accepted:
                writer.close()
                await writer.wait_closed()
    finally:
        await pair.close()


async def test_connect_timeout_raises_timeout_error() -> None:
    pair = ClientServerPair(
        "timeout", LOCAL_HOST, unused_port(), LOCAL_HOST, 0, None, False, connect_timeout=0.2 * UNIT
    )
    pair.connect_retry_interval = 0.02
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(pair.connect(), STD_TIMEOUT)
    finally:
        await pair.close()


async def test_connect_task_started_by_constructor() -> None:
    watcher = StateWatcher()
    pair1 = ClientServerPair("a", None, 0, LOCAL_HOST, 0, None, False, watcher)
    await asyncio.wait_for(pair1.wait_server_port(), STD_TIMEOUT)
    pair2 = ClientServerPair("b", None, pair1.server_port, LOCAL_HOST, 0, None, True, watcher)
    try:
        await asyncio.wait_for(pair2.wait_server_port(), STD_TIMEOUT)
        await asyncio.wait_for(pair1.connect(port=pair2.server_port), STD_TIMEOUT)
        await asyncio.wait_for(pair2.connect_task, STD_TIMEOUT)
        assert pair1.connected and pair2.connected
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


def test_connect_true_without_port_is_a_clear_error() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="client_port"):
            ClientServerPair("x", None, 0, LOCAL_HOST, 0, None, connect=True)

    asyncio.run(main())


def test_constructing_without_running_loop_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        ClientServerPair("x", None, 0, LOCAL_HOST, 0, None, connect=False)


async def test_close_right_after_peer_hung_up() -> None:
    """close() one loop iteration after the peer hung up neither raises nor leaks."""
    pair1, pair2 = await make_pair_of_pairs()
    await pair2.close()
    await asyncio.sleep(0)
    await pair1.close()
    assert pair1.done_task.done() and pair2.done_task.done()
    with pytest.raises(OSError):
        await asyncio.open_connection(LOCAL_HOST, pair1.server_port)


@pytest.mark.parametrize("iterations", [0, 1, 2, 3, 5, 8])
async def test_close_at_every_moment_of_start_up(iterations: int) -> None:
    pair1 = ClientServerPair("early", None, 0, LOCAL_HOST, 0, None, connect=False)
    pair2 = ClientServerPair("early2", None, 0, LOCAL_HOST, 0, None, connect=False)
    connecting = asyncio.create_task(pair1.connect(port=unused_port()))
    for _ in range(iterations):
        await asyncio.sleep(0)
    await asyncio.gather(pair1.close(), pair2.close())
    await pair1.close()  # idempotent
    with pytest.raises((ConnectionError, asyncio.CancelledError, OSError)):
        await asyncio.wait_for(connecting, STD_TIMEOUT)
    assert pair1.done_task.done() and pair2.done_task.done()


async def test_reconnect_after_disconnect() -> None:
    watcher = StateWatcher()
    pair1, pair2 = await make_pair_of_pairs(watcher)
    try:
        # pair2's server drops pair1's client: pair1 notices without anyone reading.
        await pair2.server.close_client()
        await watcher.wait_for(lambda: not pair1.client_connected)
        await asyncio.wait_for(pair1.connect(), STD_TIMEOUT)
        assert pair1.connected and pair2.connected
        assert pair1.client_reader is not None and pair2.server_writer is not None
        await check_stream(pair1.client_reader, pair2.server_writer)
        assert pair1.client_connected_task.done()
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


async def test_loss_is_seen_on_both_sides() -> None:
    watcher = StateWatcher()
    pair1, pair2 = await make_pair_of_pairs(watcher)
    try:
        await pair1.close()
        await watcher.wait_for(lambda: not pair2.client_connected and not pair2.server_connected)
        names = [name for name, _, _ in watcher.calls[4:]]
        assert "pair2" in names
    finally:
        await pair2.close()


async def test_second_client_is_refused_and_first_unaffected() -> None:
    server = OneClientServer("one", LOCAL_HOST, 0, None)
    try:
        await asyncio.wait_for(server.start_task, STD_TIMEOUT)
        r1, w1 = await asyncio.open_connection(LOCAL_HOST, server.port)
        await asyncio.wait_for(server.wait_connected(), STD_TIMEOUT)
        r2, w2 = await asyncio.open_connection(LOCAL_HOST, server.port)
        assert await asyncio.wait_for(r2.read(), STD_TIMEOUT) == b""  # closed at once
        w2.close()
        await w2.wait_closed()
        assert server.connected
        assert server.writer is not None and server.reader is not None
        server.writer.write(b"still here\r\n")
        assert await asyncio.wait_for(r1.readuntil(b"\r\n"), STD_TIMEOUT) == b"still here\r\n"
        w1.write(b"and back\r\n")
        assert await asyncio.wait_for(server.reader.readuntil(b"\r\n"), STD_TIMEOUT) == (
            b"and back\r\n"
        )
        w1.close()
        await w1.wait_closed()
    finally:
        await server.close()
    assert server.done_task.done()


async def test_client_connected_task_asked_for_after_connecting_is_done() -> None:
    """Made when first asked for: done at once if the client has connected; never replaced."""
    pair1, pair2 = await make_pair_of_pairs()
    try:
        task = pair1.client_connected_task
        assert task.done() and task.result() is None
        await pair1.close_client()
        assert pair1.client_connected_task is task  # connected once: stays done
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


async def test_client_connected_task_asked_for_first_is_done_on_connecting() -> None:
    pair1 = ClientServerPair("asked", None, 0, LOCAL_HOST, 0, None, connect=False)
    pair2 = ClientServerPair("asked2", None, 0, LOCAL_HOST, 0, None, connect=False)
    try:
        task = pair1.client_connected_task
        assert not task.done()
        async with asyncio.timeout(STD_TIMEOUT):
            pair1.client_port = await pair2.wait_server_port()
            await pair1.connect_client()
            await task
        assert pair1.client_connected_task is task
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


@pytest.mark.parametrize("asked_before_close", [False, True])
async def test_done_task_whenever_asked_for(asked_before_close: bool) -> None:
    """``done_task`` is made when first asked for, done once closed, never replaced."""
    server = OneClientServer("done", LOCAL_HOST, 0, None)
    await asyncio.wait_for(server.start_task, STD_TIMEOUT)
    early = server.done_task if asked_before_close else None
    if early is not None:
        assert not early.done()
    await server.close()
    task = server.done_task
    assert task.done() and task.result() is None
    assert early is None or early is task
    assert server.done_task is task


async def test_pairs_with_equal_link_options_share_them() -> None:
    pairs = [
        ClientServerPair("a", None, 0, LOCAL_HOST, 0, None, connect=False),
        ClientServerPair("b", None, 0, LOCAL_HOST, 0, None, connect=False),
        ClientServerPair("c", None, 0, LOCAL_HOST, 0, None, connect=False, limit=2**12),
        ClientServerPair("d", None, 0, LOCAL_HOST, 0, None, connect=False, tcp_keepalive=None),
    ]
    try:
        a, b, c, d = (pair.connector.options for pair in pairs)
        assert a is b
        assert (c.limit, c.keepalive) == (2**12, a.keepalive) and c is not a
        assert (d.limit, d.keepalive) == (a.limit, None) and d is not a
    finally:
        await asyncio.gather(*(pair.close() for pair in pairs))


async def test_server_wait_connected_fails_on_close() -> None:
    server = OneClientServer("waiting", LOCAL_HOST, 0, None)
    await server.start_task
    waiting = asyncio.create_task(server.wait_connected())
    await asyncio.sleep(0)
    await server.close()
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(waiting, STD_TIMEOUT)


async def test_server_bind_failure_is_reported_by_wait_server_port() -> None:
    with socket.socket() as taken:
        taken.bind((LOCAL_HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        pair = ClientServerPair("clash", None, 0, LOCAL_HOST, port, None, connect=False)
        try:
            with pytest.raises(OSError):
                await asyncio.wait_for(pair.wait_server_port(), STD_TIMEOUT)
        finally:
            await pair.close()


async def test_server_host_none_listens_on_all_interfaces() -> None:
    server = OneClientServer("all", None, 0, None)
    try:
        await asyncio.wait_for(server.start_task, STD_TIMEOUT)
        assert server.port != 0
        for host in ("127.0.0.1", "::1"):
            _, writer = await asyncio.open_connection(host, server.port)
            await asyncio.wait_for(server.wait_connected(), STD_TIMEOUT)
            writer.close()
            await writer.wait_closed()
            await server.close_client()
    finally:
        await server.close()


async def test_ipv6_hosts() -> None:
    pair1 = ClientServerPair("v6a", "::1", 0, "::1", 0, None, connect=False)
    pair2 = ClientServerPair("v6b", "::1", 0, "::1", 0, None, connect=False)
    try:
        async with asyncio.timeout(STD_TIMEOUT):
            await pair1.wait_server_port()
            await pair2.wait_server_port()
            await asyncio.gather(
                pair1.connect(port=pair2.server_port), pair2.connect(port=pair1.server_port)
            )
        assert pair1.connected and pair2.connected
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


async def test_async_context_manager_and_structlog_logger() -> None:
    log = structlog.get_logger("test")
    async with ClientServerPair("cm", None, 0, LOCAL_HOST, 0, log, connect=False) as pair:
        assert pair.server_port != 0
        assert "cm" in repr(pair)
    assert pair.done_task.done()


async def test_close_client_does_not_call_callback() -> None:
    watcher = StateWatcher()
    pair1, pair2 = await make_pair_of_pairs(watcher)
    try:
        before = [c for c in watcher.calls if c[0] == "pair1"]
        await pair1.close_client()
        assert not pair1.client_connected
        assert [c for c in watcher.calls if c[0] == "pair1"] == before
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


def test_keepalive_number_keeps_its_old_meaning() -> None:
    """A number is the idle time; probes every third of it (at least 1 s), 3 probes."""
    assert coerce_keepalive(30) == TcpKeepalive(idle=30, interval=10, count=3)
    short = coerce_keepalive(0.2)
    assert short is not None and short.detection_time == 1 + 1 * 3
    with pytest.raises(ValueError):
        coerce_keepalive(0)


async def test_tcp_keepalive_is_set_on_both_connections() -> None:
    pair1, pair2 = await make_pair_of_pairs(tcp_keepalive=9)
    try:
        for pair in (pair1, pair2):
            for writer in (pair.client_writer, pair.server_writer):
                assert writer is not None
                sock = writer.get_extra_info("socket")
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 9
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
        with pytest.raises(ValueError):
            ClientServerPair("bad", None, 0, LOCAL_HOST, 0, None, False, tcp_keepalive=-1)
    finally:
        await asyncio.gather(pair1.close(), pair2.close())


async def test_close_waits_for_refused_connections_to_close() -> None:
    server = OneClientServer("busy", LOCAL_HOST, 0, None)
    writers = []
    try:
        await asyncio.wait_for(server.start_task, STD_TIMEOUT)
        for _ in range(2):
            _, writer = await asyncio.open_connection(LOCAL_HOST, server.port)
            writers.append(writer)
        await asyncio.wait_for(server.wait_connected(), STD_TIMEOUT)
    finally:
        await server.close()
        for writer in writers:
            writer.close()
            await writer.wait_closed()
    assert not server._refused


@pytest.mark.parametrize("iterations", [0, 1, 2, 3])
async def test_close_while_a_connection_is_being_accepted_leaks_nothing(iterations: int) -> None:
    """A connection accepted by the kernel as the server closes is closed, not leaked."""
    for _ in range(5):
        server = OneClientServer("closing", LOCAL_HOST, 0, None)
        await asyncio.wait_for(server.start_task, STD_TIMEOUT)
        with socket.create_connection((LOCAL_HOST, server.port)):
            for _ in range(iterations):
                await asyncio.sleep(0)
            await server.close()
        assert not server.connected and not server._refused
    gc.collect()  # an unclosed transport would now be reported (warnings are errors)
