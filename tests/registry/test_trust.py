"""The trust model of lookups made in order to connect, with a real second uid."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mountcomm.registry import PortRegistry
from mountcomm.registry.client import ANY_USER
from mountcomm.registry.harness import RegistryHarness

from ..as_nobody import Nobody
from .conftest import T


@pytest.fixture
async def hijacker(
    port_registry: RegistryHarness, nobody: Nobody
) -> AsyncIterator[asyncio.subprocess.Process]:
    """User nobody holds mount.csc.command on a low port, before anyone else."""
    async with nobody.registered(port_registry.host, port_registry.port, 1111) as proc:
        yield proc


async def test_an_untrusted_entry_is_never_chosen(
    port_registry: RegistryHarness, hijacker: asyncio.subprocess.Process
) -> None:
    client = port_registry.client
    # registering a name another user holds stays allowed (and gets the plain name)
    entries = await client.find(service="mount.csc.command")
    assert [(e.port, e.user) for e in entries] == [(1111, "nobody")]
    mine = await (await port_registry.new_client()).register("mount.csc.command", 2222)
    assert mine.service == "mount.csc.command"  # names are per user
    # the lookup made to connect takes root's entry, although nobody's port is lower
    assert await client.wait_for("mount.csc.command", timeout=T) == 2222
    async with client.watch(service="mount.csc.command") as events:
        first = await asyncio.wait_for(events.__anext__(), T)
        assert (first.port, first.user) == (2222, "root")
        assert [e.port for e in events.entries] == [2222]


async def test_an_untrusted_entry_alone_is_waited_past(
    port_registry: RegistryHarness, hijacker: asyncio.subprocess.Process
) -> None:
    client = port_registry.client
    with pytest.raises(TimeoutError):
        await client.wait_for("mount.csc.command", timeout=0.2)
    waiter = asyncio.create_task(client.wait_for("mount.csc.command", timeout=T))
    owner = await port_registry.new_client()
    await owner.register("mount.csc.command", 3333)
    assert await asyncio.wait_for(waiter, T) == 3333


async def test_named_users_are_trusted(
    port_registry: RegistryHarness, hijacker: asyncio.subprocess.Process
) -> None:
    client = port_registry.client
    assert await client.wait_for("mount.csc.command", timeout=T, trusted_users=["nobody"]) == 1111
    assert await client.wait_for("mount.csc.command", timeout=T, trusted_users=ANY_USER) == 1111
    trusting = PortRegistry(
        port_registry.host, port_registry.port, timeout=T, trusted_users=["nobody"]
    )
    async with trusting:
        assert await trusting.wait_for("mount.csc.command", timeout=T) == 1111
    with pytest.raises(TypeError, match="collection of user names"):
        client.watch(trusted_users="nobody")


async def test_the_network_classes_connect_only_to_trusted_peers(
    port_registry: RegistryHarness, nobody: Nobody
) -> None:
    """`connect_service` (client_service= / command_service=) goes through the watch."""
    from mountcomm import log as mlog
    from mountcomm.net.discovery import connect_service

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async with contextlib.AsyncExitStack() as stack:
        servers = []
        for _ in range(2):
            server = await asyncio.start_server(accept, "127.0.0.1", 0)
            stack.push_async_callback(_close_server, server)
            servers.append(server)
        # the man in the middle holds the lower port: a lookup by lowest port picks it
        rogue_port, honest_port = sorted(s.sockets[0].getsockname()[1] for s in servers)
        await stack.enter_async_context(
            nobody.registered(port_registry.host, port_registry.port, rogue_port)
        )
        owner = await port_registry.new_client()
        task = asyncio.create_task(
            connect_service(
                port_registry.client,
                "mount.csc.command",
                "127.0.0.1",
                log=mlog.get_logger(None, "test"),
            )
        )
        await owner.register("mount.csc.command", honest_port)
        link, found = await asyncio.wait_for(task, T)
        link.close()
        assert found == honest_port  # never nobody's rogue port, though it was first


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()
