"""The recording proxy: what it adds to a round trip, and 100,000 frames through it.

* **Round trip.** A raw console sends a command and waits for ACK and DONE
  from a minimal raw controller, sequentially: directly (the baseline), and
  through a `MountProxy` that records every frame. The figure of interest is
  the p50 latency the proxy adds per round trip (goal: at most 200 µs).
* **100,000 frames.** The console sends 100,000 distinct commands through the
  recording proxy while the controller sends 100,000 replies back; both sides
  check that every byte arrived unchanged and in order, and the recording is
  checked to hold every frame, in order. Throughput is compared with the same
  transfer through a raw asyncio relay (read a chunk, write it on).

Run alone: ``python bench/proxy.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from common import Figure, median_of, percentile, print_table
from mountcomm.protocol import commands, replies
from mountcomm.protocol.enums import Source
from mountcomm.proxy import MountProxy

HOST = "127.0.0.1"
ROUND_TRIPS = 5_000
FRAMES = 100_000
GOAL_ADDED_P50_US = 200.0

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def _raw_relay(target_port: int) -> AsyncIterator[int]:
    """A plain asyncio relay to ``target_port`` (no framing, no record); yields its port."""
    tasks: list[asyncio.Task[None]] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, out = await asyncio.open_connection(HOST, target_port)
        tasks.append(asyncio.create_task(_pipe(reader, out)))

    server = await asyncio.start_server(accepted, HOST, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def _peers(
    through_proxy: bool, record: Path | None = None, raw_relay: bool = False
) -> AsyncIterator[tuple[asyncio.StreamWriter, asyncio.StreamReader, Streams]]:
    """A console (command writer, reply reader) and a controller (reader, writer)."""
    replies_in: asyncio.Queue[Streams] = asyncio.Queue()
    commands_in: asyncio.Queue[Streams] = asyncio.Queue()
    reply_srv = await asyncio.start_server(lambda r, w: replies_in.put_nowait((r, w)), HOST, 0)
    cmd_srv = await asyncio.start_server(lambda r, w: commands_in.put_nowait((r, w)), HOST, 0)
    reply_port = reply_srv.sockets[0].getsockname()[1]
    cmd_port = cmd_srv.sockets[0].getsockname()[1]
    proxy = None
    writers: list[asyncio.StreamWriter] = []
    relays = contextlib.AsyncExitStack()
    try:
        if raw_relay:
            console_target = await relays.enter_async_context(_raw_relay(cmd_port))
            reply_target = await relays.enter_async_context(_raw_relay(reply_port))
        elif through_proxy:
            proxy = MountProxy(
                HOST, {Source.CSC: cmd_port}, controller_reply_ports={Source.CSC: 0}, record=record
            )
            await proxy.start()
            proxy.connect_console(Source.CSC, reply_port)
            console_target = proxy.command_port(Source.CSC)
            reply_target = proxy.controller_reply_port(Source.CSC)
        else:
            console_target, reply_target = cmd_port, reply_port
        _, console_out = await asyncio.open_connection(HOST, console_target)
        controller_in, w1 = await commands_in.get()
        _, controller_out = await asyncio.open_connection(HOST, reply_target)
        console_in, w2 = await replies_in.get()
        writers += [console_out, w1, controller_out, w2]
        yield console_out, console_in, (controller_in, controller_out)
    finally:
        for writer in writers:
            writer.close()
        await relays.aclose()
        if proxy is not None:
            await proxy.close()
        for srv in (reply_srv, cmd_srv):
            srv.close()
            await srv.wait_closed()


async def _round_trips(through_proxy: bool) -> list[float]:
    command = commands.ElevationAxisMove(sequence_id=1, position=45).encode()
    answer = replies.AckReply(sequence_id=1).encode() + replies.DoneReply(sequence_id=1).encode()
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "bench.jsonl" if through_proxy else None
        async with _peers(through_proxy, record) as (out, reply_in, (ctl_in, ctl_out)):

            async def controller() -> None:
                while True:
                    await ctl_in.readuntil(b"\r\n")
                    ctl_out.write(answer)

            task = asyncio.create_task(controller())
            latencies = []
            for _ in range(ROUND_TRIPS):
                t0 = time.perf_counter()
                out.write(command)
                await reply_in.readuntil(b"\r\n")
                await reply_in.readuntil(b"\r\n")
                latencies.append(time.perf_counter() - t0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    return latencies


async def _many_frames(through_proxy: bool) -> float:
    """Send FRAMES each way through the proxy (else a raw relay); check; return frames/s."""
    up = b"".join(
        commands.ElevationAxisMove(sequence_id=i + 1, position=i % 60 + 20.5).encode()
        for i in range(FRAMES)
    )
    down = b"".join(
        replies.AckReply(sequence_id=i + 1, timeout_ms=i).encode() for i in range(FRAMES)
    )
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "many.jsonl" if through_proxy else None
        async with _peers(through_proxy, record, raw_relay=not through_proxy) as (
            out,
            reply_in,
            (ctl_in, ctl_out),
        ):
            start = time.perf_counter()

            async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
                for i in range(0, len(data), 1 << 16):
                    writer.write(data[i : i + (1 << 16)])
                    await writer.drain()

            _, _, got_up, got_down = await asyncio.gather(
                send(out, up),
                send(ctl_out, down),
                ctl_in.readexactly(len(up)),
                reply_in.readexactly(len(down)),
            )
            elapsed = time.perf_counter() - start
        if got_up != up or got_down != down:
            raise AssertionError("frames changed or out of order through the relay")
        if record is not None:
            _check_recording(record, up, down)
    return 2 * FRAMES / elapsed


def _check_recording(path: Path, up: bytes, down: bytes) -> None:
    frames: dict[str, list[bytes]] = {"to_controller": [], "to_console": []}
    with path.open(encoding="utf-8") as file:
        for line in file:
            record = json.loads(line)
            frames[record["direction"]].append(record["frame"].encode())
    if b"".join(frames["to_controller"]) != up or b"".join(frames["to_console"]) != down:
        raise AssertionError("the recording does not hold every frame in order")
    if len(frames["to_controller"]) != FRAMES or len(frames["to_console"]) != FRAMES:
        raise AssertionError("the recording does not hold one record per frame")


def run(runs: int) -> list[Figure]:
    proxied: list[float] = []
    direct: list[float] = []
    added_runs: list[float] = []
    for _ in range(runs):
        a = asyncio.run(_round_trips(True))
        b = asyncio.run(_round_trips(False))
        proxied += a
        direct += b
        added_runs.append((percentile(a, 50) - percentile(b, 50)) * 1e6)
    added = sorted(added_runs)[len(added_runs) // 2]
    rate, rate_runs = median_of(runs, lambda: asyncio.run(_many_frames(True)))
    raw_rate, raw_runs = median_of(runs, lambda: asyncio.run(_many_frames(False)))
    verdict = "within" if added <= GOAL_ADDED_P50_US else "OVER"
    return [
        Figure(
            "proxy: round trip p50 (recording)",
            "µs",
            percentile(proxied, 50) * 1e6,
            percentile(direct, 50) * 1e6,
            higher_is_better=False,
        ),
        Figure(
            "proxy: round trip p99 (recording)",
            "µs",
            percentile(proxied, 99) * 1e6,
            percentile(direct, 99) * 1e6,
            higher_is_better=False,
        ),
        Figure(
            "proxy: added per round trip, p50",
            "µs",
            added,
            runs=added_runs,
            higher_is_better=False,
            note=f"median of per-run p50 differences; goal <= {GOAL_ADDED_P50_US:.0f} µs: "
            + verdict,
        ),
        Figure(
            f"proxy: {FRAMES:,} frames each way, checked",
            "frames/s",
            rate,
            raw_rate,
            runs=rate_runs,
            baseline_runs=raw_runs,
            note="baseline: a raw asyncio relay (no framing, no recording); every byte "
            "checked at both ends and in the recording",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    print_table(run(args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
