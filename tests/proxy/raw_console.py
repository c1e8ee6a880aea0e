"""A console written with plain asyncio sockets and PROTOCOL.md only: no mountcomm code.

It runs one fixed script of commands against whatever listens on its command
port (a controller, or a proxy in front of one) and keeps every byte it sent
and received, so that tests can compare outcomes and recordings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket

from tests.cli.launch import HOST, frame, now_text
from tests.timing import T

Outcome = tuple[tuple[str, str], ...]
"""The replies to one command: (reply code, NOACK explanation or "") up to the last."""


@dataclasses.dataclass
class Transcript:
    """What a console sent and received, and the outcome of each command."""

    sent: bytearray = dataclasses.field(default_factory=bytearray)
    received: bytearray = dataclasses.field(default_factory=bytearray)
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)


def script(first_id: int) -> list[tuple[int, bytes]]:
    """The commands of the script: (sequence id, frame); ids from ``first_id``."""
    steps = [
        (2101, 1),  # ASK_FOR_COMMAND for CSC
        (601, 1),  # MAIN_POWER_SUPPLY_POWER on
        (401, 1),  # ELEVATION_AXIS_POWER on
        (502, -1, 1),  # ELEVATION_AXIS_DRIVE_ENABLE all drives on
        (403, 60.0, 0, 0, 0),  # ELEVATION_AXIS_MOVE to 60
        (403, 95.0, 0, 0, 0),  # beyond the limit: NOACK
        (403, "sixty", 0, 0, 0),  # malformed: NOACK
        (1, 0),  # MOVE_TO_TARGET, not modelled: NOACK
    ]
    out = []
    for offset, (code, *params) in enumerate(steps):
        seq = first_id + offset
        out.append((seq, frame(seq, code, 1, now_text(), *params)))
    return out


async def run_script(
    command_port: int,
    reply_server: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    first_id: int,
) -> tuple[Transcript, asyncio.StreamReader, asyncio.StreamWriter, asyncio.StreamWriter]:
    """Connect, run the script; return the transcript and the open streams.

    ``reply_server`` yields the connections accepted by the console's reply
    server (on command port + 1). The caller closes the writers.
    """
    transcript = Transcript()
    _, commands_out = await asyncio.wait_for(asyncio.open_connection(HOST, command_port), T)
    replies_in, reply_writer = await asyncio.wait_for(reply_server.get(), T)
    for seq, data in script(first_id):
        commands_out.write(data)
        await commands_out.drain()
        transcript.sent += data
        replies: list[tuple[str, str]] = []
        while True:
            raw = await asyncio.wait_for(replies_in.readuntil(b"\r\n"), T)
            transcript.received += raw
            fields = raw[:-2].decode().split("\n")
            if fields[0] in ("0", "1", "2") and fields[1] == str(seq):
                replies.append((fields[0], fields[4] if fields[0] == "1" else ""))
                if fields[0] in ("1", "2"):
                    break
        transcript.outcomes.append(tuple(replies))
    return transcript, replies_in, commands_out, reply_writer


async def drain_to_eof(reader: asyncio.StreamReader, into: bytearray) -> None:
    """Read what is left until the peer closes."""
    while data := await asyncio.wait_for(reader.read(1 << 16), T):
        into += data


def listening(sock: socket.socket) -> socket.socket:
    """``sock``, listening."""
    sock.listen()
    return sock
