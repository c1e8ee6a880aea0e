"""``--registry HOST:PORT`` for the commands that find their peers by name."""

from __future__ import annotations

__all__ = ["add_registry_arguments", "locate", "open_registry", "registry_address"]

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

from ..net.discovery import DEFAULT_SERVICE_PREFIX
from ..registry.client import PortRegistry
from ..registry.entries import EventKind
from .common import CliError, describe_error, server_port


def registry_address(text: str) -> tuple[str, int]:
    """argparse type of ``--registry``: ``HOST:PORT`` (``[v6]:PORT``), or ``HOST`` (30000)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or "]" in port_text:
        host, port_text = text, "30000"
    host = host.strip("[]")
    if not host:
        raise argparse.ArgumentTypeError(f"bad registry address {text!r}: expected HOST:PORT")
    try:
        return host, server_port(port_text)
    except argparse.ArgumentTypeError as e:
        raise argparse.ArgumentTypeError(f"bad registry address {text!r}: {e}") from None


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
    """A connected registry client for ``--registry`` (reconnecting), or `None`.

    Raises
    ------
    CliError
        If the registry cannot be reached (the message says where and why).
    """
    if args.registry is None:
        yield None
        return
    host, port = args.registry
    registry = PortRegistry(host, port, reconnect=True)
    try:
        await registry.start()
    except (OSError, TimeoutError) as e:
        await registry.close()
        raise CliError(f"cannot reach the registry at {host}:{port}: {describe_error(e)}") from None
    try:
        yield registry
    finally:
        await registry.close()


async def locate(registry: PortRegistry, service: str, timeout: float) -> tuple[str, int]:
    """The host and port of ``service`` as soon as it is advertised.

    Raises
    ------
    TimeoutError
        If it is not within ``timeout`` [s].
    """
    async with asyncio.timeout(timeout), registry.watch(service=service) as events:
        async for event in events:
            if event.kind is EventKind.ADDED:
                return event.host or registry.host, event.port
    raise ConnectionError(f"the registry watch of {service!r} ended")
