"""Connect latency: time from the peer's server starting to the client being connected.

The client starts connecting before the peer listens (the peer "comes up late"
by a random 0-200 ms); what is measured is the delay the retry policy adds.
"""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import time

from common import Figure
from mountcomm import ClientServerPair

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
    rng = random.Random(7)
    delays = [rng.uniform(0, 0.2) for _ in range(TRIALS)]
    ours = [asyncio.run(_ours(d)) * 1e3 for d in delays]
    raw = [asyncio.run(_raw(d)) * 1e3 for d in delays]
    return [
        Figure(
            "connect: peer starts late (retry 0.1 s)",
            "ms",
            statistics.median(ours),
            statistics.median(raw),
            higher_is_better=False,
            runs=ours,
            baseline_runs=raw,
            note=f"median of {TRIALS} trials, peer late by 0-200 ms",
        ),
    ]
