"""``mountcomm plot``: draw a recording of telemetry and commands.

One row per axis in the recording; columns: position (actual and demanded),
velocity (actual and demanded) and position error, against seconds from the
start of the recording, with a vertical marker at each ACK, DONE and NOACK of
the commands that concern the axis. Needs matplotlib (``mountcomm[plot]``);
drawing uses matplotlib's Agg renderer, never a window.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..protocol.enums import TelemetryTopicId
from ..telemetry.codec import AXIS_TOPICS
from ..telemetry.record import Recorder, read_record
from ..telemetry.timescales import format_utc

if TYPE_CHECKING:
    from matplotlib.figure import Figure

NAME = "plot"
HELP = "plot a recording: position, velocity and position error per axis, with command markers"

LineStyle = Literal["-", "--", ":"]

MARKERS: Mapping[str, tuple[str, LineStyle]] = {
    "ACK": ("tab:green", ":"),
    "DONE": ("tab:blue", "--"),
    "NOACK": ("tab:red", "-"),
}
"""Reply code → (colour, line style) of its vertical marker."""

_AXIS_PREFIXES = {
    "Azimuth": (TelemetryTopicId.AZIMUTH,),
    "Elevation": (TelemetryTopicId.ELEVATION,),
    "CameraCableWrap": (TelemetryTopicId.CAMERA_CABLE_WRAP,),
    "BothAxes": (TelemetryTopicId.AZIMUTH, TelemetryTopicId.ELEVATION),
}


_NO_MATPLOTLIB = "matplotlib is not installed: pip install 'mountcomm[plot]'"


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed."""


@dataclasses.dataclass
class AxisSeries:
    """The telemetry of one axis, in arrays of equal length."""

    time: list[float] = dataclasses.field(default_factory=list)  # [s] from the start
    position: list[float] = dataclasses.field(default_factory=list)  # [deg]
    demand: list[float] = dataclasses.field(default_factory=list)  # [deg]
    velocity: list[float] = dataclasses.field(default_factory=list)  # [deg/s]
    velocity_demand: list[float] = dataclasses.field(default_factory=list)  # [deg/s]
    error: list[float] = dataclasses.field(default_factory=list)  # actual - demand [arcsec]


@dataclasses.dataclass(frozen=True)
class Marker:
    """A reply to draw: when, which code, for which command."""

    time: float  # [s] from the start
    code: str
    name: str


@dataclasses.dataclass
class Recording:
    """A recording sorted out for plotting."""

    start: float  # UTC unix seconds of the first record
    axes: dict[TelemetryTopicId, AxisSeries]
    markers: list[Marker]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="a recording (JSON lines, e.g. from monitor --record)")
    parser.add_argument(
        "-o", "--output", metavar="PNG", help="image to write (default: FILE with .png)"
    )
    parser.add_argument("--title", help="figure title (default: the file's name)")


def sort_out(records: Iterable[Mapping[str, Any]]) -> Recording:
    """Split records into per-axis series and markers, times from the first record.

    Raises
    ------
    ValueError
        If there is no axis telemetry.
    """
    records = list(records)
    if not records:
        raise ValueError("the recording is empty")
    start = min(float(r["utc"]) for r in records)
    axes: dict[TelemetryTopicId, AxisSeries] = {}
    markers: list[Marker] = []
    for record in records:
        t = float(record["utc"]) - start
        if record["type"] == "reply" and record.get("code") in MARKERS:
            markers.append(Marker(t, str(record["code"]), str(record.get("name", ""))))
        elif record["type"] == "telemetry":
            sample = record["sample"]
            if sample.get("topicID") not in AXIS_TOPICS:
                continue
            series = axes.setdefault(TelemetryTopicId(sample["topicID"]), AxisSeries())
            series.time.append(t)
            series.position.append(float(sample["angleActual"]))
            series.demand.append(float(sample["angleSet"]))
            series.velocity.append(float(sample["velocityActual"]))
            series.velocity_demand.append(float(sample["velocitySet"]))
            series.error.append((series.position[-1] - series.demand[-1]) * 3600)
    if not axes:
        raise ValueError("the recording holds no axis telemetry")
    ordered = {topic: axes[topic] for topic in AXIS_TOPICS if topic in axes}
    return Recording(start, ordered, markers)


def marker_axes(name: str) -> tuple[TelemetryTopicId, ...] | None:
    """The axes a command concerns, from its name; `None`: every axis."""
    for prefix, topics in _AXIS_PREFIXES.items():
        if name.startswith(prefix):
            return topics
    return None


def make_figure(recording: Recording, title: str = "") -> Figure:
    """Draw ``recording``: a row per axis; position, velocity, position error.

    Raises
    ------
    PlotUnavailableError
        If matplotlib is not installed.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError:
        raise PlotUnavailableError(_NO_MATPLOTLIB) from None
    rows = len(recording.axes)
    figure = Figure(figsize=(14, 3.2 * rows + 0.8), layout="constrained")
    grid = figure.subplots(rows, 3, squeeze=False, sharex=True)
    for row, (topic, series) in zip(grid, recording.axes.items(), strict=True):
        label = topic.name.lower().replace("_", " ")
        position, velocity, error = row
        position.plot(series.time, series.position, label="actual")
        position.plot(series.time, series.demand, "--", label="demand")
        position.set_ylabel(f"{label}\nposition [deg]")
        velocity.plot(series.time, series.velocity, label="actual")
        velocity.plot(series.time, series.velocity_demand, "--", label="demand")
        velocity.set_ylabel("velocity [deg/s]")
        error.plot(series.time, series.error, color="tab:purple")
        error.set_ylabel("position error [arcsec]")
        for marker in recording.markers:
            concerned = marker_axes(marker.name)
            if concerned is None or topic in concerned:
                colour, style = MARKERS[marker.code]
                for ax in row:
                    ax.axvline(marker.time, color=colour, linestyle=style, linewidth=0.8)
        position.legend(loc="best", fontsize="small")
    for ax in grid[-1]:
        ax.set_xlabel(f"time since {format_utc(recording.start)} [s]")
    handles = [
        Line2D([], [], color=colour, linestyle=style, label=code)
        for code, (colour, style) in MARKERS.items()
    ]
    figure.legend(handles=handles, loc="outside upper right", ncols=3, title="replies")
    figure.suptitle(title or "mount telemetry", x=0.02, ha="left")
    return figure


def plot_file(
    path: str | os.PathLike[str], output: str | os.PathLike[str], title: str = ""
) -> Figure:
    """Read the recording at ``path``, draw it, save it as ``output`` (PNG); return the figure.

    Raises
    ------
    OSError
        If a file cannot be read or written.
    ValueError
        If the recording is malformed or holds no axis telemetry.
    PlotUnavailableError
        If matplotlib is not installed.
    """
    try:
        recording = sort_out(read_record(path))
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: a record lacks a field the plot needs ({e!r})") from None
    except ValueError as e:
        raise ValueError(f"{path}: {e}") if not str(e).startswith(str(path)) else e from None
    figure = make_figure(recording, title or Path(path).name)
    figure.savefig(output, format="png", dpi=100)
    return figure


def plot_demo(run_recorded: Callable[[Recorder], int], output: str) -> int:
    """Run ``run_recorded(recorder)`` (the demo), then plot its recording to ``output``.

    The recording goes to a temporary file. Returns the exit status; fails at
    once, before the demo, when matplotlib is missing.
    """
    if importlib.util.find_spec("matplotlib") is None:
        print(f"mountcomm demo: --plot: {_NO_MATPLOTLIB}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.jsonl"
        with Recorder(path) as recorder:
            status = run_recorded(recorder)
        if status != 0:
            return status
        try:
            plot_file(path, output, "mountcomm demo")
        except (OSError, ValueError) as e:
            print(f"mountcomm demo: --plot: {e}", file=sys.stderr)
            return 1
    print(f"plot written to {output}")
    return 0


def run(args: argparse.Namespace) -> int:
    output = args.output or str(Path(args.file).with_suffix(".png"))
    try:
        plot_file(args.file, output, args.title or "")
    except OSError as e:
        print(f"mountcomm plot: {e.filename or args.file}: {e.strerror or e}", file=sys.stderr)
        return 1
    except (ValueError, PlotUnavailableError) as e:
        print(f"mountcomm plot: {e}", file=sys.stderr)
        return 1
    print(output)
    return 0
