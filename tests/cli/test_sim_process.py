"""``mountcomm sim`` as a separate process, driven by a client speaking only PROTOCOL.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import AsyncIterator

import pytest

from tests.ports import unused_port, unused_port_pair

from .launch import T, cli_process, frame, interrupt, now_text, run_cli

HOST = "127.0.0.1"


@contextlib.asynccontextmanager
async def sim_process(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    async with cli_process("sim", *args, ready=b"ready") as (proc, _):
        yield proc


async def test_sim_process_driven_by_a_raw_protocol_client() -> None:
    reply_sock, command_port = unused_port_pair()
    reply_sock.listen()
    telemetry_port = unused_port()
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    reply_server = await asyncio.start_server(
        lambda r, w: accepted.put_nowait((r, w)), sock=reply_sock
    )
    writers: list[asyncio.StreamWriter] = []
    try:
        async with sim_process(
            "--host",
            HOST,
            "--csc-port",
            str(command_port),
            "--telemetry-port",
            str(telemetry_port),
            "--reply-host",
            HOST,
        ) as proc:
            _, commands_out = await asyncio.open_connection(HOST, command_port)
            writers.append(commands_out)
            replies_in, reply_writer = await asyncio.wait_for(accepted.get(), T)
            writers.append(reply_writer)

            async def command(seq: int, code: int, *params: object) -> list[list[str]]:
                """Send a command; return its replies up to DONE/NOACK (ACK-only: the ACK)."""
                commands_out.write(frame(seq, code, 1, now_text(), *params))
                await commands_out.drain()
                got = []
                while True:
                    raw = await asyncio.wait_for(replies_in.readuntil(b"\r\n"), T)
                    fields = raw[:-2].decode().split("\n")
                    if fields[0] in ("0", "1", "2") and fields[1] == str(seq):
                        got.append(fields)
                        if fields[0] in ("1", "2"):
                            return got

            assert [r[0] for r in await command(1, 2101, 1)] == ["0", "2"]  # ASK_FOR_COMMAND
            assert (await command(2, 601, 1))[-1][0] == "2"  # MAIN_POWER_SUPPLY_POWER on
            assert (await command(3, 401, 1))[-1][0] == "2"  # ELEVATION_AXIS_POWER on
            assert (await command(4, 502, -1, 1))[-1][0] == "2"  # ELEVATION_AXIS_DRIVE_ENABLE
            start = time.monotonic()
            move = await command(5, 403, 85.0, 0, 0, 0)  # ELEVATION_AXIS_MOVE to 85
            elapsed = time.monotonic() - start
            ack, done = move[0], move[-1]
            assert ack[0] == "0" and done[0] == "2"
            announced = int(ack[4]) / 1000
            assert 0 < announced < 5
            assert abs(elapsed - announced) < 0.5 + 0.2 * announced
            rejected = await command(6, 403, 95.0, 0, 0, 0)  # beyond the 86.5° limit
            assert rejected[0][0] == "1" and "outside [20.0, 86.5]" in rejected[0][4]

            tel_reader, tel_writer = await asyncio.open_connection(HOST, telemetry_port)
            writers.append(tel_writer)
            async with asyncio.timeout(T):
                while True:
                    sample = json.loads(await tel_reader.readuntil(b"\r\n"))
                    if sample["topicID"] == 15:
                        break
            assert abs(sample["angleActual"] - 85.0) < 1e-3

            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), T)
            assert proc.returncode == 0, err.decode()
            assert b"stopped (SIGTERM)" in out
    finally:
        for writer in writers:
            writer.close()
        reply_server.close()
        await reply_server.wait_closed()


async def test_sim_stops_on_ctrl_c_with_status_0() -> None:
    async with sim_process(
        "--host", HOST, "--csc-port", "0", "--telemetry-port", "0", "--reply-host", HOST
    ) as proc:
        result = await interrupt(proc)
    assert (result.returncode, result.stderr) == (0, "")
    assert "stopped (SIGINT)" in result.stdout


async def test_sim_port_in_use_is_one_line() -> None:
    with socket.create_server((HOST, 0)) as taken:
        port = taken.getsockname()[1]
        result = await run_cli("sim", "--host", HOST, "--csc-port", str(port))
    assert result.returncode == 1
    (line,) = result.error_lines
    assert line.startswith("mountcomm sim: cannot listen:") and "in use" in line


@pytest.mark.parametrize(
    "args",
    [
        ["--csc-port", "70000"],
        ["--eui-port", "-1"],
        ["--telemetry-port", "65536"],
        ["--hhd-port", "x"],
        ["--commander", "boss"],
        ["--config", "/nonexistent/mountcomm.yaml"],
    ],
)
async def test_sim_usage_errors_are_one_line_with_status_2(args: list[str]) -> None:
    result = await run_cli("sim", *args)
    assert result.returncode == 2
    (line,) = result.error_lines
    assert line.startswith("mountcomm sim: ")
