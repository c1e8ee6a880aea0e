"""``mountcomm proxy`` and ``mountcomm sim --replay`` as processes, driven by a raw console.

The console (`raw_console`) speaks PROTOCOL.md with plain asyncio sockets; it
runs one script against ``mountcomm sim`` directly, then through ``mountcomm
proxy --record``, then against ``mountcomm sim --replay`` of that recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.launch import HOST, cli_process, finish, run_cli
from tests.ports import unused_port, unused_port_pair
from tests.timing import T

from .raw_console import Transcript, drain_to_eof, run_script

Accepted = asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]


@contextlib.asynccontextmanager
async def console_reply_server() -> AsyncIterator[tuple[int, Accepted]]:
    """The raw console's reply server on P+1; yields P and its accepted connections."""
    sock, port = unused_port_pair()
    sock.listen()
    accepted: Accepted = asyncio.Queue()
    server = await asyncio.start_server(lambda r, w: accepted.put_nowait((r, w)), sock=sock)
    try:
        yield port, accepted
    finally:
        while not accepted.empty():
            accepted.get_nowait()[1].close()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def sim(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``mountcomm sim ARGS`` on 127.0.0.1, stopped by SIGTERM at the end (exit 0 checked)."""
    async with cli_process("sim", "--host", HOST, "--reply-host", HOST, *args, ready=b"ready") as (
        proc,
        _,
    ):
        yield proc
        proc.send_signal(signal.SIGTERM)
        result = await finish(proc)
        assert result.returncode == 0, result.stderr


async def scripted(port: int, accepted: Accepted, first_id: int) -> Transcript:
    transcript, _, commands_out, reply_writer = await run_script(port, accepted, first_id)
    commands_out.close()
    reply_writer.close()
    return transcript


def frames(records: list[dict[str, object]], direction: str) -> bytes:
    return b"".join(
        str(r["frame"]).encode("utf-8", "surrogateescape")
        for r in records
        if r.get("direction") == direction
    )


@pytest.mark.slow
async def test_a_raw_console_through_the_proxy_as_directly_and_against_the_replay(
    tmp_path: Path,
) -> None:
    recording = tmp_path / "session.jsonl"
    async with console_reply_server() as (console_port, accepted):
        # 1. Directly against the simulator.
        async with sim(
            "--csc-port", str(console_port), "--telemetry-port", "0", "--time-scale", "20"
        ):
            direct = await scripted(console_port, accepted, 1)
        assert [o[-1][0] for o in direct.outcomes] == ["2", "2", "2", "2", "2", "1", "1", "1"]
        assert "outside [20.0, 86.5]" in direct.outcomes[5][0][1]

        # 2. The same script through the proxy, recording.
        reserved, controller_port = unused_port_pair()  # the proxy listens on controller_port + 1
        controller_telemetry = unused_port()  # while the reserved port is held
        reserved.close()
        async with (
            sim(
                "--csc-port",
                str(controller_port),
                "--telemetry-port",
                str(controller_telemetry),
                "--time-scale",
                "20",
            ),
            cli_process(
                "proxy",
                "--to",
                HOST,
                "--to-csc-port",
                str(controller_port),
                "--to-telemetry-port",
                str(controller_telemetry),
                "--csc-port",
                str(console_port),
                "--telemetry-port",
                "0",
                "--host",
                HOST,
                "--reply-host",
                HOST,
                "--record",
                str(recording),
                ready=re.compile(rb"telemetry on (\d+)"),
            ) as (proxy, ready),
        ):
            proxied, replies_in, commands_out, reply_writer = await run_script(
                console_port, accepted, 101
            )
            tel_reader, tel_writer = await asyncio.open_connection(HOST, int(ready[1]))
            sample = json.loads(await asyncio.wait_for(tel_reader.readuntil(b"\r\n"), T))
            assert isinstance(sample["topicID"], int)
            commands_out.close()
            proxy.send_signal(signal.SIGINT)
            stopped = await finish(proxy)
            await drain_to_eof(replies_in, proxied.received)
            await drain_to_eof(tel_reader, bytearray())
            reply_writer.close()
            tel_writer.close()
        assert (stopped.returncode, stopped.stderr) == (0, "")
        assert "stopped (SIGINT)" in stopped.stdout
        assert proxied.outcomes == direct.outcomes

        # The recording holds every frame both ways, byte for byte and in order.
        records = [json.loads(line) for line in recording.read_text().splitlines()]
        assert f"{len(records)} frames recorded" in stopped.stdout
        assert frames(records, "to_controller") == bytes(proxied.sent)
        assert frames(records, "to_console") == bytes(proxied.received)
        assert any(r["type"] == "telemetry" for r in records)
        malformed = [r for r in records if r["type"] == "frame"]
        assert [r["direction"] for r in malformed] == ["to_controller"] * 2
        assert "sixty" in malformed[0]["frame"] and malformed[0]["error"]
        assert malformed[1]["frame"].split("\n")[1] == "1"  # MOVE_TO_TARGET: no message class
        assert all(r["role"] == "CSC" for r in records if r["direction"] != "telemetry")

        # `mountcomm plot` draws the proxied session.
        plot = await run_cli("plot", str(recording), "-o", str(tmp_path / "session.png"))
        assert plot.returncode == 0, plot.stderr
        assert (tmp_path / "session.png").stat().st_size > 0

        # 3. The replay answers the same script (other sequence ids) the same way.
        async with sim("--replay", str(recording), "--csc-port", str(console_port)):
            replayed = await scripted(console_port, accepted, 5001)
        assert replayed.outcomes == direct.outcomes


async def test_the_proxy_stops_on_sigterm_with_the_recording_closed(tmp_path: Path) -> None:
    reserved, controller_port = unused_port_pair()  # nobody there: the proxy waits for it
    reserved.close()
    recording = tmp_path / "empty.jsonl"
    async with cli_process(
        "proxy",
        "--to",
        HOST,
        "--to-csc-port",
        str(controller_port),
        "--csc-port",
        "0",
        "--host",
        HOST,
        "--record",
        str(recording),
        ready=re.compile(rb"ready; (.*)"),
    ) as (proxy, ready):
        announced = ready[1].decode()
        proxy.send_signal(signal.SIGTERM)
        result = await finish(proxy)
    assert (result.returncode, result.stderr) == (0, "")
    assert "stopped (SIGTERM); 0 frames recorded" in result.stdout
    assert f"-> controller {HOST}:{controller_port} replies on {controller_port + 1}" in announced
    command_port = int(re.findall(r"CSC commands on (\d+)", announced)[0])
    assert f"replies to 127.0.0.1:{command_port + 1} " in announced  # P+1, also for port 0
    assert recording.read_text() == ""


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (["--csc-port", "1"], 2, "--to"),  # --to is required
        (["--to", HOST, "--to-csc-port", "0"], 2, "nonzero"),
        (["--to", HOST, "--csc-port", "70000"], 2, "port number"),
        (["--to", HOST, "--to-csc-port", "9", "--record", "/nonexistent/dir/r.jsonl"], 1, "record"),
    ],
)
async def test_proxy_errors_are_one_line(args: list[str], status: int, words: str) -> None:
    result = await run_cli("proxy", *args)
    assert result.returncode == status
    (line,) = result.error_lines
    assert line.startswith("mountcomm proxy: ") and words in line


async def test_sim_replay_errors_are_one_line(tmp_path: Path) -> None:
    missing = await run_cli("sim", "--replay", str(tmp_path / "missing.jsonl"), "--csc-port", "0")
    assert missing.returncode == 1 and missing.error_lines[0].startswith("mountcomm sim: ")
    monitor = tmp_path / "monitor.jsonl"
    monitor.write_text(json.dumps({"type": "telemetry", "utc": 1.0, "sample": {}}) + "\n")
    result = await run_cli("sim", "--replay", str(monitor), "--csc-port", "0")
    assert result.returncode == 2
    (line,) = result.error_lines
    assert "no frame records" in line
