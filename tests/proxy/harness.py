"""Raw peers around a MountProxy, on port 0: a console and a controller with plain sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mountcomm.protocol.enums import Source
from mountcomm.proxy import MountProxy
from tests.timing import T

HOST = "127.0.0.1"
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclasses.dataclass
class RawPeers:
    """Both ends of one role through a proxy: what each side writes and reads.

    ``console_out`` writes commands (``console_back`` is that connection's
    reader), ``console_in`` reads replies; ``controller_in`` reads commands,
    ``controller_out`` writes replies (``controller_back`` is that
    connection's reader). ``commands`` and ``replies`` yield the
    next connections accepted by the controller's command server and the
    console's reply server.
    """

    proxy: MountProxy
    console_out: asyncio.StreamWriter
    console_back: asyncio.StreamReader
    console_in: asyncio.StreamReader
    controller_in: asyncio.StreamReader
    controller_out: asyncio.StreamWriter
    controller_back: asyncio.StreamReader
    commands: asyncio.Queue[Streams]
    replies: asyncio.Queue[Streams]
    writers: list[asyncio.StreamWriter]


async def read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), T)


@contextlib.asynccontextmanager
async def raw_peers(record: Path | None = None, **options: Any) -> AsyncIterator[RawPeers]:
    """A proxy for the CSC role between a raw console and a raw controller, all connected."""
    commands: asyncio.Queue[Streams] = asyncio.Queue()
    replies: asyncio.Queue[Streams] = asyncio.Queue()
    command_server = await asyncio.start_server(lambda r, w: commands.put_nowait((r, w)), HOST, 0)
    reply_server = await asyncio.start_server(lambda r, w: replies.put_nowait((r, w)), HOST, 0)
    writers: list[asyncio.StreamWriter] = []
    try:
        async with MountProxy(
            HOST,
            {Source.CSC: command_server.sockets[0].getsockname()[1]},
            controller_reply_ports={Source.CSC: 0},
            record=record,
            **options,
        ) as proxy:
            proxy.connect_console(Source.CSC, reply_server.sockets[0].getsockname()[1])
            console_back, console_out = await asyncio.wait_for(
                asyncio.open_connection(HOST, proxy.command_port(Source.CSC)), T
            )
            writers.append(console_out)
            controller_in, controller_cmd_writer = await asyncio.wait_for(commands.get(), T)
            writers.append(controller_cmd_writer)
            controller_back, controller_out = await asyncio.wait_for(
                asyncio.open_connection(HOST, proxy.controller_reply_port(Source.CSC)), T
            )
            writers.append(controller_out)
            console_in, console_reply_writer = await asyncio.wait_for(replies.get(), T)
            writers.append(console_reply_writer)
            await asyncio.wait_for(proxy.wait_connected(Source.CSC), T)
            yield RawPeers(
                proxy,
                console_out,
                console_back,
                console_in,
                controller_in,
                controller_out,
                controller_back,
                commands,
                replies,
                writers,
            )
    finally:
        for writer in writers:
            writer.close()
        for queue in (commands, replies):
            while not queue.empty():
                queue.get_nowait()[1].close()
        for server in (command_server, reply_server):
            server.close()
            await server.wait_closed()
