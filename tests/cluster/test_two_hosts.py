"""Two registry daemons as two hosts (127.0.0.2 and 127.0.0.3) sharing one real etcd."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time

from mountcomm.registry.client import PortRegistry
from mountcomm.registry.entries import PortEntry

from .conftest import HOST_A, HOST_B, TTL, T, daemon, start_daemon_process, two_hosts


@contextlib.contextmanager
def bound(host: str):
    """A TCP socket bound on ``host`` (its port is what gets registered)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        yield sock.getsockname()[1]


async def test_entry_registered_on_a_is_seen_on_b_with_a_host(etcd):
    async with (
        two_hosts(etcd) as (a, b),
        PortRegistry(HOST_A, a.port) as on_a,
        PortRegistry(HOST_B, b.port) as on_b,
    ):
        with bound(HOST_A) as port:
            async with on_b.watch(service="svc", initial=False) as events:
                entry = await on_a.register("svc", port)
                assert entry.host == HOST_A
                event = await asyncio.wait_for(anext(events), T)
                assert (event.kind, event.host, event.port) == ("added", HOST_A, port)
                assert await on_b.find(service="svc") == [
                    PortEntry(port, "svc", entry.user, HOST_A)
                ]
                assert await on_b.wait_for("svc", timeout=T) == port
                await on_a.release(port)
                event = await asyncio.wait_for(anext(events), T)
                assert (event.kind, event.host, event.port) == ("removed", HOST_A, port)
                assert await on_b.find(service="svc") == []
                # a registrant may name another address of its host
                await on_a.register("svc", port, host="127.0.0.9")
                event = await asyncio.wait_for(anext(events), T)
                assert (event.kind, event.host, event.port) == ("added", "127.0.0.9", port)


async def test_two_hosts_may_each_hold_a_service_and_both_are_kept(etcd):
    async with (
        two_hosts(etcd) as (a, b),
        PortRegistry(HOST_A, a.port) as on_a,
        PortRegistry(HOST_B, b.port) as on_b,
    ):
        with bound(HOST_A) as port_a, bound(HOST_B) as port_b:
            async with (
                on_a.watch(service="svc", initial=False) as events_a,
                on_b.watch(service="svc", initial=False) as events_b,
            ):
                user = (await on_a.register("svc", port_a)).user
                await on_b.register("svc", port_b)
                # each sees its own entry and the other host's
                for events in (events_a, events_b):
                    got = [await asyncio.wait_for(anext(events), T) for _ in range(2)]
                    assert {(e.kind, e.host, e.port) for e in got} == {
                        ("added", HOST_A, port_a),
                        ("added", HOST_B, port_b),
                    }
            expected = sorted(
                [PortEntry(port_a, "svc", user, HOST_A), PortEntry(port_b, "svc", user, HOST_B)]
            )
            assert await on_a.find(service="svc") == expected
            assert await on_b.list_ports() == expected


async def test_owner_death_on_a_removes_its_entry_on_b_at_once(etcd):
    async with (
        two_hosts(etcd) as (a, b),
        PortRegistry(HOST_B, b.port) as on_b,
        on_b.watch(service="svc", initial=False) as events,
    ):
        with bound(HOST_A) as port:
            async with PortRegistry(HOST_A, a.port) as owner:
                await owner.register("svc", port)
                assert (await asyncio.wait_for(anext(events), T)).kind == "added"
            # the owner's connection closed: no lease expiry to wait for
            started = time.monotonic()
            event = await asyncio.wait_for(anext(events), TTL / 2)
            assert (event.kind, event.port) == ("removed", port)
            assert time.monotonic() - started < TTL / 2


async def test_a_daemon_killed_with_sigkill_vanishes_from_b_within_ttl_plus_1_s(etcd):
    proc, port_a = await start_daemon_process(etcd, HOST_A)
    try:
        async with daemon(etcd, HOST_B) as b:
            await b.cluster.wait_connected(T)
            async with (
                PortRegistry(HOST_B, b.port) as on_b,
                on_b.watch(beginswith="svc", initial=False) as events,
            ):
                with bound(HOST_A) as p1, bound(HOST_A) as p2:
                    async with PortRegistry(HOST_A, port_a) as owner:
                        await owner.register("svc1", p1)
                        await owner.register("svc2", p2)
                        for _ in range(2):
                            event = await asyncio.wait_for(anext(events), T)
                            assert (event.kind, event.host) == ("added", HOST_A)
                        proc.send_signal(signal.SIGKILL)
                        killed = time.monotonic()
                        await proc.wait()
                        gone = {(await asyncio.wait_for(anext(events), T)) for _ in range(2)}
                        elapsed = time.monotonic() - killed
                assert {(e.kind, e.port) for e in gone} == {("removed", p1), ("removed", p2)}
                assert elapsed <= TTL + 1, f"seen after {elapsed:.2f} s"
                assert await on_b.list_ports() == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_a_daemon_that_closes_revokes_its_lease_and_b_sees_it_at_once(etcd):
    async with daemon(etcd, HOST_B) as b:
        await b.cluster.wait_connected(T)
        async with (
            PortRegistry(HOST_B, b.port) as on_b,
            on_b.watch(initial=False) as events,
            daemon(etcd, HOST_A) as a,
        ):
            await a.cluster.wait_connected(T)
            with bound(HOST_A) as port:
                async with PortRegistry(HOST_A, a.port, reconnect=True) as owner:
                    await owner.register("svc", port)
                    assert (await asyncio.wait_for(anext(events), T)).kind == "added"
                    started = time.monotonic()
                    await a.close()
                    event = await asyncio.wait_for(anext(events), T)
                    assert (event.kind, event.port) == ("removed", port)
                    assert time.monotonic() - started < TTL / 2


async def test_nscl_list_stays_local(etcd):
    async with (
        two_hosts(etcd) as (a, b),
        PortRegistry(HOST_A, a.port) as on_a,
        PortRegistry(HOST_B, b.port) as on_b,
    ):
        with bound(HOST_A) as port_a, bound(HOST_B) as port_b:
            await on_a.register("remote", port_a)
            await on_b.register("local", port_b)
            assert await on_b.wait_for("remote", timeout=T) == port_a
            assert {e.service for e in await on_b.list_ports()} == {"remote", "local"}
            reader, writer = await asyncio.open_connection(HOST_B, b.port)
            try:
                writer.write(b"LIST\n")
                assert await asyncio.wait_for(reader.readline(), T) == b"OK 1\r\n"
                line = await asyncio.wait_for(reader.readline(), T)
                assert line.split()[:2] == [str(port_b).encode(), b"local"]
            finally:
                writer.close()
                await writer.wait_closed()


async def test_closing_a_cluster_link_twice_is_fine(etcd):
    server = daemon(etcd, HOST_A)
    async with server:
        await server.cluster.wait_connected(T)
        await server.cluster.close()
        assert server.cluster.status().lease is None  # revoked
        await server.cluster.close()  # a second close returns at once, raises nothing
