"""``mountcomm monitor`` against an in-process MockController."""

from __future__ import annotations

import asyncio
import json
import sys

from mountcomm.cli.monitor import format_sample
from mountcomm.sim.controller import MockController

T = 20.0


def test_format_sample() -> None:
    line = format_sample({"topicID": 15, "timestamp": 1.5, "angleActual": 60.0, "angleSet": 61.0})
    assert "ELEVATION" in line and "angleActual=   60.0000" in line and "angleSet" in line
    assert "999" in format_sample({"topicID": 999, "timestamp": 0})


async def test_monitor_prints_samples() -> None:
    async with MockController(("csc",), telemetry_rate_hz=50) as controller:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mountcomm.cli",
            "monitor",
            "--host",
            "127.0.0.1",
            "--port",
            str(controller.telemetry_port),
            "--count",
            "6",
            "--json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), T)
    assert proc.returncode == 0, err.decode()
    samples = [json.loads(line) for line in out.decode().splitlines()]
    assert len(samples) == 6
    assert {s["topicID"] for s in samples} >= {6, 15}


async def test_monitor_fails_cleanly_without_server() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mountcomm.cli",
        "monitor",
        "--host",
        "127.0.0.1",
        "--port",
        "1",
        "--count",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), T)
    assert proc.returncode == 1
    assert b"cannot connect" in err
