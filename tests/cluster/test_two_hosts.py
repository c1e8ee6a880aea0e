"""Two registry daemons as two hosts (127.0.0.2 and 127.0.0.3) sharing one etcd."""

from __future__ import annotations

import asyncio
import socket

from mountcomm.registry.client import PortRegistry
from mountcomm.registry.store import PortEntry

from .conftest import daemon

HOST_A = "127.0.0.2"
HOST_B = "127.0.0.3"
T = 10.0  # generous bound on any wait [s]


async def test_entry_registered_on_a_is_seen_on_b_with_a_host(etcd):
    async with daemon(etcd, HOST_A) as a, daemon(etcd, HOST_B) as b:
        await a.cluster.wait_connected(T)
        await b.cluster.wait_connected(T)
        async with (
            PortRegistry(HOST_A, a.port) as on_a,
            PortRegistry(HOST_B, b.port) as on_b,
        ):
            with socket.socket() as sock:
                sock.bind((HOST_A, 0))
                port = sock.getsockname()[1]
                async with on_b.watch(service="svc", initial=False) as events:
                    entry = await on_a.register("svc", port)
                    assert entry.host == HOST_A
                    event = await asyncio.wait_for(anext(events), T)
                    assert (event.kind, event.host, event.port) == ("added", HOST_A, port)
                    assert await on_b.find(service="svc") == [
                        PortEntry(port, "svc", entry.user, HOST_A)
                    ]
                    await on_a.release(port)
                    event = await asyncio.wait_for(anext(events), T)
                    assert (event.kind, event.host, event.port) == ("removed", HOST_A, port)
