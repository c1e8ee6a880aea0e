"""``mountcomm monitor`` against an in-process MockController."""

from __future__ import annotations

import json
import socket

from mountcomm.cli.monitor import format_sample
from mountcomm.sim.controller import MockController

from .launch import run_cli


def test_format_sample() -> None:
    line = format_sample({"topicID": 15, "timestamp": 1.5, "angleActual": 60.0, "angleSet": 61.0})
    assert "ELEVATION" in line and "angleActual=   60.0000" in line and "angleSet" in line
    assert "999" in format_sample({"topicID": 999, "timestamp": 0})


async def test_monitor_prints_samples() -> None:
    async with MockController(("csc",), telemetry_rate_hz=50) as controller:
        result = await run_cli(
            "monitor",
            "--host",
            "127.0.0.1",
            "--port",
            str(controller.telemetry_port),
            "--count",
            "6",
            "--json",
        )
    assert result.returncode == 0, result.stderr
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(samples) == 6
    assert {s["topicID"] for s in samples} >= {6, 15}


async def test_monitor_fails_cleanly_without_server() -> None:
    with socket.socket() as sock:  # bound, then closed: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run_cli(
        "monitor",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--count",
        "1",
    )
    assert result.returncode == 1
    assert "cannot connect" in result.stderr
