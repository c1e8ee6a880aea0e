"""One-way throughput: Communicator → Communicator, N DoneReply, messages/s."""

from __future__ import annotations

import asyncio
import time

from common import Figure, medians_alternating
from mountcomm.protocol import replies
from mountcomm.testing.harness import connected_communicator_pair

N = 20_000
HOST = "127.0.0.1"


async def _ours() -> float:
    async with connected_communicator_pair() as (console, controller):
        messages = [replies.DoneReply(sequence_id=i + 1) for i in range(N)]

        async def send() -> None:
            for m in messages:
                await controller.write(m)

        start = time.perf_counter()
        sender = asyncio.create_task(send())
        for _ in range(N):
            await console.read()
        elapsed = time.perf_counter() - start
        await sender
    return N / elapsed


async def _raw() -> float:
    frames = [replies.DoneReply(sequence_id=i + 1).encode() for i in range(N)]
    done = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(N):
            await reader.readuntil(b"\r\n")
        done.set_result(time.perf_counter())
        writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection(HOST, port)
    start = time.perf_counter()
    for frame in frames:
        writer.write(frame)
        await writer.drain()
    end = await done
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return N / (end - start)


def run(runs: int) -> list[Figure]:
    (ours, ours_runs), (raw, raw_runs) = medians_alternating(
        runs, lambda: asyncio.run(_ours()), lambda: asyncio.run(_raw())
    )
    return [
        Figure(
            f"one-way: {N} DoneReply", "msg/s", ours, raw, runs=ours_runs, baseline_runs=raw_runs
        )
    ]
