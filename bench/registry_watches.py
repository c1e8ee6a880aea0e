"""What unrelated watches cost an allocation: allocate+release with and without them.

Usage: ``python bench/registry_watches.py [--watches N] [--connections C] [--runs R]``

Opens C native connections holding N watches in all (each of its own service),
then times allocate+release pairs of an unrelated service on another
connection. Prints the medians of R runs, with no watches and with them, and
their ratio: near 1 when an event visits only the watches of its service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from mountcomm import log
from mountcomm.registry.server import RegistryServer

PAIRS = 300


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
    writer.write(request)
    reply = json.loads(await reader.readline())
    if not reply.get("ok"):
        raise RuntimeError(reply)


async def _pairs_per_second(port: int) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        start = time.perf_counter()
        for i in range(PAIRS):
            writer.write(b'{"op":"allocate","id":%d,"service":"bench"}\n' % (2 * i))
            reply = json.loads(await reader.readline())
            await _ask(
                reader, writer, b'{"op":"release","id":%d,"port":%d}\n' % (2 * i + 1, reply["port"])
            )
        return PAIRS / (time.perf_counter() - start)
    finally:
        writer.close()
        await writer.wait_closed()


async def _watchers(port: int, watches: int, connections: int) -> list[asyncio.StreamWriter]:
    writers = []
    per = watches // connections
    for c in range(connections):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"".join(
                b'{"op":"watch","id":%d,"service":"other.%d.%d"}\n' % (i, c, i) for i in range(per)
            )
        )
        for _ in range(per):
            await reader.readline()
        writers.append(writer)
    return writers


async def main(watches: int, connections: int, runs: int) -> None:
    async with RegistryServer("127.0.0.1", 0, pool=None) as server:
        bare = [await _pairs_per_second(server.port) for _ in range(runs)]
        writers = await _watchers(server.port, watches, connections)
        loaded = [await _pairs_per_second(server.port) for _ in range(runs)]
        for writer in writers:
            writer.close()
    b, w = statistics.median(bare), statistics.median(loaded)
    print(f"allocate+release pairs/s, no watches:            {b:8.0f}")
    print(f"allocate+release pairs/s, {watches:,} other watches: {w:8.0f}")
    print(f"ratio (with / without): {w / b:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    log.configure(level="error")
    asyncio.run(main(args.watches, args.connections, args.runs))
