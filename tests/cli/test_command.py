"""``mountcomm command`` against a scripted controller, as a real subprocess."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from mountcomm import Communicator
from mountcomm.cli.command import build_command
from mountcomm.protocol import Source, commands, replies

HOST = "127.0.0.1"
T = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def test_build_command_parses_fields() -> None:
    cmd = build_command("ElevationAxisMove", ["position=60", "velocity=1.5"])
    assert cmd == commands.ElevationAxisMove(
        position=60, velocity=1.5, timestamp=cmd.timestamp, sequence_id=cmd.sequence_id
    )
    power = build_command("AZIMUTH_AXIS_POWER", ["on=true"])
    assert isinstance(power, commands.AzimuthAxisPower) and power.on is True


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("NoSuchCommand", [], "no command named"),
        ("MOVE_TO_TARGET", [], "has no message class"),
        ("ElevationAxisMove", ["position"], "expected field=value"),
        ("ElevationAxisMove", ["speed=3"], "has no field 'speed'"),
        ("ElevationAxisMove", ["position=high"], "bad value"),
        ("ElevationAxisMove", [], "position"),
    ],
)
def test_build_command_errors(name: str, fields: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_command(name, fields)


async def run_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mountcomm.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.parametrize("outcome", ["done", "noack"])
async def test_command_prints_replies_and_exit_status(outcome: str) -> None:
    reply_port = free_port()
    peer = Communicator("ctrl", HOST, reply_port, HOST, 0, None, read_replies=False, connect=False)
    proc = None
    try:
        command_port = await asyncio.wait_for(peer.wait_server_port(), T)
        proc = await run_cli(
            "command",
            "--host",
            HOST,
            "--port",
            str(command_port),
            "--reply-port",
            str(reply_port),
            "--role",
            "eui",
            "--timeout",
            str(T),
            "ElevationAxisMove",
            "position=60",
        )
        await asyncio.wait_for(peer.connect(), T)
        cmd = await asyncio.wait_for(peer.read(), T)
        assert isinstance(cmd, commands.ElevationAxisMove)
        assert cmd.position == 60 and cmd.source == Source.EUI
        if outcome == "done":
            await peer.write(replies.AckReply(sequence_id=cmd.sequence_id, timeout_ms=1500))
            await peer.write(replies.InPositionReply(what=1, in_position=True))
            await peer.write(replies.DoneReply(sequence_id=cmd.sequence_id))
        else:
            await peer.write(replies.NoAckReply(sequence_id=cmd.sequence_id, explanation="off"))
        out, err = await asyncio.wait_for(proc.communicate(), T)
        text = out.decode()
        if outcome == "done":
            assert proc.returncode == 0, err.decode()
            assert "ACK" in text and "1.500 s" in text and "DONE" in text
            assert "InPositionReply" in text
        else:
            assert proc.returncode == 1
            assert "CommandRejected" in text and "off" in text
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await peer.close()


async def test_command_fails_cleanly_when_nobody_answers() -> None:
    proc = await run_cli(
        "command",
        "--host",
        HOST,
        "--port",
        str(free_port()),
        "--reply-port",
        "0",
        "--timeout",
        "0.5",
        "Enable",
    )
    out, _ = await asyncio.wait_for(proc.communicate(), T)
    assert proc.returncode == 1
    assert b"no answer within 0.5 s" in out or b"connection failed" in out
