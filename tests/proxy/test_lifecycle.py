"""A proxy's parts (`Route`, `TelemetryRelay`) and `TelemetryServer` as async resources:
``async with``, an idempotent start, and a close that is safe at any moment, even
while they start (real sockets on 127.0.0.1:0)."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm.exceptions import ConnectionClosedError
from mountcomm.log import get_logger
from mountcomm.protocol.enums import Source
from mountcomm.proxy.faults import ProxyFaults
from mountcomm.proxy.route import Route
from mountcomm.proxy.telemetry import TelemetryRelay
from mountcomm.telemetry.server import TelemetryServer
from tests.timing import T

HOST = "127.0.0.1"


def route() -> Route:
    return Route(
        Source.CSC,
        host=HOST,
        command_port=0,
        console_host=HOST,
        console_reply_port=0,
        controller_host=HOST,
        controller_port=1,  # never connected to: no console connects
        controller_reply_port=0,
        faults=ProxyFaults(),
        log=None,
        logger=get_logger(None, "test"),
        max_frame_bytes=1024,
        tcp_keepalive=None,
        tcp_user_timeout=None,
    )


def relay() -> TelemetryRelay:
    # Its controller is a port nobody listens on: the relay retries until closed.
    return TelemetryRelay(HOST, 0, HOST, 1, ProxyFaults(), None, get_logger(None, "test"))


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), T)
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def test_a_route_is_an_async_resource_with_an_idempotent_start() -> None:
    async with route() as r:
        port = r.console.server_port
        assert port != 0 and not await refused(port)
        tasks = len(asyncio.all_tasks())
        await r.start()
        assert len(asyncio.all_tasks()) == tasks
    assert await refused(port)
    await r.close()
    with pytest.raises(ConnectionClosedError):
        await r.start()


async def test_a_route_closed_while_it_starts_starts_nothing() -> None:
    r = route()
    starting = asyncio.create_task(r.start())
    await asyncio.sleep(0)  # one step: start waits for its servers to listen
    assert not starting.done()
    await r.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(starting, T)
    # No relay task left running (the autouse fixture fails the test otherwise).


async def test_a_telemetry_relay_is_an_async_resource_with_an_idempotent_start() -> None:
    async with relay() as r:
        assert r.port != 0 and not await refused(r.port)
        tasks = len(asyncio.all_tasks())
        assert await r.start() == r.port
        assert len(asyncio.all_tasks()) == tasks
    assert await refused(r.port)
    await r.close()
    with pytest.raises(ConnectionClosedError):
        await r.start()


async def test_a_telemetry_relay_closed_while_it_starts_listens_no_more() -> None:
    r = relay()
    starting = asyncio.create_task(r.start())
    await asyncio.sleep(0)  # one step: start waits for its server to listen
    assert not starting.done()
    await r.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(starting, T)
    assert r.port != 0 and await refused(r.port)


async def test_a_telemetry_server_closed_while_it_starts_listens_no_more() -> None:
    server = TelemetryServer(HOST, 0)
    starting = asyncio.create_task(server.start())
    await asyncio.sleep(0)  # one step: start waits for the listening socket
    assert not starting.done()
    await server.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(starting, T)
    assert server.port != 0 and await refused(server.port)
    with pytest.raises(ConnectionClosedError):
        await server.start()
