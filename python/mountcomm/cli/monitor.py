"""``mountcomm monitor``: show the live telemetry stream of a controller.

On a terminal: a table of the axes updated in place (with ``rich``, the
``mountcomm[monitor]`` extra). Piped, or with ``--plain``: one line per sample
with its UTC time. ``--json``: one JSON object per sample. ``--record FILE``
also appends every sample to FILE as JSON lines (see `mountcomm.telemetry.record`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..net.discovery import mount_service_name
from ..protocol.enums import TelemetryTopicId
from ..telemetry.client import TelemetryClient
from ..telemetry.codec import AXIS_TOPICS, DRIVE_TOPICS, topic_name
from ..telemetry.record import Recorder
from ..telemetry.timescales import format_utc, tai_to_utc
from .common import (
    EXIT_USAGE,
    CliError,
    describe_error,
    load_config,
    positive_float,
    positive_int,
    server_port,
)
from .registry_option import add_registry_arguments, locate, open_registry
from .signals import wait_for_stop_signal

if TYPE_CHECKING:
    from rich.table import Table

NAME = "monitor"
HELP = "show the live telemetry of a controller (a table on a terminal, lines when piped)"

IN_POSITION_TOLERANCE = 1e-3
"""Position error below which the live view calls an axis in position [deg]."""
AT_REST_VELOCITY = 1e-6
"""Velocity below which the live view calls an axis at rest [deg/s]."""
STALE_AFTER = 1.0
"""An axis whose last sample is this much older than the newest sample is stale [s]."""
REFRESH_INTERVAL = 0.1
"""Shortest time between two redraws of the live view [s]."""
EXIT_INTERRUPTED = 130


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="controller host (default: the config file's host)")
    parser.add_argument(
        "--port", type=server_port, help="telemetry port (default: the config file's)"
    )
    parser.add_argument("--count", type=positive_int, help="stop after this many samples")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=10.0,
        help="give up when no sample arrives for this long [s] (default 10)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--json", action="store_true", help="one JSON object per sample (plus its UTC time)"
    )
    mode.add_argument(
        "--plain", action="store_true", help="one line per sample, even on a terminal"
    )
    parser.add_argument(
        "--record", metavar="FILE", help="also append every sample to FILE (JSON lines)"
    )
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
    )
    add_registry_arguments(parser)


# --- formatting ----------------------------------------------------------------------


def sample_utc(sample: Mapping[str, Any]) -> str:
    """The sample's TAI ``timestamp`` as a UTC ISO 8601 string, or ``"-"``."""
    timestamp = sample.get("timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        return "-"
    return format_utc(tai_to_utc(timestamp))


def _format_value(key: str, value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{key}={value:10.4f}"
    if isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return f"{key}=[" + " ".join(f"{v:.3f}" for v in value) + "]"
    return f"{key}={json.dumps(value)}"


def format_sample(sample: Mapping[str, Any]) -> str:
    """One readable line for a telemetry sample: UTC time, topic, every field."""
    values = "  ".join(
        _format_value(key, value)
        for key, value in sample.items()
        if key not in ("topicID", "timestamp")
    )
    return f"{sample_utc(sample)}  {topic_name(sample.get('topicID')):<18} {values}"


def format_json(sample: Mapping[str, Any]) -> str:
    """The sample as received, as one JSON line, plus ``utc`` (ISO 8601)."""
    return json.dumps({**sample, "utc": sample_utc(sample)})


def axis_state(sample: Mapping[str, Any]) -> str:
    """What an axis sample shows: ``tracking``, ``in position`` or ``moving``."""
    error = abs(float(sample["angleSet"]) - float(sample["angleActual"]))
    if error < IN_POSITION_TOLERANCE and abs(float(sample["velocitySet"])) > AT_REST_VELOCITY:
        return "tracking"
    if error < IN_POSITION_TOLERANCE and abs(float(sample["velocityActual"])) < AT_REST_VELOCITY:
        return "in position"
    return "moving"


def _max_current(drives: Mapping[str, Any] | None) -> str:
    currents = drives.get("current") if drives is not None else None
    if not isinstance(currents, list) or not currents:
        return "-"
    return f"{max(abs(float(c)) for c in currents):.2f}"


_AXIS_LABELS = {
    TelemetryTopicId.AZIMUTH: "azimuth",
    TelemetryTopicId.ELEVATION: "elevation",
    TelemetryTopicId.CAMERA_CABLE_WRAP: "cable wrap",
}


def render_axes(latest: Mapping[int, Mapping[str, Any]]) -> Table:
    """The live view: one row per axis, from the latest sample of each topic."""
    from rich import box
    from rich.table import Table

    table = Table(title="mount telemetry", title_justify="left", box=box.SIMPLE_HEAD)
    for header in (
        "axis",
        "pos [°]",
        "set [°]",
        'err ["]',
        "vel [°/s]",
        "set [°/s]",
        "state",
        "|I| [A]",
        "alarms",
        "time (UTC)",
    ):
        left = header in ("axis", "state", "alarms")
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    stamps = [s.get("timestamp") for s in latest.values()]
    newest = max((t for t in stamps if isinstance(t, int | float)), default=None)
    drives_of = {axis: latest.get(drive) for drive, axis in DRIVE_TOPICS.items()}
    for topic in AXIS_TOPICS:
        sample = latest.get(topic)
        name = _AXIS_LABELS[topic]
        if sample is None:
            table.add_row(name, *["-"] * 7, "no data", "-")
            continue
        age = newest - sample["timestamp"] if newest is not None else 0.0
        alarms = f"stale ({age:.1f} s)" if age > STALE_AFTER else ""
        table.add_row(
            name,
            f"{sample['angleActual']:.4f}",
            f"{sample['angleSet']:.4f}",
            f"{(sample['angleActual'] - sample['angleSet']) * 3600:.2f}",
            f"{sample['velocityActual']:.4f}",
            f"{sample['velocitySet']:.4f}",
            axis_state(sample),
            _max_current(drives_of.get(topic)),
            alarms,
            format_utc(tai_to_utc(sample["timestamp"]), date=False),
        )
    return table


# --- running -----------------------------------------------------------------------------


def _fail(message: str) -> None:
    print(f"mountcomm monitor: {message}", file=sys.stderr, flush=True)


async def _consume(
    args: argparse.Namespace, client: TelemetryClient, show: Callable[[dict[str, Any]], None]
) -> int:
    """Pass samples to ``show`` until the count, a stop signal, a timeout or the end."""
    stop = asyncio.create_task(wait_for_stop_signal())
    samples = aiter(client)
    try:
        seen = 0
        while args.count is None or seen < args.count:
            sample = asyncio.ensure_future(anext(samples))
            done, _ = await asyncio.wait(
                {sample, stop}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if sample not in done:
                sample.cancel()
                await asyncio.gather(sample, return_exceptions=True)
                if stop in done:
                    return EXIT_INTERRUPTED if stop.result() == "SIGINT" else 0
                _fail(f"no sample for {args.timeout} s")
                return 1
            show(sample.result())
            seen += 1
        return 0
    except StopAsyncIteration:
        _fail("the telemetry stream ended")
        return 1
    finally:
        stop.cancel()
        await asyncio.gather(stop, return_exceptions=True)
        await samples.aclose()


def _live_view_available(args: argparse.Namespace) -> bool:
    if args.json or args.plain or not sys.stdout.isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        _fail("for the live view: pip install 'mountcomm[monitor]' (printing lines)")
        return False
    return True


async def _show(args: argparse.Namespace, client: TelemetryClient) -> int:
    if not _live_view_available(args):
        formatter = format_json if args.json else format_sample

        def show(sample: dict[str, Any]) -> None:
            print(formatter(sample), flush=True)

        return await _consume(args, client, show)

    from rich.live import Live

    loop = asyncio.get_running_loop()
    with Live(render_axes(client.latest), auto_refresh=False) as live:
        last = -math.inf

        def update(sample: dict[str, Any]) -> None:
            nonlocal last
            if loop.time() - last >= REFRESH_INTERVAL:
                live.update(render_axes(client.latest), refresh=True)
                last = loop.time()

        status = await _consume(args, client, update)
        live.update(render_axes(client.latest), refresh=True)
    return status


async def _monitor(args: argparse.Namespace, host: str, port: int) -> int:
    try:
        recorder = Recorder(args.record) if args.record else None
    except OSError as e:
        _fail(f"cannot record to {args.record}: {e.strerror or e}")
        return 1
    client = TelemetryClient(
        host, port, sample_callback=None if recorder is None else recorder.sample
    )
    try:
        try:
            await asyncio.wait_for(client.start(), args.timeout)
        except (OSError, TimeoutError) as e:
            errno = e.errno if isinstance(e, OSError) else None
            reason = os.strerror(errno) if errno else str(e) or "timed out"
            _fail(f"cannot connect to {host}:{port}: {reason}")
            return 1
        return await _show(args, client)
    finally:
        await client.close()
        if recorder is not None:
            recorder.close()


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    port = cfg.telemetry_port if args.port is None else args.port
    if args.registry is not None:
        return asyncio.run(_monitor_found(args))
    return asyncio.run(_monitor(args, args.host or cfg.host, port))


async def _monitor_found(args: argparse.Namespace) -> int:
    """Find the telemetry port by name (``P.telemetry``), then monitor it."""
    service = mount_service_name(None, "telemetry", args.service_prefix)
    async with open_registry(args) as registry:
        if registry is None:
            raise CliError("--registry is needed to find the telemetry by name", EXIT_USAGE)
        try:
            host, port = await locate(registry, service, args.timeout)
        except (OSError, TimeoutError) as e:
            raise CliError(
                f"{service} not found through the registry: {describe_error(e)}"
            ) from None
    return await _monitor(args, host, port)
