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

from tests.cli.launch import HOST, cli_process, finish, free_port, port_pair, run_cli
from tests.timing import T

from .raw_console import Transcript, drain_to_eof, run_script

Accepted = asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]


@contextlib.asynccontextmanager
async def console_reply_server() -> AsyncIterator[tuple[int, Accepted]]:
    """The raw console's reply server on P+1; yields P and its accepted connections."""
    sock, port = port_pair()
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
        reserved, controller_port = port_pair()  # the proxy listens on controller_port + 1
        controller_telemetry = free_port()  # while the reserved port is held
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

        # 3. The replay answers the same script (other sequence ids) the same way.
        async with sim("--replay", str(recording), "--csc-port", str(console_port)):
            replayed = await scripted(console_port, accepted, 5001)
        assert replayed.outcomes == direct.outcomes


async def test_plot_draws_a_proxied_session(tmp_path: Path) -> None:
    """``mountcomm plot`` reads the proxy's recording format (a superset of --record's)."""
    recording = tmp_path / "session.jsonl"
    sample = {
        "topicID": 15,
        "timestamp": 1.0,
        "angleActual": 60.0,
        "angleSet": 60.0,
        "velocityActual": 0.0,
        "velocitySet": 0.0,
        "accelerationActual": 0.0,
        "torqueActual": 0.0,
    }
    lines = [
        {
            "type": "command",
            "utc": 1.0,
            "mono": 1.0,
            "role": "CSC",
            "direction": "to_controller",
            "frame": "1\n403\n1\n2020-01-01T00:00:00.000\n60.0\n0.0\n0.0\n0.0\r\n",
            "name": "ElevationAxisMove",
            "sequence_id": 1,
            "command_code": 403,
            "fields": {"position": 60.0},
        },
        {
            "type": "telemetry",
            "utc": 1.1,
            "mono": 1.1,
            "role": None,
            "direction": "telemetry",
            "frame": json.dumps(sample) + "\r\n",
            "sample": sample,
        },
        {
            "type": "reply",
            "utc": 1.2,
            "mono": 1.2,
            "role": "CSC",
            "direction": "to_console",
            "frame": "2\n1\n1\n2020-01-01T00:00:00.000\r\n",
            "code": "DONE",
            "name": "ElevationAxisMove",
            "sequence_id": 1,
        },
        {
            "type": "frame",
            "utc": 1.3,
            "mono": 1.3,
            "role": "CSC",
            "direction": "to_console",
            "frame": "garbage\r\n",
            "error": "unknown reply code 'garbage'",
        },
        {
            "type": "telemetry",
            "utc": 1.4,
            "mono": 1.4,
            "role": None,
            "direction": "telemetry",
            "frame": json.dumps(sample) + "\r\n",
            "sample": sample,
        },
    ]
    recording.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = await run_cli("plot", str(recording), "-o", str(tmp_path / "plot.png"))
    if "matplotlib is not installed" in result.stderr:
        assert result.returncode == 1
        return
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "plot.png").stat().st_size > 0
