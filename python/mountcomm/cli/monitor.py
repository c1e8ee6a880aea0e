"""``mountcomm monitor``: print the live telemetry stream of a controller."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncGenerator
from typing import Any

from ..protocol.enums import TelemetryTopicId
from ..sim.telemetry import TelemetryClient
from .common import load_config
from .signals import wait_for_stop_signal

NAME = "monitor"
HELP = "print the live telemetry of a controller (one line per sample)"

_FIELDS = ("angleActual", "angleSet", "velocityActual", "velocitySet", "accelerationActual")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="controller host (default: the config file's host)")
    parser.add_argument("--port", type=int, help="telemetry port (default: the config file's)")
    parser.add_argument("--count", type=int, help="stop after this many samples")
    parser.add_argument("--json", action="store_true", help="print the raw JSON objects")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="give up when no sample arrives for this long [s] (default 10)",
    )
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
    )


def format_sample(sample: dict[str, Any]) -> str:
    """One readable line for a telemetry sample."""
    topic: Any = sample.get("topicID")
    try:
        name = TelemetryTopicId(topic).name
    except ValueError:
        name = str(topic)
    values = "  ".join(
        f"{key}={sample[key]:10.4f}" for key in _FIELDS if isinstance(sample.get(key), float | int)
    )
    return f"{sample.get('timestamp', 0):.3f}  {name:<18} {values}"


async def _monitor(args: argparse.Namespace, host: str, port: int) -> int:
    client = TelemetryClient(host, port)
    try:
        await asyncio.wait_for(client.start(), args.timeout)
    except (OSError, TimeoutError) as e:
        print(f"mountcomm monitor: cannot connect to {host}:{port}: {e}", file=sys.stderr)
        await client.close()
        return 1
    stop = asyncio.create_task(wait_for_stop_signal())
    samples: AsyncGenerator[dict[str, Any], None] = client.__aiter__()

    async def next_sample() -> dict[str, Any]:
        return await anext(samples)

    try:
        seen = 0
        while args.count is None or seen < args.count:
            sample = asyncio.create_task(next_sample())
            done, _ = await asyncio.wait(
                {sample, stop}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if sample not in done:
                sample.cancel()
                await asyncio.gather(sample, return_exceptions=True)
                if stop in done:
                    return 0
                print(f"mountcomm monitor: no sample for {args.timeout} s", file=sys.stderr)
                return 1
            data = sample.result()
            print(json.dumps(data) if args.json else format_sample(data), flush=True)
            seen += 1
        return 0
    except (ConnectionError, StopAsyncIteration) as e:
        print(f"mountcomm monitor: telemetry stream ended {e}", file=sys.stderr)
        return 1
    finally:
        stop.cancel()
        await asyncio.gather(stop, return_exceptions=True)
        await samples.aclose()
        await client.close()


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    port = cfg.telemetry_port if args.port is None else args.port
    return asyncio.run(_monitor(args, args.host or cfg.host, port))
