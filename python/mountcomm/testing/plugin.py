"""pytest plugin of mountcomm (registered through the ``pytest11`` entry point).

Fixtures run everything on 127.0.0.1 with port 0 and close it afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from mountcomm.registry.harness import RegistryHarness

# ---- port registry ----------------------------------------------------------------


@pytest_asyncio.fixture
async def port_registry() -> AsyncIterator[RegistryHarness]:
    """A port registry daemon in this process on 127.0.0.1, port 0.

    Yields a `mountcomm.registry.RegistryHarness`: ``.host`` and ``.port`` of
    the daemon, ``.client`` (a connected `mountcomm.PortRegistry`),
    ``await .new_client()`` for more connections (each its own lease),
    ``.server`` (the `RegistryServer`, e.g. ``.server.store``) and
    ``.portserver_address`` (set ``PORTSERVER_ADDRESS`` to it so that
    ``portpicker.pick_unused_port()`` asks this daemon). Its pool is "ephemeral":
    allocated ports are ports the OS picks, never a fixed range. Everything is
    closed after the test.

    Example::

        async def test_peer_found(port_registry):
            await port_registry.client.register("my_server", server_port)
            other = await port_registry.new_client()
            assert await other.wait_for("my_server", timeout=5) == server_port
    """
    async with RegistryHarness() as harness:
        yield harness
