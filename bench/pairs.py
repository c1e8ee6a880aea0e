"""1000 Communicator pairs in one process, all busy, against raw asyncio streams.

One run, for each side, in a fresh child process (so that neither inherits the
other's heap and the RSS figures are its own):

1. **Set-up.** ``PAIRS`` console / controller pairs, each side with its own
   listening socket and a connection to the other's (two TCP connections per
   pair, as `connected_communicator_pair` makes them); timed from the first
   constructor to the last connection.
2. **Busy.** Every pair at once does ``TRIPS`` sequential round trips: the
   console writes an ``ElevationAxisMove``, the controller reads it and writes a
   ``DoneReply``, the console reads that. Figure: round trips per second over
   all pairs.
3. **RSS per pair.** Resident memory once connected, and after the busy phase,
   less resident memory before set-up, divided by ``PAIRS`` [KiB].
   The tasks alive once connected, per pair, are counted too.
4. **Teardown.** Closing every pair (and, for raw, every server); then the
   tasks still alive on the loop (the main task excluded).

Each time is taken on the wall clock and as the process's CPU time (user +
system), which other processes on a shared machine disturb less.

The raw side does the same with `asyncio.start_server` / `open_connection`,
``write`` + ``drain`` and ``readuntil(b"\\r\\n")``, and the identical bytes
(pre-encoded, never parsed). mountcomm's side uses the public `Communicator`
API: ``write(message)`` and ``read()`` of parsed messages.

A third side, the **floor**, measures only memory: the same listening
sockets and connections with the least asyncio allows, a bare `asyncio.Protocol`
per connection that holds its transport and counts line ends (no streams,
no buffers of its own), doing the same round trips. Its RSS per pair is what
the sockets, servers and transports alone cost in asyncio, below which no
code on asyncio's transports can go.

A figure is the median of the runs; each run measures both sides one after the
other. Usage: ``python bench/pairs.py [--runs N] [--pairs N] [--trips N]``
(also part of ``bench/run_all.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).parent))

from common import Figure, print_table

PAIRS = 1000
TRIPS = 20
HOST = "127.0.0.1"
CHILD_TIMEOUT = 600.0  # [s] one side of one run, on a loaded machine


def _rss_kb() -> int:
    """Resident set size of this process [KiB]."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _tasks_left() -> int:
    return len(asyncio.all_tasks()) - 1  # less the main task


def _figures(
    pairs: int,
    trips: int,
    setup: tuple[float, float],
    busy: tuple[float, float],
    teardown: tuple[float, float],
    rss: tuple[int, int, int],
    tasks_connected: int,
) -> dict[str, float]:
    """One side's figures: phases as (wall, CPU) [s]; RSS before, connected, after busy [KiB]."""
    rss0, rss_idle, rss_busy = rss
    return {
        "setup": setup[0],
        "setup_cpu": setup[1],
        "rate": pairs * trips / busy[0],
        "rate_cpu": pairs * trips / busy[1],
        "rss_idle_per_pair": (rss_idle - rss0) / pairs,
        "tasks_per_pair": tasks_connected / pairs,
        "rss_per_pair": (rss_busy - rss0) / pairs,
        "teardown": teardown[0],
        "teardown_cpu": teardown[1],
        "tasks_left": _tasks_left(),
    }


async def _settle() -> None:
    """Let callbacks scheduled by the closes run (no timers involved)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def _ours(pairs: int, trips: int) -> dict[str, float]:
    from mountcomm.net.communicator import Communicator
    from mountcomm.protocol import commands, replies

    command = commands.ElevationAxisMove(sequence_id=1, position=45.0)
    done = replies.DoneReply(sequence_id=1)
    gc.collect()
    rss0 = _rss_kb()
    start, cpu = time.perf_counter(), time.process_time()
    consoles = [
        Communicator(f"console{i}", HOST, 0, HOST, 0, None, read_replies=True, connect=False)
        for i in range(pairs)
    ]
    controllers = [
        Communicator(f"controller{i}", HOST, 0, HOST, 0, None, read_replies=False, connect=False)
        for i in range(pairs)
    ]
    everyone = consoles + controllers
    await asyncio.gather(*(c.wait_server_port() for c in everyone))
    await asyncio.gather(
        *(c.connect(port=d.server_port) for c, d in zip(consoles, controllers, strict=True)),
        *(d.connect(port=c.server_port) for c, d in zip(consoles, controllers, strict=True)),
    )
    setup, setup_cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_idle = _rss_kb()
    tasks_connected = _tasks_left()

    async def console_loop(c: Communicator) -> None:
        for _ in range(trips):
            await c.write(command)
            await c.read()

    async def controller_loop(c: Communicator) -> None:
        for _ in range(trips):
            await c.read()
            await c.write(done)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(
        *(console_loop(c) for c in consoles), *(controller_loop(c) for c in controllers)
    )
    busy, busy_cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = _rss_kb()
    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(c.close() for c in everyone))
    teardown, teardown_cpu = time.perf_counter() - start, time.process_time() - cpu
    await _settle()
    return _figures(
        pairs,
        trips,
        (setup, setup_cpu),
        (busy, busy_cpu),
        (teardown, teardown_cpu),
        (rss0, rss_idle, rss),
        tasks_connected,
    )


async def _raw(pairs: int, trips: int) -> dict[str, float]:
    from mountcomm.protocol import commands, replies

    command = commands.ElevationAxisMove(sequence_id=1, position=45.0).encode()
    done = replies.DoneReply(sequence_id=1).encode()
    loop = asyncio.get_running_loop()
    gc.collect()
    rss0 = _rss_kb()
    start, cpu = time.perf_counter(), time.process_time()
    # Server 2i is console i's, 2i + 1 controller i's; each accepts one connection,
    # whose (reader, writer) resolves accepted[server].
    accepted = [loop.create_future() for _ in range(2 * pairs)]

    def on_accept(i: int) -> Any:
        return lambda r, w: accepted[i].set_result((r, w))

    servers = await asyncio.gather(
        *(asyncio.start_server(on_accept(i), HOST, 0) for i in range(2 * pairs))
    )
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    # console i connects to controller server (2i + 1); controller i to console server 2i
    outgoing = await asyncio.gather(
        *(asyncio.open_connection(HOST, ports[2 * i + 1]) for i in range(pairs)),
        *(asyncio.open_connection(HOST, ports[2 * i]) for i in range(pairs)),
    )
    incoming = await asyncio.gather(*accepted)
    setup, setup_cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_idle = _rss_kb()
    tasks_connected = _tasks_left()
    console_out = [w for _, w in outgoing[:pairs]]
    controller_out = [w for _, w in outgoing[pairs:]]
    console_in = [incoming[2 * i][0] for i in range(pairs)]
    controller_in = [incoming[2 * i + 1][0] for i in range(pairs)]

    async def console_loop(out: asyncio.StreamWriter, inp: asyncio.StreamReader) -> None:
        for _ in range(trips):
            out.write(command)
            await out.drain()
            await inp.readuntil(b"\r\n")

    async def controller_loop(out: asyncio.StreamWriter, inp: asyncio.StreamReader) -> None:
        for _ in range(trips):
            await inp.readuntil(b"\r\n")
            out.write(done)
            await out.drain()

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(
        *(console_loop(o, i) for o, i in zip(console_out, console_in, strict=True)),
        *(controller_loop(o, i) for o, i in zip(controller_out, controller_in, strict=True)),
    )
    busy, busy_cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = _rss_kb()
    start, cpu = time.perf_counter(), time.process_time()
    writers = [w for _, w in outgoing] + [w for _, w in incoming]
    for w in writers:
        w.close()
    for s in servers:
        s.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), *(s.wait_closed() for s in servers))
    teardown, teardown_cpu = time.perf_counter() - start, time.process_time() - cpu
    await _settle()
    return _figures(
        pairs,
        trips,
        (setup, setup_cpu),
        (busy, busy_cpu),
        (teardown, teardown_cpu),
        (rss0, rss_idle, rss),
        tasks_connected,
    )


class _BareLines(asyncio.Protocol):
    """The least a connection can hold: its transport and a count of line ends."""

    __slots__ = ("lines", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: asyncio.BaseTransport | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.lines = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.lines += data.count(b"\r\n")
        if self.lines and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def line(self) -> None:
        """Wait for the next line end."""
        while not self.lines:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        self.waiter = None
        self.lines -= 1


async def _floor(pairs: int, trips: int) -> dict[str, float]:
    from mountcomm.protocol import commands, replies

    command = commands.ElevationAxisMove(sequence_id=1, position=45.0).encode()
    done = replies.DoneReply(sequence_id=1).encode()
    loop = asyncio.get_running_loop()
    gc.collect()
    rss0 = _rss_kb()
    accepted: list[asyncio.Future[_BareLines]] = [loop.create_future() for _ in range(2 * pairs)]

    def on_accept(i: int) -> Any:
        def factory() -> _BareLines:
            protocol = _BareLines()
            accepted[i].set_result(protocol)
            return protocol

        return factory

    servers = await asyncio.gather(
        *(loop.create_server(on_accept(i), HOST, 0) for i in range(2 * pairs))
    )
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    outgoing = await asyncio.gather(
        *(loop.create_connection(_BareLines, HOST, ports[2 * i + 1]) for i in range(pairs)),
        *(loop.create_connection(_BareLines, HOST, ports[2 * i]) for i in range(pairs)),
    )
    incoming = await asyncio.gather(*accepted)
    await _settle()  # every accepted connection made
    rss_idle = _rss_kb()

    async def console_loop(out: _BareLines, inp: _BareLines) -> None:
        for _ in range(trips):
            cast(asyncio.Transport, out.transport).write(command)
            await inp.line()

    async def controller_loop(out: _BareLines, inp: _BareLines) -> None:
        for _ in range(trips):
            await inp.line()
            cast(asyncio.Transport, out.transport).write(done)

    outs = [p for _, p in outgoing]
    await asyncio.gather(
        *(console_loop(outs[i], incoming[2 * i]) for i in range(pairs)),
        *(controller_loop(outs[pairs + i], incoming[2 * i + 1]) for i in range(pairs)),
    )
    rss = _rss_kb()
    for t, _ in outgoing:
        t.close()
    for p in incoming:
        cast(asyncio.Transport, p.transport).close()
    for s in servers:
        s.close()
    await asyncio.gather(*(s.wait_closed() for s in servers))
    await _settle()
    return {"rss_idle_per_pair": (rss_idle - rss0) / pairs, "rss_per_pair": (rss - rss0) / pairs}


def _child(side: str, pairs: int, trips: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 8 * pairs + 100
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    from mountcomm import log

    log.configure(level="error")
    measure = {"ours": _ours, "raw": _raw, "floor": _floor}[side]
    print(json.dumps(asyncio.run(measure(pairs, trips))))


def _run_child(side: str, pairs: int, trips: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", side, "--pairs", str(pairs), "--trips", str(trips)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pairs bench, {side} side, failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(runs: int, pairs: int = PAIRS, trips: int = TRIPS) -> list[Figure]:
    ours: list[dict[str, float]] = []
    raw: list[dict[str, float]] = []
    floor: list[dict[str, float]] = []
    for i in range(runs):  # the side that goes first alternates
        if i % 2:
            raw.append(_run_child("raw", pairs, trips))
        ours.append(_run_child("ours", pairs, trips))
        if not i % 2:
            raw.append(_run_child("raw", pairs, trips))
        floor.append(_run_child("floor", pairs, trips))

    def figure(
        key: str,
        name: str,
        unit: str,
        scale: float,
        higher: bool,
        baseline: list[dict[str, float]] = raw,
        against: str = "raw",
    ) -> Figure:
        o = [r[key] * scale for r in ours]
        b = [r[key] * scale for r in baseline]
        per_run = statistics.median(x / y for x, y in zip(o, b, strict=True))
        return Figure(
            name,
            unit,
            statistics.median(o),
            statistics.median(b),
            higher_is_better=higher,
            runs=o,
            baseline_runs=b,
            note=f"mountcomm / {against}: {per_run:.2f} (median of the runs' ratios)",
        )

    def against_floor(key: str, name: str) -> Figure:
        return figure(key, name, "KiB", 1, False, floor, "bare-transport floor")

    return [
        figure("rate", f"pairs: {pairs} busy, round trips", "rt/s", 1, True),
        figure("rate_cpu", f"pairs: {pairs} busy, round trips per CPU s", "rt/CPU s", 1, True),
        figure("rss_idle_per_pair", f"pairs: {pairs}, RSS per pair, connected", "KiB", 1, False),
        figure("rss_per_pair", f"pairs: {pairs}, RSS per pair, after busy", "KiB", 1, False),
        against_floor("rss_idle_per_pair", f"pairs: {pairs}, RSS per pair, connected, vs floor"),
        against_floor("rss_per_pair", f"pairs: {pairs}, RSS per pair, after busy, vs floor"),
        Figure(
            f"pairs: {pairs}, tasks per pair, connected",
            "tasks",
            statistics.median(r["tasks_per_pair"] for r in ours),
            statistics.median(r["tasks_per_pair"] for r in raw),
            higher_is_better=False,
        ),
        figure("setup", f"pairs: {pairs}, set-up", "ms", 1e3, False),
        figure("setup_cpu", f"pairs: {pairs}, set-up, CPU time", "ms", 1e3, False),
        figure("teardown", f"pairs: {pairs}, teardown", "ms", 1e3, False),
        figure("teardown_cpu", f"pairs: {pairs}, teardown, CPU time", "ms", 1e3, False),
        Figure(
            f"pairs: {pairs}, tasks left after teardown",
            "tasks",
            max(r["tasks_left"] for r in ours),
            max(r["tasks_left"] for r in raw),
            higher_is_better=False,
            note="the most over all runs",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs (median)")
    parser.add_argument("--pairs", type=int, default=PAIRS, help="pairs at once")
    parser.add_argument("--trips", type=int, default=TRIPS, help="round trips per pair")
    parser.add_argument("--child", choices=["ours", "raw", "floor"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.pairs, args.trips)
        return 0
    print_table(run(args.runs, args.pairs, args.trips))
    return 0


if __name__ == "__main__":
    sys.exit(main())
