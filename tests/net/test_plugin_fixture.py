"""The communicator_pair fixture of the pytest plugin."""

from __future__ import annotations

import asyncio

from mountcomm import Communicator
from mountcomm.protocol import commands, replies
from tests.timing import UNIT


async def test_communicator_pair_fixture(
    communicator_pair: tuple[Communicator, Communicator],
) -> None:
    console, controller = communicator_pair
    assert console.connected and controller.connected
    command = commands.Enable(sequence_id=1)
    await console.write(command)
    assert await asyncio.wait_for(controller.read(), 5 * UNIT) == command
    reply = replies.DoneReply(sequence_id=1)
    await controller.write(reply)
    assert await asyncio.wait_for(console.read(), 5 * UNIT) == reply
