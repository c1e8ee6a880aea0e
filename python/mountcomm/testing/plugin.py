"""pytest plugin of mountcomm (registered through the ``pytest11`` entry point).

Every fixture runs on 127.0.0.1 with port 0 and closes everything afterwards,
so tests never collide on ports and leave nothing running.

Fixtures
--------
communicator_pair
    ``(console, controller)``: two connected `Communicator` objects; the console
    reads replies and writes commands, the controller the reverse.
port_registry
    A port registry daemon in this process (a `RegistryHarness`).
mock_controller
    A started `MockController` serving the CSC, EUI and HHD roles, with fast
    device timings (`Timings.fast`) and the real motion limits.
mount_client
    A `MountClient` in the CSC role, connected to ``mock_controller``, that
    already holds command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from ..commanding.client import MountClient
from ..net.communicator import Communicator
from ..protocol.enums import Source
from ..registry.harness import RegistryHarness
from ..sim.console import SimulatedConsole
from ..sim.controller import MockController
from ..sim.devices.base import Timings
from .harness import connected_communicator_pair

__all__ = ["communicator_pair", "mock_controller", "mount_client", "port_registry"]


@pytest_asyncio.fixture
async def communicator_pair() -> AsyncIterator[tuple[Communicator, Communicator]]:
    """Two Communicators on port 0, connected to each other; closed afterwards."""
    async with connected_communicator_pair() as pair:
        yield pair


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


@pytest_asyncio.fixture
async def mock_controller() -> AsyncIterator[MockController]:
    """A started MockController (CSC, EUI, HHD roles) on port 0 with fast timings.

    Example::

        async def test_el_move(mock_controller, mount_client):
            await mount_client.run(commands.ElevationAxisMove(position=60))
    """
    controller = MockController(
        (Source.CSC, Source.EUI, Source.HHD), host="127.0.0.1", timings=Timings.fast()
    )
    async with controller:
        yield controller


@pytest_asyncio.fixture
async def mount_client(mock_controller: MockController) -> AsyncIterator[MountClient]:
    """A MountClient (CSC role) connected to ``mock_controller``, holding command."""
    console = SimulatedConsole(mock_controller, role=Source.CSC)
    try:
        await console.start()
        await console.take_command()
        assert console.client is not None
        yield console.client
    finally:
        await console.close()
