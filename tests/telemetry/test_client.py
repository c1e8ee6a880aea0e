"""TelemetryClient over real sockets against the simulator's TelemetryServer."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

import mountcomm
from mountcomm import sim
from mountcomm.exceptions import ConnectionClosedError
from mountcomm.sim.telemetry import TelemetryServer
from mountcomm.telemetry import TelemetryClient, TelemetryTopicId
from tests.timing import UNIT

T = 10 * UNIT  # bound on every wait for the peer [s]


@pytest.fixture
async def server() -> AsyncIterator[TelemetryServer]:
    server = TelemetryServer("127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


def samples(topics: tuple[int, ...], ticks: range) -> list[dict[str, Any]]:
    return [{"topicID": t, "timestamp": float(tick)} for tick in ticks for t in topics]


async def publish_and_wait(
    server: TelemetryServer, client: TelemetryClient, batch: list[dict[str, Any]]
) -> None:
    """Publish ``batch`` and wait until ``client`` has read all of it."""
    target = client.count + len(batch)
    server.publish(batch)
    while client.count < target:  # checked and waited on in one step: no race
        await asyncio.wait_for(client.next_sample(), T)


async def connected(server: TelemetryServer, **kwargs: Any) -> TelemetryClient:
    client = TelemetryClient("127.0.0.1", server.port, **kwargs)
    await asyncio.wait_for(client.start(), T)
    await asyncio.wait_for(server.wait_client_count(lambda n: n >= 1), T)
    return client


def test_top_level_names() -> None:
    assert mountcomm.TelemetryClient is TelemetryClient
    assert mountcomm.TelemetryTopicId is TelemetryTopicId
    assert sim.TelemetryClient is TelemetryClient  # the simulator's old name still works
    assert "TelemetryClient" in dir(mountcomm)


async def test_a_late_consumer_gets_current_samples_not_the_backlog(
    server: TelemetryServer,
) -> None:
    client = await connected(server)
    try:
        # 100 ticks of two topics arrive before anybody iterates.
        await publish_and_wait(server, client, samples((6, 15), range(100)))
        iterator = aiter(client)
        first = [await asyncio.wait_for(anext(iterator), T) for _ in range(2)]
        assert first == [{"topicID": 6, "timestamp": 99.0}, {"topicID": 15, "timestamp": 99.0}]
        assert client.dropped == 198
        # Falling behind later: only the newest of each topic is yielded.
        await publish_and_wait(server, client, samples((6, 15), range(100, 150)))
        nxt = [await asyncio.wait_for(anext(iterator), T) for _ in range(2)]
        assert [s["timestamp"] for s in nxt] == [149.0, 149.0]
        # A consumer that keeps up sees every sample, in order.
        for tick in range(150, 153):
            server.publish(samples((6,), range(tick, tick + 1)))
            assert (await asyncio.wait_for(anext(iterator), T))["timestamp"] == tick
        await iterator.aclose()
    finally:
        await client.close()


async def test_keep_backlog_yields_every_sample_in_order(server: TelemetryServer) -> None:
    client = await connected(server, keep_backlog=True, queue_size=50)
    try:
        await publish_and_wait(server, client, samples((6, 15), range(40)))
        iterator = aiter(client)
        got = [await asyncio.wait_for(anext(iterator), T) for _ in range(50)]
        assert [(s["timestamp"], s["topicID"]) for s in got] == [
            (float(tick), t) for tick in range(15, 40) for t in (6, 15)
        ]  # the queue holds 50: the 30 oldest were dropped
        assert client.dropped == 30
        await iterator.aclose()
    finally:
        await client.close()


async def test_iteration_ends_after_the_buffered_samples_when_the_stream_closes(
    server: TelemetryServer,
) -> None:
    client = await connected(server)
    await publish_and_wait(server, client, samples((5, 14), range(3)))
    await server.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(client.next_sample(), T)
    assert [s["topicID"] async for s in client] == [5, 14]
    await client.close()
    await client.close()  # idempotent


async def test_misuse_and_bad_arguments() -> None:
    client = TelemetryClient(None, 1)
    with pytest.raises(RuntimeError, match="start"):
        await client.next_sample()
    with pytest.raises(RuntimeError, match="start"):
        await anext(aiter(client))
    await client.close()
    for kwargs in ({"port": 70000}, {"port": -1}, {"queue_size": 0}, {"connect_timeout": 0}):
        with pytest.raises(ValueError):
            TelemetryClient(None, **{"port": 1, **kwargs})


def refusing_port() -> socket.socket:
    """A bound socket that does not listen yet: connections to it are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_refused_without_connect_timeout_raises_at_once() -> None:
    with refusing_port() as sock:
        client = TelemetryClient("127.0.0.1", sock.getsockname()[1])
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(client.start(), T)
        await client.close()


async def test_connect_timeout_retries_then_names_host_and_port() -> None:
    with refusing_port() as sock:
        port = sock.getsockname()[1]
        client = TelemetryClient("127.0.0.1", port, connect_timeout=0.3)
        with pytest.raises(TimeoutError, match=f"127.0.0.1:{port} within 0.3 s.*refused"):
            await asyncio.wait_for(client.start(), T)
        await client.close()


class RetryWatch(logging.Handler):
    """Call ``action`` on the client's first logged retry (synchronously)."""

    def __init__(self, action: Any) -> None:
        super().__init__(logging.DEBUG)
        self.action = action
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "telemetry_connect_retry" in record.getMessage():
            self.retries += 1
            if self.retries == 1:
                self.action()


async def test_connect_timeout_waits_for_a_server_that_starts_later() -> None:
    sock = refusing_port()
    port = sock.getsockname()[1]
    log = logging.getLogger("test_telemetry_retry")
    log.setLevel(logging.DEBUG)
    watch = RetryWatch(sock.listen)
    log.addHandler(watch)
    client = TelemetryClient("127.0.0.1", port, log, connect_timeout=T)
    try:
        await asyncio.wait_for(client.start(), T)
        assert client.connected and watch.retries >= 1
        accepted, _ = sock.accept()
        with accepted:
            accepted.sendall(b'{"topicID": 8, "timestamp": 2.0}\r\n')
            assert (await asyncio.wait_for(anext(aiter(client)), T))["topicID"] == 8
    finally:
        log.removeHandler(watch)
        await client.close()
        sock.close()


async def test_socket_options_are_applied(server: TelemetryServer) -> None:
    client = await connected(server, tcp_keepalive=4)
    try:
        assert client._link is not None and client._link.writer is not None
        sock = client._link.writer.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 4
    finally:
        await client.close()


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_sample_callbacks_see_every_sample_and_their_errors_are_logged(
    server: TelemetryServer,
) -> None:
    seen: list[float] = []

    def broken(sample: dict[str, Any]) -> None:
        raise ValueError("callback bug")

    log = logging.getLogger("test_telemetry_callbacks")
    collect = Collect()
    log.addHandler(collect)
    client = await connected(server, log=log, sample_callback=lambda s: seen.append(s["timestamp"]))
    client.add_sample_callback(broken)
    try:
        await publish_and_wait(server, client, samples((6, 15), range(5)))
        assert seen == [float(tick) for tick in range(5) for _ in (6, 15)]
        failures = [m for m in collect.messages if "telemetry_callback_failed" in m]
        assert len(failures) == 10
        client.remove_sample_callback(broken)
        client.remove_sample_callback(broken)  # not registered: nothing happens
        await publish_and_wait(server, client, samples((6,), range(5, 6)))
        assert seen[-1] == 5.0 and client.count == 11
        assert len([m for m in collect.messages if "telemetry_callback_failed" in m]) == 10
    finally:
        log.removeHandler(collect)
        await client.close()
