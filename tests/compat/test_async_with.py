"""Every class of the package that can be closed asynchronously supports ``async with``."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil

import pytest

import mountcomm
from mountcomm.net.server import OneClientServer
from mountcomm.sim.telemetry import TelemetryClient, TelemetryServer
from tests.timing import UNIT

HOST = "127.0.0.1"
TIMEOUT = 5 * UNIT

EXEMPT = {
    "mountcomm.registry.pidwatch.PidWatcher": "a helper of RegistryServer with no start: "
    "it is ready when built, and its owner closes it",
    "mountcomm.registry.connection.NativeConnection": "an internal part of PortRegistry, "
    "built around streams that are already open; its owner closes it",
}
"""Classes with an async close that need not be async context managers, and why."""


def closable_classes() -> dict[str, type]:
    """Every class defined in mountcomm whose ``close`` is a coroutine function."""
    found: dict[str, type] = {}
    for module_info in pkgutil.walk_packages(mountcomm.__path__, "mountcomm."):
        if module_info.name.endswith("__main__"):
            continue  # running it is the program, not a definition
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            close = getattr(cls, "close", None)
            if close is not None and inspect.iscoroutinefunction(close):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


CLASSES = closable_classes()


def test_the_enumeration_finds_the_services() -> None:
    names = {cls.__name__ for cls in CLASSES.values()}
    expected = {"ClientServerPair", "Communicator", "OneClientServer", "MockController"}
    expected |= {"TelemetryServer", "TelemetryClient", "MountClient", "PortRegistry"}
    expected |= {"RegistryServer", "SimulatedConsole"}
    assert expected <= names
    assert set(EXEMPT) <= set(CLASSES)


@pytest.mark.parametrize("name", sorted(set(CLASSES) - set(EXEMPT)))
def test_is_an_async_context_manager(name: str) -> None:
    cls = CLASSES[name]
    assert inspect.iscoroutinefunction(getattr(cls, "__aenter__", None)), name
    assert inspect.iscoroutinefunction(getattr(cls, "__aexit__", None)), name


async def test_telemetry_server_async_with_starts_and_closes() -> None:
    async with TelemetryServer(HOST, 0) as server:
        assert server.port != 0
        async with TelemetryClient(HOST, server.port) as client:
            await asyncio.wait_for(server.wait_client_count(lambda n: n == 1), TIMEOUT)
            assert client is not None
    # Closed: the port no longer accepts connections.
    with pytest.raises(OSError):
        await asyncio.wait_for(asyncio.open_connection(HOST, server.port), TIMEOUT)


async def test_one_client_server_async_with_returns_the_listening_server() -> None:
    async with OneClientServer("s", HOST, 0, None) as server:
        assert server.port != 0 and not server.closed
    assert server.closed
