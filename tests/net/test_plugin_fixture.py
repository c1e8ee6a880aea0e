"""The communicator_pair fixture of the pytest plugin."""

from __future__ import annotations

import asyncio

from mountcomm import Communicator
from mountcomm.protocol import commands, replies


async def test_communicator_pair_fixture(
    communicator_pair: tuple[Communicator, Communicator],
) -> None:
    console, controller = communicator_pair
    assert console.connected and controller.connected
    await console.write(commands.Enable(sequence_id=1))
    assert await asyncio.wait_for(controller.read(), 5) == commands.Enable(sequence_id=1)
    await controller.write(replies.DoneReply(sequence_id=1))
    assert await asyncio.wait_for(console.read(), 5) == replies.DoneReply(sequence_id=1)
