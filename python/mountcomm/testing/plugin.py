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
    A started `MockController` serving the CSC, EUI and HHD roles, with the
    real motion limits and device timings, on a simulated clock that runs
    `FIXTURE_TIME_SCALE` (100) times faster than the wall clock: a 30 s slew
    takes 0.3 s. Mark a test ``@pytest.mark.mountcomm_time_scale(1)`` for
    real-time behaviour (or any other factor).
mount_client
    A `MountClient` in the CSC role, connected to ``mock_controller``, that
    already holds command.
replay_controller
    A factory: ``await replay_controller(path)`` starts a `MockController`
    that answers as the controller of a ``mountcomm proxy --record``
    recording did (`MockController.from_recording`), on port 0, at the time
    scale of ``mock_controller``; closed after the test.

Event loop
----------
The fixtures are function-scoped async fixtures. In pytest-asyncio's strict
mode (its default) a test that uses them must be marked
``@pytest.mark.asyncio`` (or set ``asyncio_mode = auto``). The test must run in
the event loop of the fixtures: with the default settings both are
function-scoped. A test in a loop of another scope (e.g.
``@pytest.mark.asyncio(loop_scope="module")``), or an async test pytest-asyncio
would not run, fails at fixture set-up with a message that names the fix
(`mountcomm.testing.loop_scope`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from ..commanding.client import MountClient
from ..net.communicator import Communicator
from ..protocol.enums import Source
from ..registry.harness import RegistryHarness
from ..sim.console import SimulatedConsole
from ..sim.controller import MockController
from ..sim.devices.base import Timings
from .harness import connected_communicator_pair
from .loop_scope import check_loop_scope

__all__ = [
    "FIXTURE_TIME_SCALE",
    "communicator_pair",
    "mock_controller",
    "mount_client",
    "port_registry",
    "replay_controller",
]

FIXTURE_TIME_SCALE = 100.0
"""Simulated seconds per wall second of the ``mock_controller`` fixture."""

TIME_SCALE_MARKER = "mountcomm_time_scale"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``mountcomm_time_scale`` marker."""
    config.addinivalue_line(
        "markers",
        f"{TIME_SCALE_MARKER}(scale): the mock_controller fixture's time scale "
        f"(simulated seconds per wall second; default {FIXTURE_TIME_SCALE:g}, 1: real time)",
    )


def fixture_time_scale(request: pytest.FixtureRequest) -> float:
    """The time scale asked for by the test's ``mountcomm_time_scale`` marker, or the default."""
    marker = request.node.get_closest_marker(TIME_SCALE_MARKER)
    if marker is None:
        return FIXTURE_TIME_SCALE
    if len(marker.args) != 1 or marker.kwargs:
        raise TypeError(f"use @pytest.mark.{TIME_SCALE_MARKER}(scale), e.g. (1) for real time")
    return float(marker.args[0])


@pytest_asyncio.fixture
async def communicator_pair(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Communicator, Communicator]]:
    """Two Communicators on port 0, connected to each other; closed afterwards."""
    check_loop_scope(request)
    async with connected_communicator_pair() as pair:
        yield pair


@pytest_asyncio.fixture
async def port_registry(request: pytest.FixtureRequest) -> AsyncIterator[RegistryHarness]:
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
    check_loop_scope(request)
    async with RegistryHarness() as harness:
        yield harness


@pytest_asyncio.fixture
async def mock_controller(request: pytest.FixtureRequest) -> AsyncIterator[MockController]:
    """A started MockController (CSC, EUI, HHD roles) on port 0, in fast simulated time.

    The simulated clock runs `FIXTURE_TIME_SCALE` times faster than the wall
    clock (ACK timeouts are scaled to match, the tracking timeout stays in wall
    seconds); ``@pytest.mark.mountcomm_time_scale(1)`` gives real time. Use
    ``mock_controller.now()`` (simulated TAI) for TRACK targets.

    Example::

        async def test_el_move(mock_controller, mount_client):
            await mount_client.run(commands.ElevationAxisMove(position=60))
    """
    check_loop_scope(request)
    controller = MockController(
        (Source.CSC, Source.EUI, Source.HHD),
        host="127.0.0.1",
        timings=Timings(),
        time_scale=fixture_time_scale(request),
    )
    async with controller:
        yield controller


@pytest_asyncio.fixture
async def mount_client(
    request: pytest.FixtureRequest, mock_controller: MockController
) -> AsyncIterator[MountClient]:
    """A MountClient (CSC role) connected to ``mock_controller``, holding command."""
    check_loop_scope(request)
    console = SimulatedConsole(mock_controller, role=Source.CSC)
    try:
        await console.start()
        await console.take_command()
        assert console.client is not None
        yield console.client
    finally:
        await console.close()


ReplayFactory = Callable[..., Awaitable[MockController]]
"""``await replay_controller(path, roles=None, **kwargs)`` -> a started `MockController`."""


@pytest_asyncio.fixture
async def replay_controller(request: pytest.FixtureRequest) -> AsyncIterator[ReplayFactory]:
    """Start controllers that replay recordings; every one is closed after the test.

    ``await replay_controller(path)`` returns a started
    `MockController.from_recording` on 127.0.0.1, port 0, serving the roles
    of the recording, its recorded delays divided by the fixture's time scale
    (`FIXTURE_TIME_SCALE`, or the ``mountcomm_time_scale`` marker's). Other
    keyword arguments go to `MockController`.

    Example::

        async def test_replayed_session(replay_controller):
            controller = await replay_controller("night.jsonl")
            console = SimulatedConsole(controller, role=Source.CSC)
            ...
    """
    check_loop_scope(request)
    started: list[MockController] = []

    async def start(
        path: str | os.PathLike[str], roles: Any = None, **kwargs: Any
    ) -> MockController:
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("time_scale", fixture_time_scale(request))
        controller = MockController.from_recording(path, roles, **kwargs)
        started.append(controller)
        await controller.start()
        return controller

    try:
        yield start
    finally:
        for controller in reversed(started):
            await controller.close()
