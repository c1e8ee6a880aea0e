"""Telemetry: encoding, multi-client streaming from the controller, TelemetryClient."""

from __future__ import annotations

import asyncio

import pytest

from mountcomm.exceptions import ConnectionClosedError
from mountcomm.protocol import commands
from mountcomm.protocol.enums import TelemetryTopicId
from mountcomm.sim.telemetry import (
    TelemetryClient,
    TelemetryServer,
)

from .controller_helpers import STD_TIMEOUT, console, fast_controller, power_up

AXIS_FIELDS = {
    "topicID",
    "timestamp",
    "angleActual",
    "angleSet",
    "velocityActual",
    "velocitySet",
    "accelerationActual",
    "torqueActual",
}


async def test_controller_streams_to_many_clients() -> None:
    async with fast_controller() as controller:
        clients = [TelemetryClient("127.0.0.1", controller.telemetry_port) for _ in range(3)]
        try:
            for client in clients:
                await asyncio.wait_for(client.start(), STD_TIMEOUT)
            for client in clients:
                sample = await asyncio.wait_for(
                    client.next_sample(TelemetryTopicId.ELEVATION), STD_TIMEOUT
                )
                assert set(sample) == AXIS_FIELDS
                assert sample["angleActual"] == 86.5
            # Every client sees all three axes; the latest value of each is kept.
            iterator = aiter(clients[0])
            topics: set[int] = set()
            while topics != {6, 8, 15}:
                topics.add((await asyncio.wait_for(anext(iterator), STD_TIMEOUT))["topicID"])
            await iterator.aclose()
            assert clients[1].get(TelemetryTopicId.AZIMUTH) is not None
            assert clients[1].count >= 3
            assert controller.telemetry_client_count == 3
            # Motion shows up in the stream.
            async with console(controller) as csc:
                await power_up(csc, "elevation")
                await csc.run(commands.ElevationAxisMove(position=60.0))
            sample = await asyncio.wait_for(clients[2].next_sample(15), STD_TIMEOUT)
            assert sample["angleActual"] == pytest.approx(60.0)
            assert sample["angleSet"] == 60.0
        finally:
            for client in clients:
                await client.close()
        # Clients leaving do not disturb the server; a new one is served.
        await asyncio.wait_for(
            controller._telemetry.wait_client_count(lambda n: n == 0), STD_TIMEOUT
        )
        async with TelemetryClient("127.0.0.1", controller.telemetry_port) as client:
            await asyncio.wait_for(controller.wait_telemetry_clients(1), STD_TIMEOUT)
            assert (await asyncio.wait_for(client.next_sample(8), STD_TIMEOUT))["topicID"] == 8


async def test_client_sees_server_close_and_bad_lines() -> None:
    server = TelemetryServer("127.0.0.1", 0)
    port = await server.start()
    try:
        async with TelemetryClient(None, port) as client:
            await asyncio.wait_for(server.wait_client_count(lambda n: n == 1), STD_TIMEOUT)
            waiter = asyncio.ensure_future(client.next_sample())
            server.publish([{"topicID": 5, "timestamp": 0.0}])
            assert (await asyncio.wait_for(waiter, STD_TIMEOUT))["topicID"] == 5
            link = next(iter(server._links))
            assert link.writer is not None
            link.writer.write(b"garbage\r\n" + b"x" * 70000 + b"\r\n")
            server.publish([{"topicID": 14, "timestamp": 1.0}])
            assert (await asyncio.wait_for(client.next_sample(14), STD_TIMEOUT))["timestamp"] == 1.0
            await server.close()
            with pytest.raises(ConnectionClosedError):
                await asyncio.wait_for(client.next_sample(), STD_TIMEOUT)
            assert not client.connected
            assert [s async for s in client][-1]["topicID"] == 14
            with pytest.raises(ConnectionClosedError):
                await client.next_sample()
    finally:
        await server.close()


async def test_slow_client_is_dropped() -> None:
    server = TelemetryServer("127.0.0.1", 0, max_buffer_bytes=0)
    port = await server.start()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), STD_TIMEOUT
        )
        try:
            await asyncio.wait_for(server.wait_client_count(lambda n: n == 1), STD_TIMEOUT)
            big = [{"topicID": 6, "timestamp": 0.0, "pad": "x" * 1_000_000}]
            # The client reads nothing: once the kernel buffers are full, data queues
            # in the transport, and the client is dropped.
            for _ in range(200):
                server.publish(big)
                if server.client_count == 0:
                    break
            assert server.client_count == 0
            # The client gets what was sent before, then EOF.
            data = await asyncio.wait_for(reader.read(), STD_TIMEOUT)
            assert data.endswith(b"\r\n")
        finally:
            writer.close()
            await writer.wait_closed()
    finally:
        await server.close()
        await server.close()
