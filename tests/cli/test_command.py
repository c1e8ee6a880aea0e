"""``mountcomm command`` against a scripted controller, as a real subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mountcomm import Communicator
from mountcomm.cli.command import build_command, describe_fields
from mountcomm.protocol import Source, commands, replies
from mountcomm.telemetry.record import read_record
from tests.ports import unused_port

from .launch import Finished, T, finish, interrupt, run_cli, spawn_cli

HOST = "127.0.0.1"


def test_build_command_parses_fields() -> None:
    cmd = build_command("ElevationAxisMove", ["position=60", "velocity=1.5"])
    assert cmd == commands.ElevationAxisMove(
        position=60, velocity=1.5, timestamp=cmd.timestamp, sequence_id=cmd.sequence_id
    )
    power = build_command("AZIMUTH_AXIS_POWER", ["on=true"])
    assert isinstance(power, commands.AzimuthAxisPower) and power.on is True
    off = build_command("azimuth_axis_power", ["on=off"])  # names are case-insensitive
    assert isinstance(off, commands.AzimuthAxisPower) and off.on is False


@pytest.mark.parametrize("text", ["csc", "CSC", "Csc", "1"])
def test_enum_fields_take_names_case_insensitive(text: str) -> None:
    cmd = build_command("AskForCommand", [f"commander={text}"])
    assert isinstance(cmd, commands.AskForCommand) and cmd.commander is Source.CSC


def test_enum_field_errors_list_the_names() -> None:
    with pytest.raises(ValueError, match="expected one of none, csc, eui, hhd"):
        build_command("AskForCommand", ["commander=boss"])


def test_describe_fields_gives_type_unit_default_and_range() -> None:
    text = describe_fields(commands.ElevationAxisMove)
    assert "ElevationAxisMove (ELEVATION_AXIS_MOVE, code 403)" in text
    assert "position  (float; required)" in text
    assert "[deg]" in text and "[deg/s]" in text
    assert "range: 20 … 86.5" in text and "range: 0 … 3.5" in text
    assert "sequence_id" not in text and "timestamp" not in text
    ask = describe_fields(commands.AskForCommand)
    assert "commander  (Source; default csc)" in ask and "eui (2)" in ask
    assert "no fields" in describe_fields(commands.Enable)
    track = describe_fields(commands.BothAxesTrack)
    assert "range: -7 … 7" in track and "range: -3.5 … 3.5" in track  # signed rates


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("NoSuchCommand", [], "no command named"),
        ("MOVE_TO_TARGET", [], "has no message class"),
        ("ElevationAxisMove", ["position"], "expected field=value"),
        ("ElevationAxisMove", ["speed=3"], "has no field 'speed'"),
        ("ElevationAxisMove", ["position=high"], "bad value"),
        ("ElevationAxisMove", [], "position"),
        ("ElevationAxisMove", ["source=eui"], "has no field 'source'"),
    ],
)
def test_build_command_errors(name: str, fields: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_command(name, fields)


def assert_one_line_error(result: Finished, status: int, *fragments: str) -> None:
    """Exactly one line on stderr, containing every fragment; the given exit status."""
    assert result.returncode == status, result
    (line,) = result.error_lines
    assert line.startswith("mountcomm command: "), line
    for fragment in fragments:
        assert fragment in line, line


@contextlib.asynccontextmanager
async def controller_peer() -> AsyncIterator[tuple[Communicator, int, int]]:
    """A scripted controller: (its communicator, its command port, the reply port to use)."""
    reply_port = unused_port()
    peer = Communicator("ctrl", HOST, reply_port, HOST, 0, None, read_replies=False, connect=False)
    try:
        command_port = await asyncio.wait_for(peer.wait_server_port(), T)
        yield peer, command_port, reply_port
    finally:
        await peer.close()


def command_args(command_port: int, reply_port: int, *extra: str) -> list[str]:
    where = ["--host", HOST, "--port", str(command_port), "--reply-port", str(reply_port)]
    return ["command", *where, *extra]


@pytest.mark.parametrize("outcome", ["done", "noack"])
async def test_command_prints_replies_and_exit_status(outcome: str, tmp_path: Path) -> None:
    record = tmp_path / "session.jsonl"
    async with controller_peer() as (peer, command_port, reply_port):
        args = command_args(
            command_port, reply_port, "--role", "eui", "--timeout", str(T), "--record", str(record)
        )
        proc = await spawn_cli(*args, "ElevationAxisMove", "position=60")
        try:
            await asyncio.wait_for(peer.connect(), T)
            cmd = await asyncio.wait_for(peer.read(), T)
            assert isinstance(cmd, commands.ElevationAxisMove)
            assert cmd.position == 60 and cmd.source == Source.EUI
            if outcome == "done":
                await peer.write(replies.AckReply(sequence_id=cmd.sequence_id, timeout_ms=1500))
                await peer.write(replies.InPositionReply(what=1, in_position=True))
                await peer.write(replies.DoneReply(sequence_id=cmd.sequence_id))
            else:
                explanation = "off"
                await peer.write(
                    replies.NoAckReply(sequence_id=cmd.sequence_id, explanation=explanation)
                )
        finally:
            result = await finish(proc)
    recorded = read_record(record)
    assert recorded[0]["type"] == "command"
    assert recorded[0]["name"] == "ElevationAxisMove" and recorded[0]["fields"]["position"] == 60
    codes = [r["code"] for r in recorded if r["type"] == "reply"]
    if outcome == "done":
        assert (result.returncode, result.stderr) == (0, "")
        assert "ACK" in result.stdout and "1.500 s" in result.stdout
        assert "DONE" in result.stdout and "InPositionReply" in result.stdout
        assert codes == ["ACK", "DONE"]
    else:
        assert "CommandRejected" in result.stdout
        assert_one_line_error(result, 1, "ElevationAxisMove rejected", "off")
        assert codes == ["NOACK"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--ack-timeout", "0.3"], "no ACK within 0.3 s"),
        (["--timeout", "0.8"], "no ACK within 0.8 s"),
    ],
)
async def test_no_ack_is_reported_as_such(option: list[str], message: str) -> None:
    """Also when the overall timeout expires first: one line, no "never retrieved"."""
    async with controller_peer() as (peer, command_port, reply_port):
        args = command_args(command_port, reply_port, *option)
        proc = await spawn_cli(*args, "AskForCommand", "commander=csc")
        try:
            await asyncio.wait_for(peer.connect(), T)
            cmd = await asyncio.wait_for(peer.read(), T)
            assert isinstance(cmd, commands.AskForCommand) and cmd.commander is Source.CSC
        finally:
            result = await finish(proc)
    assert_one_line_error(result, 1, message)


async def test_ack_without_done_is_reported_as_such() -> None:
    async with controller_peer() as (peer, command_port, reply_port):
        args = command_args(command_port, reply_port, "--timeout", "1.5")
        proc = await spawn_cli(*args, "ElevationAxisMove", "position=60")
        try:
            await asyncio.wait_for(peer.connect(), T)
            cmd = await asyncio.wait_for(peer.read(), T)
            await peer.write(replies.AckReply(sequence_id=cmd.sequence_id, timeout_ms=60_000))
        finally:
            result = await finish(proc)
    assert "ACK" in result.stdout
    assert_one_line_error(result, 1, "ACK but no DONE within 1.5 s")


async def test_refused_connection_is_reported_within_the_connect_timeout() -> None:
    port = unused_port()
    started = time.monotonic()
    result = await run_cli(*command_args(port, 0, "--connect-timeout", "1"), "Enable")
    assert time.monotonic() - started < 1 + 10  # not the 60 s of the command timeout
    assert_one_line_error(result, 1, f"cannot connect to {HOST}:{port}", "connection refused")


async def test_unresolvable_host_is_reported_at_once() -> None:
    result = await run_cli("command", "--host", "mount.invalid", "--port", "5000", "Enable")
    assert_one_line_error(result, 1, "cannot resolve host 'mount.invalid'")


async def test_controller_that_never_connects_back() -> None:
    async def ignore(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(ignore, HOST, 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        result = await run_cli(*command_args(port, 0, "--connect-timeout", "0.5"), "Enable")
    assert_one_line_error(result, 1, f"connected to {HOST}:{port}", "did not connect back")


async def test_reply_port_in_use_is_one_line() -> None:
    with socket.create_server((HOST, 0)) as taken:
        reply_port = taken.getsockname()[1]
        result = await run_cli(*command_args(unused_port(), reply_port), "Enable")
    assert_one_line_error(result, 1, f"cannot listen for replies on *:{reply_port}", "in use")


async def test_command_help_lists_the_fields() -> None:
    result = await run_cli("command", "ElevationAxisMove", "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert "position  (float; required)" in result.stdout and "[deg]" in result.stdout
    general = await run_cli("command", "--help")
    assert general.returncode == 0
    assert "console role to command as" in general.stdout  # --role has help text
    assert "field=value" in general.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--port", "70000", "Enable"], "argument --port: expected a port number 1…65535"),
        (["--port", "-1", "Enable"], "argument --port: expected a port number"),
        (["--reply-port", "65536", "Enable"], "argument --reply-port"),
        (["--timeout", "-5", "Enable"], "argument --timeout: expected a finite number > 0"),
        (["--connect-timeout", "0", "Enable"], "argument --connect-timeout"),
        (["--ack-timeout", "nan", "Enable"], "argument --ack-timeout: expected a finite number"),
        (["--role", "boss", "Enable"], "argument --role"),
        (["ElevationAxisMove", "position=high"], "bad value"),
        (["NoSuchCommand"], "no command named"),
    ],
)
async def test_usage_errors_are_one_line_with_status_2(args: list[str], fragment: str) -> None:
    result = await run_cli("command", *args)
    assert_one_line_error(result, 2, fragment)


async def test_ctrl_c_while_waiting_for_the_ack() -> None:
    async with controller_peer() as (peer, command_port, reply_port):
        proc = await spawn_cli(*command_args(command_port, reply_port), "Enable")
        try:
            await asyncio.wait_for(peer.connect(), T)
            await asyncio.wait_for(peer.read(), T)
        finally:
            result = await interrupt(proc)
    assert result.returncode == 130, result
    assert result.stderr == "mountcomm command: interrupted\n"
