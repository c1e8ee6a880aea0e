"""MountProxy's faults and connection mirroring, between a raw console and a raw controller."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mountcomm.protocol import commands
from mountcomm.protocol.enums import Source
from mountcomm.proxy import Action, ActionKind, Direction, corrupt_frame
from tests.timing import T

from .harness import HOST, raw_peers, read_exactly

A = commands.Enable(sequence_id=1).encode()
B = commands.Disable(sequence_id=2).encode()


async def eof(reader: asyncio.StreamReader) -> bytes:
    """What is left until the peer ends the connection (reset counts as the end)."""
    try:
        return await asyncio.wait_for(reader.read(), T)
    except ConnectionResetError:
        return b""


async def test_drop_forwards_the_frames_after(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    async with raw_peers(record=path) as peers:
        peers.proxy.faults.drop(Direction.TO_CONTROLLER)
        peers.console_out.write(A + B)
        assert await read_exactly(peers.controller_in, len(B)) == B
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["sequence_id"], r.get("fault")) for r in records] == [(1, "drop"), (2, None)]


async def test_delay_holds_the_frame_and_those_behind_it() -> None:
    async with raw_peers() as peers:
        peers.proxy.faults.delay(Direction.TO_CONSOLE, 0.2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        peers.controller_out.write(A)
        peers.controller_out.write(B)
        assert await read_exactly(peers.console_in, len(A + B)) == A + B
        assert loop.time() - start >= 0.2


async def test_corrupt_replaces_one_frame(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    async with raw_peers(record=path) as peers:
        peers.proxy.faults.corrupt(Direction.TO_CONTROLLER, role=Source.CSC)
        peers.console_out.write(A + B)
        bad = corrupt_frame(A)
        assert await read_exactly(peers.controller_in, len(bad + B)) == bad + B
    first = json.loads(path.read_text().splitlines()[0])
    assert first["frame"] == A.decode() and first["fault"] == "replace"
    assert first["forwarded"].encode("utf-8", "surrogateescape") == bad


async def test_a_hook_decides_per_frame() -> None:
    async with raw_peers() as peers:
        peers.proxy.faults.set_hook(
            Direction.TO_CONSOLE,
            lambda role, frame: Action(ActionKind.DROP) if frame == A else None,
        )
        peers.controller_out.write(A + B + A + B)
        assert await read_exactly(peers.console_in, len(B + B)) == B + B


async def test_cut_resets_the_console_and_the_controller_sees_it_go() -> None:
    async with raw_peers() as peers:
        peers.proxy.faults.cut(Direction.TO_CONTROLLER)
        peers.console_out.write(A)
        assert await eof(peers.controller_in) == b""  # A was not forwarded
        assert await eof(peers.console_back) == b""
        # The console comes back: so does the proxy's connection to the controller.
        _, out = await asyncio.wait_for(
            asyncio.open_connection(HOST, peers.proxy.command_port(Source.CSC)), T
        )
        peers.writers.append(out)
        controller_in, controller_writer = await asyncio.wait_for(peers.commands.get(), T)
        peers.writers.append(controller_writer)
        out.write(B)
        assert await read_exactly(controller_in, len(B)) == B


async def test_the_controller_reply_connection_is_mirrored_to_the_console() -> None:
    async with raw_peers() as peers:
        peers.controller_out.close()  # the controller goes away
        assert await eof(peers.console_in) == b""
        # It comes back: the proxy connects to the console's reply server again.
        _, controller_out = await asyncio.wait_for(
            asyncio.open_connection(HOST, peers.proxy.controller_reply_port(Source.CSC)), T
        )
        peers.writers.append(controller_out)
        console_in, console_writer = await asyncio.wait_for(peers.replies.get(), T)
        peers.writers.append(console_writer)
        controller_out.write(A)
        assert await read_exactly(console_in, len(A)) == A


async def test_a_console_reply_server_that_goes_ends_the_controller_reply_connection() -> None:
    async with raw_peers() as peers:
        console_reply_writer = peers.writers[3]  # the console's end of its reply connection
        console_reply_writer.close()
        assert await eof(peers.controller_back) == b""


@pytest.mark.parametrize("role", ["eui", Source.HHD])
async def test_roles_and_ports_are_checked(role: str | Source) -> None:
    async with raw_peers() as peers:
        with pytest.raises(ValueError, match="not proxied"):
            peers.proxy.command_port(role)
        with pytest.raises(ValueError, match="nonzero"):
            peers.proxy.connect_console(Source.CSC, 0)
