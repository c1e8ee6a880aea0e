"""Typed errors, misuse, and callback tasks owned by their object (real sockets)."""

from __future__ import annotations

import ast
import asyncio
import pathlib

import pytest

import mountcomm.net
from mountcomm import ClientServerPair, OneClientServer
from mountcomm.exceptions import ConnectionClosedError
from tests.ports import unused_port

from .helpers import LOCAL_HOST, STD_TIMEOUT


async def test_wait_connected_on_a_never_connected_client_is_misuse() -> None:
    async with ClientServerPair("idle", None, 0, LOCAL_HOST, 0, None, connect=False) as pair:
        with pytest.raises(RuntimeError, match="never connected"):
            await pair.wait_connected()


async def test_closed_pair_raises_connection_closed_error() -> None:
    pair = ClientServerPair("closed", LOCAL_HOST, unused_port(), LOCAL_HOST, 0, None, False)
    await pair.close()
    with pytest.raises(ConnectionClosedError):
        await pair.connect()
    with pytest.raises(ConnectionClosedError):
        await pair.connect_client()
    with pytest.raises(ConnectionClosedError):
        await pair.wait_connected()


async def test_close_during_connect_raises_connection_closed_error() -> None:
    pair = ClientServerPair("closing", LOCAL_HOST, unused_port(), LOCAL_HOST, 0, None, False)
    connecting = asyncio.create_task(pair.connect())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(pair.wait_connected())
    await asyncio.sleep(0)
    await pair.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(connecting, STD_TIMEOUT)
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(waiting, STD_TIMEOUT)


async def test_lost_client_without_reconnect_raises_connection_closed_error() -> None:
    server = OneClientServer("server", LOCAL_HOST, 0, None)
    await asyncio.wait_for(server.start_task, STD_TIMEOUT)
    pair = ClientServerPair("lost", LOCAL_HOST, server.port, LOCAL_HOST, 0, None, False)
    try:
        await asyncio.wait_for(pair.connect_client(), STD_TIMEOUT)
        await pair.close_client()
        with pytest.raises(ConnectionClosedError, match="lost"):
            await pair.wait_connected()
    finally:
        await pair.close()
        await server.close()


async def test_a_second_concurrent_connect_client_is_misuse() -> None:
    pair = ClientServerPair("twice", LOCAL_HOST, unused_port(), LOCAL_HOST, 0, None, False)
    try:
        first = asyncio.create_task(pair.connect_client())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already under way"):
            await pair.connect_client()
    finally:
        await pair.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(first, STD_TIMEOUT)


async def test_server_wait_connected_raises_connection_closed_error() -> None:
    server = OneClientServer("server", LOCAL_HOST, 0, None)
    await asyncio.wait_for(server.start_task, STD_TIMEOUT)
    waiting = asyncio.create_task(server.wait_connected())
    await asyncio.sleep(0)
    await server.close()
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(waiting, STD_TIMEOUT)
    with pytest.raises(ConnectionClosedError):
        await server.wait_connected()


async def test_close_cancels_and_awaits_async_callbacks() -> None:
    """An async callback still running at close() is cancelled and awaited, never leaked."""
    started = asyncio.Event()
    outcomes: list[str] = []

    async def slow_callback(obj: object) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise

    server = OneClientServer("server", LOCAL_HOST, 0, None)
    await asyncio.wait_for(server.start_task, STD_TIMEOUT)
    pair = ClientServerPair(
        "cb", LOCAL_HOST, server.port, LOCAL_HOST, 0, None, False, slow_callback
    )
    pair_tasks = pair._callback_tasks
    try:
        await asyncio.wait_for(pair.connect_client(), STD_TIMEOUT)
        await asyncio.wait_for(started.wait(), STD_TIMEOUT)
        assert len(pair_tasks) == 1
    finally:
        await pair.close()
        await server.close()
    assert outcomes == ["cancelled"] and not pair_tasks


async def test_close_lets_quick_async_callbacks_finish() -> None:
    seen: list[bool] = []

    async def callback(server: OneClientServer) -> None:
        await asyncio.sleep(0)
        seen.append(server.connected)

    server = OneClientServer("server", LOCAL_HOST, 0, None, callback)
    await asyncio.wait_for(server.start_task, STD_TIMEOUT)
    _, writer = await asyncio.open_connection(LOCAL_HOST, server.port)
    await asyncio.wait_for(server.wait_connected(), STD_TIMEOUT)
    await server.close()  # the "disconnected" callback still runs to its end
    writer.close()
    await writer.wait_closed()
    assert seen[-1] is False


def test_no_assert_and_no_builtin_connection_error_in_net() -> None:
    """Misuse raises RuntimeError (not assert); connection errors are ConnectionClosedError."""
    root = pathlib.Path(mountcomm.net.__file__).parent
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            assert not isinstance(node, ast.Assert), f"{path.name}:{node.lineno}: assert"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "ConnectionError", (
                    f"{path.name}:{node.lineno}: builtin ConnectionError raised"
                )
