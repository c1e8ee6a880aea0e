"""etcd outages: the daemons go on locally, mark their view stale, and lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket

from mountcomm.registry.client import PortRegistry
from mountcomm.registry.cluster import ClusterSettings, ClusterView
from mountcomm.registry.cluster.etcd import EtcdSession
from mountcomm.registry.server import RegistryServer
from tests.timing import UNIT

from .conftest import HOST_A, HOST_B, TTL, Proxy, T, daemon, two_hosts


class Recorder:
    """Collect a watch's events in a task; wait for a given one."""

    def __init__(self, events) -> None:
        self.events = events
        self.seen: list = []
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.events:
            self.seen.append(event)
            self._changed.set()

    async def wait_for(self, kind: str, service: str) -> None:
        async with asyncio.timeout(T):
            while not any((e.kind, e.service) == (kind, service) for e in self.seen):
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def as_tuples(events) -> list[tuple[str, str, int, str]]:
    return [(e.kind, e.host, e.port, e.service) for e in events]


async def test_etcd_killed_and_restarted_mid_stream_loses_and_repeats_nothing(etcd):
    sockets = [socket.socket() for _ in range(8)]
    try:
        for sock in sockets:
            sock.bind((HOST_A, 0))
        port = [sock.getsockname()[1] for sock in sockets]
        async with (
            two_hosts(etcd) as (a, b),
            PortRegistry(HOST_A, a.port) as on_a,
            PortRegistry(HOST_B, b.port) as on_b,
            on_b.watch(initial=False) as events,
        ):
            recorder = Recorder(events)
            try:
                for i in range(4):
                    await on_a.register(f"svc{i}", port[i])
                lease_before = a.cluster.status().lease
                await etcd.kill()
                await a.cluster.wait_stale(T)
                await b.cluster.wait_stale(T)
                # etcd is down: local work goes on, and the status says stale
                during = await on_a.allocate("during")
                await on_a.release(port[0])
                await on_a.register("svc4", port[4])
                status = await on_a.status()
                assert status.cluster.stale is True
                assert status.cluster.error
                assert (await on_b.status()).cluster.stale is True
                await etcd.restart()
                await a.cluster.wait_connected(T)
                await b.cluster.wait_connected(T)
                assert (await on_a.status()).cluster.stale is False
                assert a.cluster.status().lease != lease_before  # a new lease
                await on_a.release(port[1])
                await on_a.register("svc5", port[5])
                await on_a.register("end", port[6])
                await recorder.wait_for("added", "end")
            finally:
                await recorder.stop()
            # What B's watcher saw is exactly etcd's history, replayed.
            history = await etcd.history(b"/mountcomm/v1/")
            replay = ClusterView(b.cluster.daemon_id)
            expected = []
            for kind, key, revision in history:
                value = await _value_at(etcd, key, revision) if kind == "put" else b""
                if kind == "put":
                    expected += replay.put(key, value, revision)
                else:
                    expected += replay.delete(key, revision)
            assert as_tuples(recorder.seen) == as_tuples(expected)
            # and B ends with A's entries, each once
            assert await on_b.find() == await on_a.find()
            services = sorted(e.service for e in await on_b.list_ports())
            assert services == ["during", "end", "svc2", "svc3", "svc4", "svc5"]
            assert during.host == HOST_A
    finally:
        for sock in sockets:
            sock.close()


async def _value_at(etcd, key: bytes, revision: int) -> bytes | None:
    """The value ``key`` was given at ``revision`` (read from etcd's history)."""
    settings = ClusterSettings(etcd.endpoints, op_timeout=5 * UNIT)
    async with EtcdSession(settings, *etcd.endpoints[0]) as session:
        return await session.value_at(key, revision)


async def test_a_view_that_missed_compacted_history_resyncs_in_full(etcd):
    sockets = [socket.socket() for _ in range(3)]
    try:
        for sock in sockets:
            sock.bind((HOST_A, 0))
        port = [sock.getsockname()[1] for sock in sockets]
        async with Proxy(etcd.endpoints[0]) as proxy:
            settings = ClusterSettings(proxy.endpoints, ttl=TTL, op_timeout=1.0 * UNIT)
            b = RegistryServer(HOST_B, 0, pool=None, cluster=settings)
            async with daemon(etcd, HOST_A) as a, b:
                await a.cluster.wait_connected(T)
                await b.cluster.wait_connected(T)
                async with (
                    PortRegistry(HOST_A, a.port) as on_a,
                    PortRegistry(HOST_B, b.port) as on_b,
                    on_b.watch(initial=False) as events,
                ):
                    recorder = Recorder(events)
                    try:
                        await on_a.register("x1", port[0])
                        await on_a.register("x2", port[1])
                        await recorder.wait_for("added", "x2")
                        await proxy.sever()  # B is cut off from etcd
                        await b.cluster.wait_stale(T)
                        assert (await on_b.status()).cluster.stale is True
                        # B still answers with what it last knew
                        stale_view = await on_b.find(beginswith="x")
                        assert sorted((e.service, e.host) for e in stale_view) == [
                            ("x1", HOST_A),
                            ("x2", HOST_A),
                        ]
                        await on_a.release(port[0])
                        await on_a.register("x3", port[2])
                        await a.cluster.wait_published(T)
                        compacted = await etcd.compact()  # B's next revision is gone
                        assert compacted > b.cluster.view.revision
                        resyncs = b.cluster.resyncs
                        proxy.restore()
                        await b.cluster.wait_connected(T)
                        await recorder.wait_for("added", "x3")
                    finally:
                        await recorder.stop()
                    assert b.cluster.resyncs == resyncs + 1
                    assert [(e.kind, e.service) for e in recorder.seen] == [
                        ("added", "x1"),
                        ("added", "x2"),
                        ("removed", "x1"),
                        ("added", "x3"),
                    ]
                    assert await on_b.find(beginswith="x") == await on_a.find(beginswith="x")
    finally:
        for sock in sockets:
            sock.close()


async def test_a_dead_endpoint_is_skipped_for_the_next(etcd):
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        dead = ("127.0.0.1", sock.getsockname()[1])
    settings = ClusterSettings((dead, *etcd.endpoints), ttl=TTL, op_timeout=1.0 * UNIT)
    async with RegistryServer(HOST_A, 0, pool=None, cluster=settings) as a:
        await a.cluster.wait_connected(T)
        host, port = etcd.endpoints[0]
        assert a.cluster.status().endpoint == f"{host}:{port}"


async def test_etcd_that_lost_its_data_is_repopulated_and_views_resync(etcd):
    with socket.socket() as sock:
        sock.bind((HOST_A, 0))
        port = sock.getsockname()[1]
        async with (
            two_hosts(etcd) as (a, b),
            PortRegistry(HOST_A, a.port) as on_a,
            PortRegistry(HOST_B, b.port) as on_b,
        ):
            for i in range(5):  # move etcd's revision well past a fresh one's
                await on_a.register(f"tmp{i}", port)
                await on_a.release(port)
            await on_a.register("svc", port)
            assert await on_b.wait_for("svc", timeout=T) == port
            resyncs = b.cluster.resyncs
            await etcd.kill()
            shutil.rmtree(etcd.data_dir)  # a new, empty etcd on the same address
            await etcd.restart()
            await a.cluster.wait_connected(T)
            await a.cluster.wait_published(T)
            await b.cluster.wait_connected(T)
            assert b.cluster.resyncs == resyncs + 1
            # B resynced from the empty etcd; A's entry is back once A republished
            assert await on_b.wait_for("svc", timeout=T) == port
            assert [(e.host, e.port, e.service) for e in await on_b.find(service="svc")] == [
                (HOST_A, port, "svc")
            ]
