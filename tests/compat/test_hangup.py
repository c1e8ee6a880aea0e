"""Code in the style of the original mount classes, over real sockets (port 0).

The original mock controller and telemetry client catch
``(ConnectionResetError, asyncio.IncompleteReadError)`` around ``read()``; every
hang-up must be caught that way, and also as `ConnectionClosedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from mountcomm import Communicator
from mountcomm.exceptions import ConnectionClosedError, MountcommError
from mountcomm.net import IncompleteFrameError
from mountcomm.protocol import commands, replies
from tests.timing import UNIT

from ..net.helpers import reset

HOST = "127.0.0.1"
TIMEOUT = 5 * UNIT
log = logging.getLogger("compat")


@contextlib.asynccontextmanager
async def controller_with_raw_console() -> AsyncIterator[
    tuple[Communicator, asyncio.StreamReader, asyncio.StreamWriter]
]:
    """A controller-side Communicator whose server has a raw socket peer."""
    async with Communicator(
        "controller", None, 0, HOST, 0, log, read_replies=False, connect=False
    ) as controller:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, controller.server_port), TIMEOUT
        )
        try:
            await asyncio.wait_for(controller.server.wait_connected(), TIMEOUT)
            yield controller, reader, writer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


async def old_style_read_loop(controller: Communicator) -> tuple[list[object], BaseException]:
    """The read loop of the original mock controller: stop on a hang-up."""
    received: list[object] = []
    while True:
        try:
            received.append(await asyncio.wait_for(controller.read(), TIMEOUT))
        except (ConnectionResetError, asyncio.IncompleteReadError) as e:
            return received, e


async def test_hangup_between_frames_is_a_connection_reset_error() -> None:
    async with controller_with_raw_console() as (controller, _, writer):
        command = commands.Enable()
        writer.write(command.encode())
        await writer.drain()
        writer.close()
        received, error = await old_style_read_loop(controller)
        assert received == [command]
        assert isinstance(error, ConnectionClosedError)
        assert isinstance(error, ConnectionResetError) and isinstance(error, MountcommError)
        # As asyncio's readuntil reports EOF: an IncompleteReadError with nothing partial.
        assert isinstance(error, asyncio.IncompleteReadError) and error.partial == b""


async def test_hangup_in_mid_frame_is_also_an_incomplete_read_error() -> None:
    async with controller_with_raw_console() as (controller, _, writer):
        command = commands.AzimuthAxisStop()
        writer.write(command.encode() + b"12\n10\n1")  # a whole frame, then part of one
        await writer.drain()
        writer.close()
        received, error = await old_style_read_loop(controller)
        assert received == [command]
        assert isinstance(error, IncompleteFrameError)
        assert isinstance(error, asyncio.IncompleteReadError)
        assert isinstance(error, ConnectionClosedError) and isinstance(error, ConnectionResetError)
        assert error.partial == b"12\n10\n1" and error.expected is None
        # Later reads keep failing the same way, never hang.
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(controller.read(), TIMEOUT)


async def test_hangup_with_a_reset_is_caught_the_old_way() -> None:
    async with controller_with_raw_console() as (controller, _, writer):
        reset(writer)
        _, error = await old_style_read_loop(controller)
        assert isinstance(error, ConnectionClosedError)


@pytest.mark.parametrize("caught", [ConnectionResetError, asyncio.IncompleteReadError])
async def test_either_old_exception_alone_catches_an_eof(caught: type[Exception]) -> None:
    for tail in (b"", b"12\n10"):
        async with controller_with_raw_console() as (controller, _, writer):
            writer.write(tail)
            writer.close()
            with pytest.raises(caught):
                await asyncio.wait_for(controller.read(), TIMEOUT)


async def test_new_style_catches_every_hangup_by_one_name() -> None:
    for tail in (b"", b"partial"):
        async with controller_with_raw_console() as (controller, _, writer):
            writer.write(tail)
            writer.close()
            with pytest.raises(ConnectionClosedError):
                await asyncio.wait_for(controller.read(), TIMEOUT)


async def test_console_read_of_replies_sees_the_hangup_too() -> None:
    """The console side (reads replies) of an old-style client."""
    async with Communicator(
        "console", None, 0, HOST, 0, log, read_replies=True, connect=False
    ) as console:
        _, writer = await asyncio.open_connection(HOST, console.server_port)
        await asyncio.wait_for(console.server.wait_connected(), TIMEOUT)
        done = replies.DoneReply(sequence_id=9)
        writer.write(done.encode() + done.encode()[:5])
        writer.close()
        await writer.wait_closed()
        assert await asyncio.wait_for(console.read(), TIMEOUT) == done
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)) as info:
            await asyncio.wait_for(console.read(), TIMEOUT)
        assert isinstance(info.value, IncompleteFrameError)
