"""ClientServerPair / Communicator finding each other through the port registry."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from mountcomm import ClientServerPair, Communicator
from mountcomm.protocol import commands
from mountcomm.registry import RegistryHarness

from ..net.helpers import StateWatcher
from .helpers import ObservedRegistry, T

HOST = "127.0.0.1"
SLOW_RETRY = 1000.0
"""A retry interval no test could wait for: connecting must be event-driven."""


def pair(name: str, registry: Any, watcher: StateWatcher | None = None, **kwargs: Any) -> Any:
    cls = kwargs.pop("cls", ClientServerPair)
    extra = {"read_replies": kwargs.pop("read_replies")} if cls is Communicator else {}
    p = cls(
        name,
        None,
        0,
        HOST,
        0,
        None,
        connect=False,
        connect_callback=watcher,
        registry=registry,
        **extra,
        **kwargs,
    )
    p.connect_retry_interval = SLOW_RETRY
    return p


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


async def services(registry: Any, service: str) -> list[int]:
    return [e.port for e in await asyncio.wait_for(registry.find(service=service), T)]


async def test_server_service_is_advertised_and_released(port_registry: RegistryHarness) -> None:
    reg = port_registry.client
    p = pair("a", reg, server_service="svc.a")
    try:
        entry = await asyncio.wait_for(p.advertise_task, T)
        assert entry.service == "svc.a"
        assert entry.port == p.server_port != 0
        assert await services(reg, "svc.a") == [p.server_port]
    finally:
        await p.close()
    assert await services(reg, "svc.a") == []
    await p.close()  # idempotent


async def test_connect_before_advertise_completes_on_the_event(
    port_registry: RegistryHarness,
) -> None:
    observed = ObservedRegistry(port_registry.client)
    other = await port_registry.new_client()
    watcher = StateWatcher()
    a = pair("a", observed, watcher, client_service="svc.b", server_service="svc.a")
    b = None
    try:
        connecting = asyncio.create_task(a.connect())
        await observed.wait_watching()
        assert not connecting.done() and not a.client_connected
        b = pair("b", other, client_service="svc.a", server_service="svc.b")
        await asyncio.wait_for(asyncio.gather(connecting, b.connect()), T)
        assert a.connected and b.connected
        assert a.client_port == b.server_port and b.client_port == a.server_port
        assert len(watcher.calls) == 2  # client and server of a
    finally:
        for p in (a, b):
            if p is not None:
                await p.close()


async def test_communicators_exchange_messages_by_service(port_registry: RegistryHarness) -> None:
    reg = port_registry.client
    console = pair(
        "console",
        reg,
        cls=Communicator,
        read_replies=True,
        client_service="t.command",
        server_service="t.reply",
    )
    controller = pair(
        "controller",
        reg,
        cls=Communicator,
        read_replies=False,
        client_service="t.reply",
        server_service="t.command",
    )
    try:
        await asyncio.wait_for(asyncio.gather(console.connect(), controller.connect()), T)
        sent = commands.ElevationAxisMove(sequence_id=3, position=45)
        await console.write(sent)
        got = await asyncio.wait_for(controller.read(), T)
        assert got == sent
    finally:
        await console.close()
        await controller.close()


async def test_a_refusing_advertised_port_waits_for_the_next(
    port_registry: RegistryHarness,
) -> None:
    stale_owner = await port_registry.new_client()
    stale = refused_port()
    await asyncio.wait_for(stale_owner.register("svc", stale), T)
    observed = ObservedRegistry(port_registry.client)
    a = pair("a", observed, client_service="svc")
    b = None
    try:
        connecting = asyncio.create_task(a.connect_client())
        await observed.wait_watching()  # its first event is the stale port
        await asyncio.wait_for(stale_owner.release(stale), T)
        b = pair("b", await port_registry.new_client(), server_service="svc")
        await asyncio.wait_for(b.advertise_task, T)
        await asyncio.wait_for(connecting, T)
        assert a.client_port == b.server_port != stale
    finally:
        await a.close()
        if b is not None:
            await b.close()


async def test_auto_reconnect_finds_a_peer_restarted_on_another_port(
    port_registry: RegistryHarness,
) -> None:
    watcher = StateWatcher()
    a = pair(
        "a",
        port_registry.client,
        watcher,
        client_service="svc.b",
        server_service="svc.a",
        auto_reconnect=True,
    )
    b1 = pair(
        "b1", await port_registry.new_client(), client_service="svc.a", server_service="svc.b"
    )
    b2 = None
    try:
        await asyncio.wait_for(asyncio.gather(a.connect(), b1.connect()), T)
        first_port = a.client_port
        await b1.close()
        await watcher.wait_for(lambda: not a.client_connected and not a.server_connected)
        b2 = pair(
            "b2", await port_registry.new_client(), client_service="svc.a", server_service="svc.b"
        )
        await asyncio.wait_for(b2.connect(), T)
        await watcher.wait_for(lambda: a.connected)
        assert a.client_port == b2.server_port != first_port
        assert a.reconnect_task is None
        # lost client, lost server, new server, new client (order of the last two may vary)
        assert len(watcher.calls) == 6
    finally:
        for p in (a, b1, b2):
            if p is not None:
                await p.close()


async def test_auto_reconnect_without_registry_retries_the_port() -> None:
    watcher = StateWatcher()
    server = ClientServerPair("server", None, 0, HOST, 0, None, connect=False)
    client = None
    try:
        port = await asyncio.wait_for(server.wait_server_port(), T)
        client = ClientServerPair(
            "client",
            HOST,
            port,
            HOST,
            0,
            None,
            connect=False,
            connect_callback=watcher,
            auto_reconnect=True,
        )
        await asyncio.wait_for(client.connect_client(), T)
        await asyncio.wait_for(server.server.wait_connected(), T)
        await server.server.close_client()  # the peer drops us
        await watcher.wait_for(lambda: not client.client_connected)
        await watcher.wait_for(lambda: client.client_connected)
        assert [c[1] for c in watcher.calls] == [True, False, True]
    finally:
        if client is not None:
            await client.close()
        await server.close()


async def test_no_reconnect_by_default_or_after_close_client(
    port_registry: RegistryHarness,
) -> None:
    reg = port_registry.client
    a = pair("a", reg, client_service="svc.b", auto_reconnect=True)
    b = pair("b", await port_registry.new_client(), server_service="svc.b")
    try:
        await asyncio.wait_for(a.connect_client(), T)
        await a.close_client()
        assert a.reconnect_task is None and not a.client_connected
    finally:
        await a.close()
        await b.close()


async def test_close_while_waiting_for_the_service(port_registry: RegistryHarness) -> None:
    observed = ObservedRegistry(port_registry.client)
    a = pair("a", observed, client_service="nobody")
    connecting = asyncio.create_task(a.connect())
    await observed.wait_watching()
    await a.close()
    with pytest.raises((ConnectionError, asyncio.CancelledError)):
        await asyncio.wait_for(connecting, T)


async def test_close_of_connect_task_waiting_for_the_service(
    port_registry: RegistryHarness,
) -> None:
    observed = ObservedRegistry(port_registry.client)
    a = ClientServerPair("a", None, 0, HOST, 0, None, registry=observed, client_service="nobody")
    await observed.wait_watching()
    assert not a.connect_task.done()
    await a.close()
    assert a.connect_task.cancelled()


async def test_close_while_reconnecting(port_registry: RegistryHarness) -> None:
    observed = ObservedRegistry(port_registry.client)
    watcher = StateWatcher()
    a = pair("a", observed, watcher, client_service="svc.b", auto_reconnect=True)
    b = pair("b", await port_registry.new_client(), server_service="svc.b")
    try:
        await asyncio.wait_for(a.connect_client(), T)
        await observed.wait_watching()
        await b.close()
        await observed.wait_watching()  # the reconnection waits for svc.b again
        task = a.reconnect_task
        assert task is not None and not task.done()
    finally:
        await a.close()
        await b.close()
    assert task.done() and a.reconnect_task is None


async def test_close_before_the_port_is_advertised(port_registry: RegistryHarness) -> None:
    a = pair("a", port_registry.client, server_service="svc.a")
    await a.close()  # at once: the server may not even listen yet
    assert a.advertise_task is not None and a.advertise_task.done()
    assert await services(port_registry.client, "svc.a") == []


async def test_reconnect_ends_when_the_registry_is_lost(port_registry: RegistryHarness) -> None:
    reg = await port_registry.new_client()
    observed = ObservedRegistry(reg)
    a = pair("a", observed, client_service="svc.b", auto_reconnect=True)
    b = pair("b", port_registry.client, server_service="svc.b")
    try:
        await asyncio.wait_for(a.connect_client(), T)
        await b.close()
        await observed.wait_watching()
        task = a.reconnect_task
        assert task is not None
        await reg.close()
        await asyncio.wait_for(asyncio.shield(task), T)  # logged, not raised
        assert a.reconnect_task is None and not a.client_connected
    finally:
        await a.close()
        await b.close()


async def test_services_need_a_registry_and_exclude_a_port() -> None:
    with pytest.raises(ValueError, match="need a registry"):
        ClientServerPair("a", None, 0, HOST, 0, None, connect=False, client_service="x")
    with pytest.raises(ValueError, match="nonzero client_port"):
        ClientServerPair("a", None, 0, HOST, 0, None)
    async with RegistryHarness() as harness:
        a = pair("a", harness.client, client_service="x")
        try:
            with pytest.raises(ValueError, match="conflicts"):
                await a.connect(port=1234)
        finally:
            await a.close()
