"""``mountcomm plot``: a recording of a real (simulated) move, drawn and checked."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mountcomm.cli.plot import MARKERS, plot_file
from mountcomm.exceptions import CommandRejected
from mountcomm.protocol import Source, commands
from mountcomm.sim import MockController, SimulatedConsole, Timings
from mountcomm.telemetry import Recorder, TelemetryClient, read_record
from tests.timing import UNIT

T = 20 * UNIT
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def record_a_move(path: Path) -> None:
    """Power elevation up, move it 86.5° → 85°, then get a NOACK; record it all."""
    async with MockController(
        [Source.CSC], timings=Timings.fast(0.01), telemetry_rate_hz=50
    ) as controller:
        console = SimulatedConsole(controller, role=Source.CSC)
        await asyncio.wait_for(console.start(), T)
        try:
            with Recorder(path) as recorder:
                async with TelemetryClient(
                    "127.0.0.1", controller.telemetry_port, sample_callback=recorder.sample
                ) as telemetry:
                    await asyncio.wait_for(telemetry.next_sample(), T)
                    for cmd in (
                        commands.AskForCommand(commander=Source.CSC),
                        commands.MainPowerSupplyPower(on=True),
                        commands.ElevationAxisPower(on=True),
                        commands.ElevationAxisDriveEnable(on=True),
                        commands.ElevationAxisMove(position=85.0),
                    ):
                        futures = await console.client.send(cmd)
                        recorder.track(futures)
                        await asyncio.wait_for(futures.done, T)
                    futures = await console.client.send(commands.ElevationAxisMove(position=5.0))
                    recorder.track(futures)
                    with pytest.raises(CommandRejected):
                        await asyncio.wait_for(futures.ack, T)
                    await asyncio.wait_for(telemetry.next_sample(), T)
        finally:
            await console.close()


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plot") / "move.jsonl"
    asyncio.run(record_a_move(path))
    return path


def vertical_markers(ax: Axes) -> list[tuple[float, str]]:
    """(time, line style) of each vertical marker line of ``ax``."""
    found = []
    for line in ax.get_lines():
        x, y = list(line.get_xdata()), list(line.get_ydata())
        if len(x) == 2 and x[0] == x[1] and y == [0, 1]:
            found.append((float(x[0]), str(line.get_linestyle())))
    return found


def test_the_plot_covers_the_recorded_time_and_positions(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "move.png"
    figure = plot_file(recording, out)
    assert isinstance(figure, Figure)
    assert out.read_bytes().startswith(PNG_MAGIC)

    records = read_record(recording)
    start = min(r["utc"] for r in records)
    elevation = [r for r in records if r["type"] == "telemetry" and r["sample"]["topicID"] == 15]
    times = [r["utc"] - start for r in elevation]
    positions = [r["sample"]["angleActual"] for r in elevation]
    assert max(positions) == 86.5 and min(positions) == pytest.approx(85.0)

    axes = figure.get_axes()
    assert len(axes) == 3 * 3  # azimuth, elevation, camera cable wrap, 3 plots each
    position_ax, velocity_ax, error_ax = axes[3:6]  # the elevation row
    assert "elevation" in position_ax.get_ylabel()
    lo, hi = position_ax.get_xlim()
    assert lo <= min(times) and hi >= max(times)
    lo, hi = position_ax.get_ylim()
    assert lo <= min(positions) and hi >= max(positions)
    actual = position_ax.get_lines()[0]
    assert list(actual.get_xdata()) == pytest.approx(times)
    assert list(actual.get_ydata()) == pytest.approx(positions)
    velocities = [r["sample"]["velocityActual"] for r in elevation]
    lo, hi = velocity_ax.get_ylim()
    assert lo <= min(velocities) < -0.1 and hi >= max(velocities)
    errors = list(error_ax.get_lines()[0].get_ydata())
    assert max(abs(e) for e in errors) > 3600  # over a degree while moving

    # ACK, DONE and NOACK markers, where the replies were recorded.
    replies = [r for r in records if r["type"] == "reply"]
    styles = {code: style for code, (_, style) in MARKERS.items()}
    drawn = vertical_markers(position_ax)
    for code in ("ACK", "DONE", "NOACK"):
        expected = [r["utc"] - start for r in replies if r["code"] == code]
        assert expected, code
        got = [t for t, style in drawn if style == styles[code]]
        assert got == pytest.approx(expected), code
    # Elevation commands are not marked on the azimuth row; others are.
    azimuth_markers = vertical_markers(axes[0])
    assert len(azimuth_markers) == sum(1 for r in replies if not r["name"].startswith("Elev"))


def test_the_command_writes_a_png(recording: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.png"
    result = subprocess.run(
        [sys.executable, "-m", "mountcomm.cli", "plot", str(recording), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=T * 3,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert out.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("", "the recording is empty"),
        ('{"type": "telemetry", "utc": 1.0, "sample": {"topicID": 5}}\n', "no axis telemetry"),
        ("{}\nnot json\n", ":1: expected an object"),
        ('{"type": "reply", "utc": 1}\nnot json\n', ":2: not JSON"),
    ],
)
def test_bad_recordings_are_one_line_errors(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "mountcomm.cli", "plot", str(path)],
        capture_output=True,
        text=True,
        timeout=T * 3,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("mountcomm plot: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1
