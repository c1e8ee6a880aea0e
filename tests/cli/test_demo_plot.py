"""The demo's output (on/off labels, in-position list) and ``mountcomm demo --plot``."""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

from mountcomm.cli.demo import run_demo
from mountcomm.cli.plot import plot_file
from mountcomm.telemetry import Recorder, read_record
from tests.timing import UNIT

from .demo_plan import SHORT_PLAN


async def test_demo_output_names_on_off_and_lists_only_arrivals(tmp_path: Path) -> None:
    out = io.StringIO()
    path = tmp_path / "demo.jsonl"
    with Recorder(path) as recorder:
        status = await asyncio.wait_for(run_demo(SHORT_PLAN, out, recorder=recorder), 30 * UNIT)
    text = out.getvalue()
    assert status == 0, text
    for name in ("AzimuthAxisEnableTracking", "ElevationAxisEnableTracking"):
        assert text.count(f"{name}(on)") == 2  # the progress line and the summary
        assert text.count(f"{name}(off)") == 2
        assert f"{name} " not in text  # never without on/off
    events = text.split("In-position events", 1)[1].split("demo finished", 1)[0]
    assert "moving" not in events
    assert "azimuth   in position" in events and "elevation in position" in events

    # The recording has every command of the summary, its replies and the telemetry.
    records = read_record(path)
    sent = [r["name"] for r in records if r["type"] == "command"]
    assert sent.count("AzimuthAxisEnableTracking") == 2 and "BothAxesMove" in sent
    codes = {r["code"] for r in records if r["type"] == "reply"}
    assert {"ACK", "DONE"} <= codes
    elevation = [r for r in records if r["type"] == "telemetry" and r["sample"]["topicID"] == 15]
    positions = [r["sample"]["angleActual"] for r in elevation]
    assert min(positions) < 84.1 and max(positions) == 86.5

    figure = plot_file(path, tmp_path / "demo.png")
    start = min(r["utc"] for r in records)
    ax = figure.get_axes()[3]  # elevation position
    lo, hi = ax.get_xlim()
    assert lo <= elevation[0]["utc"] - start and hi >= elevation[-1]["utc"] - start
    lo, hi = ax.get_ylim()
    assert lo <= min(positions) and hi >= max(positions)


async def test_demo_plot_option_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mountcomm.cli",
        "demo",
        "--fast",
        "--plot",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 50 * UNIT)
    assert proc.returncode == 0, stderr.decode()
    assert stdout.decode().rstrip().endswith(f"plot written to {out}")
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
