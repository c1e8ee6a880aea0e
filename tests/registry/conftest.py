"""Helpers of the registry tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

from mountcomm.registry.server import RegistryServer
from tests.timing import UNIT

T = 5 * UNIT
"""The one timeout unit of these tests [s]: every await on a peer is bounded by it."""


def pool_of(ports: list[int]) -> list[tuple[int, int]]:
    """A pool made of exactly these ports."""
    return [(p, p) for p in ports]


async def read_line(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readline(), T)


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), T)


async def assert_closed_by_peer(reader: asyncio.StreamReader) -> None:
    """The peer closed: EOF, or a reset if it closed with our data unread."""
    try:
        rest = await asyncio.wait_for(reader.read(), T)
    except ConnectionResetError:
        return
    assert rest == b""


async def close_raw(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await asyncio.wait_for(writer.wait_closed(), T)


@contextlib.contextmanager
def registry_in_thread(**kwargs: Any) -> Iterator[RegistryServer]:
    """Run a `RegistryServer` on 127.0.0.1:0 in a thread, for blocking clients."""
    box: dict[str, Any] = {}
    started = threading.Event()

    async def serve() -> None:
        server = RegistryServer("127.0.0.1", 0, **kwargs)
        box["server"], box["loop"] = server, asyncio.get_running_loop()
        try:
            await server.start()
        except BaseException as e:
            box["error"] = e
            raise
        finally:
            started.set()
        await server.wait_closed()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="registry")
    thread.start()
    assert started.wait(T), "registry thread did not start"
    if "error" in box:
        thread.join(T)
        raise box["error"]
    server: RegistryServer = box["server"]
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), box["loop"]).result(T)
        thread.join(T)
        assert not thread.is_alive()


def connect_tcp(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=T)
