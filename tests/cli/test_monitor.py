"""``mountcomm monitor``: formatting, the live view's rendering, and the piped forms."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import socket
from pathlib import Path

import pytest
from rich.console import Console

from mountcomm.cli.monitor import axis_state, format_json, format_sample, render_axes
from mountcomm.sim.controller import MockController
from mountcomm.sim.devices import Mount
from mountcomm.telemetry import read_record, utc_to_tai
from tests.timing import UNIT

from .launch import run_cli, spawn_cli

T = 20 * UNIT
NEW_YEAR_TAI = utc_to_tai(1798761600.25)  # 2027-01-01T00:00:00.250Z


def axis(topic: int, actual: float, demand: float, velocity: float = 0.0, **extra: float) -> dict:
    return {
        "topicID": topic,
        "timestamp": NEW_YEAR_TAI,
        "angleActual": actual,
        "angleSet": demand,
        "velocityActual": velocity,
        "velocitySet": extra.get("velocitySet", velocity),
        "accelerationActual": 0.0,
        "torqueActual": 0.0,
    }


def test_format_sample_prints_utc_and_every_field() -> None:
    line = format_sample(axis(15, 60.0, 61.0))
    assert line.startswith("2027-01-01T00:00:00.250Z  ELEVATION ")
    assert "angleActual=   60.0000" in line and "angleSet=   61.0000" in line
    assert "torqueActual" in line
    assert "999" in format_sample({"topicID": 999, "timestamp": 0})


def test_drive_topics_are_not_empty() -> None:
    drives = {"topicID": 5, "timestamp": NEW_YEAR_TAI, "current": [0.5, -0.25, 0.0]}
    line = format_sample(drives)
    assert line == "2027-01-01T00:00:00.250Z  AZIMUTH_DRIVE      current=[0.500 -0.250 0.000]"
    # Every topic the simulator sends gives a line with values.
    for sample in Mount().telemetry(NEW_YEAR_TAI):
        assert "=" in format_sample(sample), sample


def test_format_json_adds_utc() -> None:
    data = json.loads(format_json(axis(6, 1.0, 1.0)))
    assert data["utc"] == "2027-01-01T00:00:00.250Z"
    assert data["timestamp"] == NEW_YEAR_TAI and data["topicID"] == 6


def test_axis_state() -> None:
    assert axis_state(axis(6, 10.0, 10.0)) == "in position"
    assert axis_state(axis(6, 10.0, 20.0, velocity=2.0)) == "moving"
    assert axis_state(axis(6, 10.0, 10.0, velocity=0.05)) == "tracking"


def test_live_view_renders_a_row_per_axis() -> None:
    latest = {
        6: axis(6, 12.5, 12.5),
        15: axis(15, 40.0, 60.0, velocity=3.5),
        5: {"topicID": 5, "timestamp": NEW_YEAR_TAI, "current": [1.5, -2.25]},
    }
    latest[6]["timestamp"] -= 3  # three seconds behind the newest sample
    console = Console(record=True, width=200, force_terminal=False)
    console.print(render_axes(latest))
    text = console.export_text()
    labels = ("azimuth", "elevation", "cable wrap")
    rows = {label: line for line in text.splitlines() for label in labels if label in line}
    assert "12.5000" in rows["azimuth"] and "in position" in rows["azimuth"]
    assert "2.25" in rows["azimuth"] and "stale (3.0 s)" in rows["azimuth"]
    assert "40.0000" in rows["elevation"] and "60.0000" in rows["elevation"]
    assert "moving" in rows["elevation"] and "-72000.00" in rows["elevation"]
    assert "00:00:00.250Z" in rows["elevation"]
    assert "no data" in rows["cable wrap"]


async def run_monitor(*args: str) -> tuple[int, str, str]:
    result = await run_cli("monitor", *args)
    return result.returncode, result.stdout, result.stderr


async def test_piped_plain_lines_cover_every_topic_with_utc_times() -> None:
    async with MockController(("csc",), telemetry_rate_hz=50) as controller:
        status, out, err = await run_monitor(
            "--host", "127.0.0.1", "--port", str(controller.telemetry_port), "--count", "15"
        )
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 15
    names = {line.split()[1] for line in lines}
    assert {"AZIMUTH", "ELEVATION", "AZIMUTH_DRIVE", "ELEVATION_DRIVE"} <= names
    for line in lines:
        assert line[:4] == "20" + line[2:4] and line[10] == "T" and line.split()[0].endswith("Z")
        assert "=" in line
    assert any("current=[" in line for line in lines)


async def test_piped_json_and_record(tmp_path: Path) -> None:
    record = tmp_path / "run.jsonl"
    async with MockController(("csc",), telemetry_rate_hz=50) as controller:
        status, out, err = await run_monitor(
            "--port", str(controller.telemetry_port), "--count", "6", "--json",
            "--record", str(record), "--host", "127.0.0.1",
        )  # fmt: skip
    assert status == 0, err
    samples = [json.loads(line) for line in out.splitlines()]
    assert len(samples) == 6
    assert {s["topicID"] for s in samples} >= {6, 15}
    assert all(s["utc"].endswith("Z") for s in samples)
    recorded = read_record(record)
    assert len(recorded) >= 6 and {r["type"] for r in recorded} == {"telemetry"}
    assert recorded[0]["utc"] == recorded[0]["sample"]["timestamp"] - 37


async def test_fails_cleanly_without_server() -> None:
    with socket.socket() as sock:  # bound, not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        status, _, err = await run_monitor("--host", "127.0.0.1", "--port", str(port))
    assert status == 1
    assert err == f"mountcomm monitor: cannot connect to 127.0.0.1:{port}: Connection refused\n"
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "port number 1…65535"),
        (["--port", "-1"], "port number 1…65535"),
        (["--count", "0"], "integer >= 1"),
        (["--timeout", "-5"], "number > 0"),
        (["--timeout", "nan"], "number > 0"),
        (["--json", "--plain"], "not allowed with"),
    ],
)
async def test_bad_arguments_are_usage_errors(args: list[str], message: str) -> None:
    status, _, err = await run_monitor(*args)
    assert status == 2
    assert message in err
    assert "Traceback" not in err


async def test_on_a_terminal_the_table_is_updated_in_place() -> None:
    master, slave = pty.openpty()
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    eof: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            data = b""
        if data:
            chunks.append(data)
        else:
            loop.remove_reader(master)
            if not eof.done():
                eof.set_result(None)

    loop.add_reader(master, readable)
    try:
        async with MockController(("csc",), telemetry_rate_hz=50) as controller:
            proc = await spawn_cli(
                "monitor", "--host", "127.0.0.1", "--port", str(controller.telemetry_port),
                "--count", "40",
                stdout=slave, env={**os.environ, "COLUMNS": "160", "TERM": "xterm"},
            )  # fmt: skip
            os.close(slave)
            slave = -1
            _, err = await asyncio.wait_for(proc.communicate(), T)
        await asyncio.wait_for(eof, T)
    finally:
        loop.remove_reader(master)
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0, err.decode()
    text = b"".join(chunks).decode(errors="replace")
    assert "elevation" in text and "86.5000" in text and "in position" in text
    assert "\x1b[1A" in text or "\x1b[2K" in text  # the cursor goes back up: redrawn in place
    assert "ELEVATION_DRIVE" not in text  # not the line format


async def test_the_end_of_the_stream_is_one_line() -> None:
    async with MockController(("csc",), telemetry_rate_hz=50) as controller:
        proc = await spawn_cli(
            "monitor", "--host", "127.0.0.1", "--port", str(controller.telemetry_port)
        )
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), T)  # it is reading the stream
    _, err = await asyncio.wait_for(proc.communicate(), T)  # the controller is closed
    assert proc.returncode == 1
    assert err.decode() == "mountcomm monitor: the telemetry stream ended\n"
