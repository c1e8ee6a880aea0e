"""Code in the style of the original mount classes: ids, catalogue, servers (port 0)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket

import pytest

from mountcomm import OneClientServer
from mountcomm.protocol import MAX_SEQUENCE_ID, commands, replies
from mountcomm.testing.harness import connected_communicator_pair
from tests.timing import UNIT

from ..protocol.support import required_kwargs

HOST = "127.0.0.1"
TIMEOUT = 5 * UNIT
log = logging.getLogger("compat")


async def test_commands_built_without_ids_are_written_and_read_with_their_ids() -> None:
    """Old code builds commands itself (no id) and writes them through a Communicator."""
    async with connected_communicator_pair(timeout=TIMEOUT) as (console, controller):
        sent = [cls(**required_kwargs(cls)) for cls in commands.Commands]
        for command in sent:
            await console.write(command)
        received = [await asyncio.wait_for(controller.read(), TIMEOUT) for _ in sent]
        assert received == sent
        ids = [command.sequence_id for command in received]
        assert all(1 <= i <= MAX_SEQUENCE_ID for i in ids)
        # Consecutive (modulo the wrap) ids from the process-wide generator.
        assert all(b == a % MAX_SEQUENCE_ID + 1 for a, b in itertools.pairwise(ids))
        for command in received:
            assert commands.CommandDict[command.command_code] is type(command)
            assert command.ack_only == (command.command_code in commands.AckOnlyCommandCodes)

        # The controller answers, old style: parse_reply on the reader's side via str_fields.
        first = received[0]
        ack = replies.AckReply(sequence_id=first.sequence_id, timeout_ms=100)
        await controller.write(ack)
        got = await asyncio.wait_for(console.read(), TIMEOUT)
        assert replies.parse_reply(got.str_fields()) == ack
        assert replies.ReplyDict[got.reply_code] is replies.AckReply


async def test_one_client_server_old_signature_and_async_with() -> None:
    calls: list[bool] = []

    def connect_callback(server: OneClientServer) -> None:
        calls.append(server.connected)

    # The original positional signature: name, host, port, log, connect_callback.
    async with OneClientServer("old", HOST, 0, log, connect_callback) as server:
        assert server.start_task.done() and server.port != 0
        _, writer = await asyncio.open_connection(HOST, server.port)
        await asyncio.wait_for(server.wait_connected(), TIMEOUT)
        assert calls == [True]
    assert server.closed and server.done_task.done()
    writer.close()
    await writer.wait_closed()
    assert calls == [True, False]
    await server.close()  # still idempotent


async def test_one_client_server_async_with_a_failed_bind_leaves_it_closed() -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        server = OneClientServer("clash", HOST, taken.getsockname()[1], log)
        with pytest.raises(OSError):
            async with server:
                pass
    assert server.closed and server.done_task.done()
