"""``--registry HOST:PORT`` for the commands that find their peers by name."""

from __future__ import annotations

__all__ = ["add_registry_arguments", "locate", "open_registry", "registry_address"]

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

from ..net.discovery import DEFAULT_SERVICE_PREFIX
from ..registry.client import PortRegistry


def registry_address(text: str) -> tuple[str, int]:
    """argparse type of ``--registry``: ``HOST:PORT`` (``[v6]:PORT``), or ``HOST`` (30000)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or "]" in port_text:
        host, port_text = text, "30000"
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        port = 0
    if not host or not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"bad registry address {text!r}: expected HOST:PORT")
    return host, port


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--registry HOST:PORT`` and ``--service-prefix P``."""
    parser.add_argument(
        "--registry",
        type=registry_address,
        metavar="HOST:PORT",
        help="find peers (and advertise ourselves) by name through this port registry",
    )
    parser.add_argument(
        "--service-prefix",
        default=DEFAULT_SERVICE_PREFIX,
        metavar="P",
        help="first part of the service names, P.ROLE.command ... (default %(default)s)",
    )


@contextlib.asynccontextmanager
async def open_registry(args: argparse.Namespace) -> AsyncIterator[PortRegistry | None]:
    """A connected registry client for ``--registry`` (reconnecting), or `None`."""
    if args.registry is None:
        yield None
        return
    host, port = args.registry
    async with PortRegistry(host, port, reconnect=True) as registry:
        yield registry


async def locate(registry: PortRegistry, service: str, timeout: float) -> tuple[str, int]:
    """The host and port of ``service`` as soon as it is advertised.

    Raises
    ------
    TimeoutError
        If it is not within ``timeout`` [s].
    """
    async with asyncio.timeout(timeout), registry.watch(service=service) as events:
        async for event in events:
            if event.kind == "added":
                return event.host or registry.host, event.port
    raise ConnectionError(f"the registry watch of {service!r} ended")
