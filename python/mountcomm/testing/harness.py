"""Test harness helpers, usable with or without pytest."""

from __future__ import annotations

__all__ = ["LOCAL_HOST", "connected_communicator_pair"]

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
