"""Connect latency: time from the peer's server starting to the client being connected.

The client starts connecting before the peer listens (the peer "comes up late"
by a random 0-200 ms); what is measured is the delay the retry policy adds.

Two ways to wait for the peer: retrying a fixed port every 0.1 s, and asking
the port registry (the peer advertises its port-0 server once it listens; the
client connects on the registry's watch event). Both stand next to the same raw
asyncio baseline (open_connection retried every 0.1 s).
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time

from common import Figure
from mountcomm import ClientServerPair
from mountcomm.registry import PortRegistry, RegistryServer

HOST = "127.0.0.1"
TRIALS = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def _late_server(port: int, delay: float) -> tuple[asyncio.Server, float]:
    await asyncio.sleep(delay)
    t0 = time.perf_counter()
    server = await asyncio.start_server(lambda r, w: w.close(), HOST, port)
    return server, t0


async def _ours(delay: float) -> float:
    port = _free_port()
    pair = ClientServerPair("bench", HOST, port, HOST, 0, None, connect=False)
    try:
        late = asyncio.create_task(_late_server(port, delay))
        await pair.connect_client()
        t1 = time.perf_counter()
        server, t0 = await late
        server.close()
        await server.wait_closed()
    finally:
        await pair.close()
    return t1 - t0


async def _ours_registry(delay: float) -> float:
    async with (
        RegistryServer(HOST, 0, pool=None) as registry_server,
        PortRegistry(HOST, registry_server.port) as client_registry,
        PortRegistry(HOST, registry_server.port) as peer_registry,
    ):
        pair = ClientServerPair(
            "bench",
            None,
            0,
            HOST,
            0,
            None,
            connect=False,
            registry=client_registry,
            client_service="bench.peer",
        )

        async def late_peer() -> tuple[ClientServerPair, float]:
            await asyncio.sleep(delay)
            t0 = time.perf_counter()
            peer = ClientServerPair(
                "peer",
                None,
                0,
                HOST,
                0,
                None,
                connect=False,
                registry=peer_registry,
                server_service="bench.peer",
            )
            return peer, t0

        try:
            late = asyncio.create_task(late_peer())
            await pair.connect_client()
            t1 = time.perf_counter()
            peer, t0 = await late
            await peer.close()
        finally:
            await pair.close()
    return t1 - t0


async def _raw(delay: float) -> float:
    port = _free_port()
    late = asyncio.create_task(_late_server(port, delay))
    while True:
        try:
            _, writer = await asyncio.open_connection(HOST, port)
            break
        except OSError:
            await asyncio.sleep(0.1)
    t1 = time.perf_counter()
    server, t0 = await late
    writer.close()
    server.close()
    await server.wait_closed()
    return t1 - t0


def run(runs: int) -> list[Figure]:
    # Evenly spread lateness (not random draws): with a 0.1 s retry the expected
    # wait is then half an interval, whatever the sample size.
    delays = [(i + 0.5) / TRIALS * 0.2 for i in range(TRIALS)]
    ours = [asyncio.run(_ours(d)) * 1e3 for d in delays]
    raw = [asyncio.run(_raw(d)) * 1e3 for d in delays]
    by_name = [asyncio.run(_ours_registry(d)) * 1e3 for d in delays]
    return [
        Figure(
            "connect: peer starts late (retry 0.1 s)",
            "ms",
            statistics.median(ours),
            statistics.median(raw),
            higher_is_better=False,
            runs=ours,
            baseline_runs=raw,
            note=f"median of {TRIALS} trials, peer late by 0-200 ms, evenly spread",
        ),
        Figure(
            "connect: peer starts late (registry watch)",
            "ms",
            statistics.median(by_name),
            statistics.median(raw),
            higher_is_better=False,
            runs=by_name,
            baseline_runs=raw,
            note="peer advertises its port-0 server; baseline: raw retry every 0.1 s",
        ),
    ]
