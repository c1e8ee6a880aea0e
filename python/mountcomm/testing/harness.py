"""Test harness helpers, usable with or without pytest."""

from __future__ import annotations

__all__ = ["LOCAL_HOST", "connected_communicator_pair", "mount_client_with_peer"]

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ..net.communicator import Communicator

LOCAL_HOST = "127.0.0.1"


@contextlib.asynccontextmanager
async def connected_communicator_pair(
    timeout: float = 10.0, log: Any = None, **kwargs: Any
) -> AsyncIterator[tuple[Communicator, Communicator]]:
    """Make a console and a controller Communicator on port 0, connected to each other.

    Parameters
    ----------
    timeout : `float`
        Limit for starting and connecting both [s].
    log : logger or `None`
        Passed to both Communicators.
    **kwargs
        Other Communicator keyword options (e.g. ``max_frame_bytes``).

    Yields
    ------
    console, controller : `Communicator`
        ``console`` reads replies and writes commands; ``controller`` reads
        commands and writes replies. Both are closed on exit.
    """
    console = Communicator(
        "console", LOCAL_HOST, 0, LOCAL_HOST, 0, log, read_replies=True, connect=False, **kwargs
    )
    controller = Communicator(
        "controller",
        LOCAL_HOST,
        0,
        LOCAL_HOST,
        0,
        log,
        read_replies=False,
        connect=False,
        **kwargs,
    )
    try:
        async with asyncio.timeout(timeout):
            await console.wait_server_port()
            await controller.wait_server_port()
            await asyncio.gather(
                console.connect(port=controller.server_port),
                controller.connect(port=console.server_port),
            )
        yield console, controller
    finally:
        await asyncio.gather(console.close(), controller.close())


@contextlib.asynccontextmanager
async def mount_client_with_peer(
    timeout: float = 10.0, log: Any = None, **options: Any
) -> AsyncIterator[tuple[Any, Communicator]]:
    """A `MountClient` connected to a bare controller-side `Communicator`, on port 0.

    The caller scripts the controller: read commands from the Communicator and
    write replies to it. Useful to test how code reacts to exact reply sequences.

    Parameters
    ----------
    timeout : `float`
        Limit for starting and connecting both [s].
    log : logger or `None`
        Passed to both.
    **options
        `MountClient` keyword options (``ack_timeout``, ``role``...).

    Yields
    ------
    mount : `MountClient`
        The connected client.
    peer : `Communicator`
        The controller side (``read_replies=False``). Both are closed on exit.
    """
    from ..commanding.client import MountClient

    peer = Communicator(
        "controller", LOCAL_HOST, 0, LOCAL_HOST, 0, log, read_replies=False, connect=False
    )
    try:
        async with asyncio.timeout(timeout):
            command_port = await peer.wait_server_port()
        mount = MountClient(
            LOCAL_HOST, command_port, reply_host=LOCAL_HOST, reply_port=0, log=log, **options
        )
        try:
            async with asyncio.timeout(timeout):
                reply_port = await mount.wait_reply_port()
                await asyncio.gather(mount.start(), peer.connect(port=reply_port))
            yield mount, peer
        finally:
            await mount.close()
    finally:
        await peer.close()
