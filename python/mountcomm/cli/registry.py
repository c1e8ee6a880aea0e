"""``mountcomm registry``: run the port registry daemon until SIGINT or SIGTERM."""

from __future__ import annotations

__all__ = ["HELP", "NAME", "add_arguments", "pool_argument", "run"]

import argparse
import asyncio
import signal
import sys

from .. import log as mlog
from ..registry import store, wire
from ..registry.server import RegistryServer
from .common import load_config

NAME = "registry"
HELP = "run the port registry daemon (NSCL, portpicker and native dialects)"


def pool_argument(text: str) -> tuple[tuple[int, int], ...] | None:
    """argparse type of ``--pool``: ``LO-HI[,LO-HI...]`` or ``ephemeral``."""
    try:
        return store.parse_pool(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="interface of the TCP port (default: config registry.host)")
    parser.add_argument(
        "--port", type=int, help="TCP port; 0 lets the OS choose (default: config registry.port)"
    )
    parser.add_argument(
        "--pool",
        type=pool_argument,
        default=argparse.SUPPRESS,
        metavar="LO-HI[,LO-HI...]",
        help="port ranges to allocate from, or 'ephemeral' for ports the OS picks "
        "(default: config registry.pool)",
    )
    parser.add_argument(
        "--unix-socket",
        metavar="PATH|@name",
        help="also listen on this Unix socket (@name: abstract namespace), e.g. for "
        "portpicker's PORTSERVER_ADDRESS (default: config registry.unix_socket)",
    )
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=wire.DEFAULT_MAX_LINE_BYTES,
        help="longest request line accepted (default %(default)s)",
    )
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
    )


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    server = RegistryServer(
        args.host or cfg.registry_host,
        cfg.registry_port if args.port is None else args.port,
        pool=getattr(args, "pool", cfg.registry_pool),
        unix_socket=args.unix_socket or cfg.registry_unix_socket,
        max_line_bytes=args.max_line_bytes,
    )
    return asyncio.run(_serve(server))


async def _serve(server: RegistryServer) -> int:
    log = mlog.get_logger(None, "mountcomm registry")
    try:
        await server.start()
    except OSError as e:
        print(
            f"mountcomm registry: cannot listen on {server.host}:{server.port}"
            f"{f' or {server.unix_socket}' if server.unix_socket else ''}: {e}",
            file=sys.stderr,
        )
        return 1
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def stop(signum: int) -> None:
        log.info("signal_received", signal=signal.Signals(signum).name)
        if not closing:
            closing.append(loop.create_task(server.close()))

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop, signum)
    unix = f" and {server.unix_socket}" if server.unix_socket else ""
    print(f"mountcomm registry: listening on {server.host}:{server.port}{unix}", flush=True)
    try:
        await server.wait_closed()
        for task in closing:
            await task
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0
