"""Port registry: allocate+release rate and watch notification latency.

* allocate+release: sequential ``allocate`` then ``release`` through
  `PortRegistry` (native dialect) against an in-process daemon whose pool is
  "ephemeral" (each port the OS picks, checked bindable). Baseline: a raw asyncio
  JSON-lines request/response echo server answering the same number of round
  trips with lines of the same shape.
* watch latency: time from ``register`` on one client to the ``added`` event on
  another client's watch. Baseline: a raw asyncio line relay (one connection
  writes a line, the server forwards it to another connection).
"""

from __future__ import annotations

import asyncio
import json
import time

from common import Figure, median_of, percentile
from mountcomm.registry import PortRegistry, RegistryServer

HOST = "127.0.0.1"
N_ALLOC = 1_000
N_WATCH = 1_000
FIRST_PORT = 45_000  # registered, never bound: register only advertises


async def _ours_alloc() -> float:
    async with (
        RegistryServer(HOST, 0, pool=None) as server,
        PortRegistry(HOST, server.port) as registry,
    ):
        start = time.perf_counter()
        for _ in range(N_ALLOC):
            port = await registry.get_port("bench")
            await registry.release(port)
        elapsed = time.perf_counter() - start
    return N_ALLOC / elapsed


async def _raw_alloc() -> float:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        port = FIRST_PORT
        while line := await reader.readline():
            request = json.loads(line)
            port += 1
            reply = {"id": request["id"], "ok": True, "port": port, "service": "bench", "user": "u"}
            writer.write(json.dumps(reply).encode() + b"\n")
        writer.close()

    server = await asyncio.start_server(serve, HOST, 0)
    reader, writer = await asyncio.open_connection(HOST, server.sockets[0].getsockname()[1])
    start = time.perf_counter()
    for i in range(N_ALLOC):
        for request in (
            {"op": "allocate", "id": 2 * i, "service": "bench"},
            {"op": "release", "id": 2 * i + 1, "port": FIRST_PORT},
        ):
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            json.loads(await reader.readline())
    elapsed = time.perf_counter() - start
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return N_ALLOC / elapsed


async def _ours_watch() -> list[float]:
    latencies = []
    async with (
        RegistryServer(HOST, 0, pool=None) as server,
        PortRegistry(HOST, server.port) as owner,
        PortRegistry(HOST, server.port) as watcher,
        watcher.watch(service="bench.peer", initial=False) as events,
    ):
        for i in range(N_WATCH):
            port = FIRST_PORT + i % 1000
            t0 = time.perf_counter()
            registering = asyncio.create_task(owner.register("bench.peer", port))
            event = await anext(events)
            latencies.append(time.perf_counter() - t0)
            assert event.kind == "added" and event.port == port
            await registering
            await owner.release(port)
            assert (await anext(events)).kind == "removed"
    return latencies


async def _raw_watch() -> list[float]:
    peers: list[asyncio.StreamWriter] = []
    joined = [asyncio.Event(), asyncio.Event()]  # the owner, then the watcher

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer)
        joined[len(peers) - 1].set()
        await joined[1].wait()
        while line := await reader.readline():
            peers[1].write(line)  # forward the owner's line to the watcher
        writer.close()

    server = await asyncio.start_server(serve, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    _, owner = await asyncio.open_connection(HOST, port)
    await joined[0].wait()
    watcher, watcher_w = await asyncio.open_connection(HOST, port)
    await joined[1].wait()
    latencies = []
    for i in range(N_WATCH):
        event = {"watch": 1, "event": "added", "port": FIRST_PORT + i, "service": "bench.peer"}
        t0 = time.perf_counter()
        owner.write(json.dumps(event).encode() + b"\n")
        await owner.drain()
        json.loads(await watcher.readline())
        latencies.append(time.perf_counter() - t0)
    for w in (owner, watcher_w):
        w.close()
        await w.wait_closed()
    server.close()
    await server.wait_closed()
    return latencies


def run(runs: int) -> list[Figure]:
    rate, rate_runs = median_of(runs, lambda: asyncio.run(_ours_alloc()))
    raw_rate, raw_runs = median_of(runs, lambda: asyncio.run(_raw_alloc()))
    ours_lat: list[float] = []
    raw_lat: list[float] = []
    for _ in range(runs):
        ours_lat += asyncio.run(_ours_watch())
        raw_lat += asyncio.run(_raw_watch())
    return [
        Figure(
            f"registry: {N_ALLOC} allocate+release",
            "pairs/s",
            rate,
            raw_rate,
            runs=rate_runs,
            baseline_runs=raw_runs,
            note="baseline: raw JSON-lines echo, same round trips",
        ),
        Figure(
            "registry: watch notification p50",
            "µs",
            percentile(ours_lat, 50) * 1e6,
            percentile(raw_lat, 50) * 1e6,
            higher_is_better=False,
            note="register on one client → added event on another; baseline: line relay",
        ),
        Figure(
            "registry: watch notification p99",
            "µs",
            percentile(ours_lat, 99) * 1e6,
            percentile(raw_lat, 99) * 1e6,
            higher_is_better=False,
        ),
    ]
