"""Round trip: command → ACK + DONE from a minimal peer, sequential."""

from __future__ import annotations

import asyncio
import time

from common import Figure, medians_alternating, percentile
from mountcomm.protocol import commands, replies
from mountcomm.testing.harness import connected_communicator_pair

N = 5_000
HOST = "127.0.0.1"


async def _ours() -> tuple[float, list[float]]:
    async with connected_communicator_pair() as (console, controller):

        async def peer() -> None:
            while True:
                cmd = await controller.read()
                await controller.write(replies.AckReply(sequence_id=cmd.sequence_id))  # type: ignore[attr-defined]
                await controller.write(replies.DoneReply(sequence_id=cmd.sequence_id))  # type: ignore[attr-defined]

        task = asyncio.create_task(peer())
        latencies = []
        start = time.perf_counter()
        for i in range(N):
            t0 = time.perf_counter()
            await console.write(commands.ElevationAxisMove(sequence_id=i + 1, position=45))
            await console.read()
            await console.read()
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return N / elapsed, latencies


async def _raw() -> tuple[float, list[float]]:
    command = commands.ElevationAxisMove(sequence_id=1, position=45).encode()
    ack = replies.AckReply(sequence_id=1).encode()
    done = replies.DoneReply(sequence_id=1).encode()
    peer_writers: list[asyncio.StreamWriter] = []

    async def reply_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_writers.append(writer)

    async def command_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer_writers.append(writer)
        _, out = await asyncio.open_connection(HOST, reply_port)
        peer_writers.append(out)
        while True:
            try:
                await reader.readuntil(b"\r\n")
            except asyncio.IncompleteReadError:
                return
            out.write(ack)
            await out.drain()
            out.write(done)
            await out.drain()

    replies_in: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    reply_srv = await asyncio.start_server(lambda r, w: replies_in.put_nowait((r, w)), HOST, 0)
    reply_port = reply_srv.sockets[0].getsockname()[1]
    cmd_srv = await asyncio.start_server(command_server, HOST, 0)
    cmd_port = cmd_srv.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection(HOST, cmd_port)
    reader, reply_writer = await replies_in.get()
    latencies = []
    start = time.perf_counter()
    for _ in range(N):
        t0 = time.perf_counter()
        writer.write(command)
        await writer.drain()
        await reader.readuntil(b"\r\n")
        await reader.readuntil(b"\r\n")
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    for w in [writer, reply_writer, *peer_writers]:
        w.close()
    for srv in (reply_srv, cmd_srv):
        srv.close()
        await srv.wait_closed()
    await asyncio.sleep(0)
    return N / elapsed, latencies


def run(runs: int) -> list[Figure]:
    ours_lat: list[float] = []
    raw_lat: list[float] = []

    def ours() -> float:
        rate, lat = asyncio.run(_ours())
        ours_lat.extend(lat)
        return rate

    def raw() -> float:
        rate, lat = asyncio.run(_raw())
        raw_lat.extend(lat)
        return rate

    (rate, rate_runs), (raw_rate, raw_runs) = medians_alternating(runs, ours, raw)
    return [
        Figure(
            f"round trip: {N} commands → ACK+DONE",
            "cmd/s",
            rate,
            raw_rate,
            runs=rate_runs,
            baseline_runs=raw_runs,
        ),
        Figure(
            "round trip latency p50",
            "µs",
            percentile(ours_lat, 50) * 1e6,
            percentile(raw_lat, 50) * 1e6,
            higher_is_better=False,
        ),
        Figure(
            "round trip latency p99",
            "µs",
            percentile(ours_lat, 99) * 1e6,
            percentile(raw_lat, 99) * 1e6,
            higher_is_better=False,
        ),
    ]
