"""pytest plugin of mountcomm (registered through the ``pytest11`` entry point).

Fixtures run everything on 127.0.0.1 with port 0 and close it afterwards, so
tests never collide on ports and leave nothing running.

Fixtures
--------
communicator_pair
    ``(console, controller)``: two connected `Communicator` objects; the console
    reads replies and writes commands, the controller the reverse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from ..net.communicator import Communicator
from .harness import connected_communicator_pair

__all__ = ["communicator_pair"]


@pytest_asyncio.fixture
async def communicator_pair() -> AsyncIterator[tuple[Communicator, Communicator]]:
    """Two Communicators on port 0, connected to each other; closed afterwards."""
    async with connected_communicator_pair() as pair:
        yield pair
