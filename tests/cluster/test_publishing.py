"""Publishing local changes: the other daemons see them in the order they were made."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

from mountcomm.registry.client import PortRegistry
from mountcomm.registry.cluster import ClusterSettings
from mountcomm.registry.cluster.link import MAX_IN_FLIGHT, ClusterLink
from mountcomm.registry.entries import EventKind, PortEvent
from tests import timing
from tests.timing import UNIT

from .conftest import daemon

HOST_A = "127.0.0.2"
HOST_B = "127.0.0.3"
T = 10 * UNIT
N = 30


@contextlib.contextmanager
def bound_ports(host: str, n: int) -> Iterator[list[int]]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        yield [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def test_a_burst_of_changes_is_seen_elsewhere_in_the_order_made(etcd):
    with bound_ports(HOST_A, N) as ports:
        async with daemon(etcd, HOST_A) as a, daemon(etcd, HOST_B) as b:
            await a.cluster.wait_connected(T)
            await b.cluster.wait_connected(T)
            async with (
                PortRegistry(HOST_A, a.port) as on_a,
                PortRegistry(HOST_B, b.port) as on_b,
                on_b.watch(beginswith="p", initial=False) as events,
            ):
                # all sent at once: A makes the changes faster than etcd answers
                await asyncio.gather(*(on_a.register(f"p{i}", p) for i, p in enumerate(ports)))
                seen = []
                async with asyncio.timeout(T):
                    while len(seen) < N:
                        event = await anext(events)
                        seen.append((event.kind, event.service, event.port))
    assert seen == [("added", f"p{i}", port) for i, port in enumerate(ports)]


async def test_changes_of_one_entry_reach_etcd_in_order(etcd):
    with bound_ports(HOST_A, 2) as (port, other):
        async with daemon(etcd, HOST_A) as a, daemon(etcd, HOST_B) as b:
            await a.cluster.wait_connected(T)
            await b.cluster.wait_connected(T)
            async with PortRegistry(HOST_A, a.port) as on_a, PortRegistry(HOST_B, b.port) as on_b:
                for round_ in range(10):  # no wait for etcd between the changes
                    await on_a.register(f"s{round_}", port)
                    await on_a.register(f"o{round_}", other)
                    await on_a.release(port)
                    await on_a.release(other)
                await on_a.register("last", port)
                await a.cluster.wait_published(T)
                assert await on_b.wait_for("last", timeout=T) == port
                remote = await on_b.find(beginswith="")
                assert [(e.service, e.host, e.port) for e in remote] == [("last", HOST_A, port)]
                assert a.cluster.status().unpublished == 0


async def test_a_burst_of_512_changes_keeps_a_short_lease(etcd):
    """The keepalive never waits behind pipelined changes: it has its own connection.

    With a TTL of 1 s (one test unit, rounded) the lease is refreshed every 1/3 s,
    within 1/3 s; bursts
    of `MAX_IN_FLIGHT` changes, one after the other for three TTLs, keep the
    request connection busy all that time. Had the keepalive queued behind
    them, a refresh would have missed its deadline and the session ended.
    """
    settings = ClusterSettings(etcd.endpoints, ttl=max(1, round(UNIT)), op_timeout=timing.T)
    link = ClusterLink(settings, HOST_A, local_entries=list, on_events=lambda _: None)
    await link.start()
    try:
        await link.wait_connected(timing.T)
        lease = link.status().lease
        loop = asyncio.get_running_loop()
        ports = range(20000, 20000 + MAX_IN_FLIGHT)
        end = loop.time() + 3 * settings.ttl
        bursts = 0
        while loop.time() < end or bursts < 2:
            kind = EventKind.REMOVED if bursts % 2 else EventKind.ADDED
            link.local_changed([PortEvent(kind, port, "burst", "u") for port in ports])
            assert link.keys.in_flight == MAX_IN_FLIGHT  # all sent at once
            await link.wait_published(timing.T)
            bursts += 1
        status = link.status()
        assert (link.sessions, status.stale, status.error, status.lease) == (1, False, None, lease)
    finally:
        await link.close()
