"""The original usage pattern of ClientServerPair / Communicator runs unchanged."""

from __future__ import annotations

import asyncio
import logging

from mountcomm import Communicator, SubsystemId
from mountcomm.protocol import commands, replies
from tests.timing import UNIT

STD_TIMEOUT = 5 * UNIT
LOCAL_HOST = "127.0.0.1"


async def test_original_usage_pattern() -> None:
    log = logging.getLogger("compat")
    callback_data: list[tuple[str, bool]] = []

    def connect_callback(communicator: Communicator) -> None:
        callback_data.append((communicator.name, communicator.connected))

    comm1 = Communicator(
        name="comm1",
        client_host=None,
        client_port=0,  # not yet known
        server_host=LOCAL_HOST,
        server_port=0,
        log=log,
        read_replies=True,
        connect=False,
        connect_callback=connect_callback,
    )
    assert not comm1.server_connected
    assert not comm1.client_connected
    assert not comm1.connected
    await asyncio.wait_for(comm1.wait_server_port(), timeout=STD_TIMEOUT)
    assert comm1.server_port != 0

    comm2 = Communicator(
        name="comm2",
        client_host=None,
        client_port=comm1.server_port,
        server_host=LOCAL_HOST,
        server_port=0,
        log=log,
        read_replies=False,
        connect=False,
        connect_callback=connect_callback,
    )
    await asyncio.wait_for(comm2.start_task, timeout=STD_TIMEOUT)
    assert comm2.server_port != 0
    try:
        task1 = asyncio.create_task(comm1.connect(port=comm2.server_port))
        await asyncio.wait_for(comm1.client_connected_task, timeout=STD_TIMEOUT)
        assert comm1.client_connected
        assert not comm1.server_connected
        await asyncio.wait_for(comm2.connect(), timeout=STD_TIMEOUT)
        await asyncio.wait_for(task1, timeout=STD_TIMEOUT)
        assert comm1.connected and comm2.connected
        assert len(callback_data) == 4

        tai = 1589372384.123
        sent_commands = (
            commands.ElevationAxisTrack(sequence_id=1, position=12, velocity=0.3, tai=tai),
            commands.AzimuthAxisTrack(sequence_id=2, position=12, velocity=0.3, tai=tai),
            commands.MirrorCoversPower(sequence_id=3, drive=2, on=True),
        )
        sent_replies = (
            replies.AckReply(sequence_id=1, timeout_ms=3500),
            replies.DoneReply(sequence_id=2),
            replies.ErrorReply(
                on=True,
                active=False,
                code=47,
                subsystem=f"{SubsystemId.MIRROR_COVERS}. MyTopVI/MyNextVI/MyNextNextVI",
                extra_data=("test error",),
            ),
            replies.InPositionReply(what=1, in_position=True),
        )
        for message in sent_commands:
            await comm1.write(message)
            assert await asyncio.wait_for(comm2.read(), timeout=STD_TIMEOUT) == message
        for message in sent_replies:
            await comm2.write(message)
            assert await asyncio.wait_for(comm1.read(), timeout=STD_TIMEOUT) == message
    finally:
        await asyncio.gather(comm1.close(), comm2.close())
    assert comm1.done_task.done() and comm2.done_task.done()
