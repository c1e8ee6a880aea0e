"""Helpers for the transport tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from mountcomm import Communicator
from mountcomm.testing.harness import connected_communicator_pair
from tests.timing import UNIT

STD_TIMEOUT = 5 * UNIT
LOCAL_HOST = "127.0.0.1"


class StateWatcher:
    """A connect_callback that records each call and lets a test wait for a state."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool, bool]] = []
        self._changed = asyncio.Event()

    def __call__(self, obj: Any) -> None:
        self.calls.append((obj.name, obj.client_connected, obj.server_connected))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = STD_TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


@contextlib.asynccontextmanager
async def connected_communicators(
    watcher: StateWatcher | None = None, **kwargs: Any
) -> AsyncIterator[tuple[Communicator, Communicator]]:
    """A console-side (reads replies) and a controller-side Communicator, connected."""
    async with connected_communicator_pair(
        timeout=STD_TIMEOUT, connect_callback=watcher, **kwargs
    ) as pair:
        yield pair


def reset(writer: asyncio.StreamWriter) -> None:
    """Abort a connection with a TCP RST (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()
