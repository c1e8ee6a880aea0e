"""``mountcomm ports``: list the port registry's entries, or find some."""

from __future__ import annotations

__all__ = ["HELP", "NAME", "add_arguments", "format_status", "format_table", "run"]

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from ..exceptions import RegistryError
from ..registry.client import PortRegistry
from ..registry.entries import PortEntry
from ..registry.native import StatusReply
from . import common
from .common import load_config

NAME = "ports"
HELP = "list or find the port registry's entries"


def _reason(error: BaseException) -> str:
    """A one-line reason for ``error``, never empty."""
    text = str(error)
    if isinstance(error, TimeoutError) and not text:
        return "no answer in time"
    return text or type(error).__name__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="host of the registry (default: config registry.host)")
    parser.add_argument(
        "--port", type=common.port, help="its TCP port (default: config registry.port)"
    )
    parser.add_argument(
        "--unix-socket", metavar="PATH|@name", help="reach the registry on this Unix socket"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--service", metavar="S", help="only the service named S")
    which.add_argument("--beginswith", metavar="B", help="only services whose name starts with B")
    parser.add_argument("--user", metavar="U", help="only entries of user U")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.add_argument(
        "--status",
        action="store_true",
        help="print the registry's state instead (in a cluster: is its view stale?)",
    )
    parser.add_argument(
        "--timeout",
        type=common.positive_float,
        default=5.0,
        help="seconds to wait, > 0 (default 5)",
    )
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
    )


def format_table(entries: Sequence[PortEntry], host: str = "") -> str:
    """Return ``entries`` as an aligned table with a ``HOST PORT SERVICE USER`` header.

    An entry without a host (a registry outside a cluster) shows ``host``.
    """
    rows = [("HOST", "PORT", "SERVICE", "USER")]
    rows += [(e.host or host, str(e.port), e.service, e.user) for e in entries]
    w = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{h:<{w[0]}}  {p:>{w[1]}}  {s:<{w[2]}}  {u}" for h, p, s, u in rows]
    return "\n".join(lines) + "\n"


def format_status(status: StatusReply) -> str:
    """Return the registry's ``status`` reply as ``key: value`` lines."""
    lines = [f"registry pid {status.pid}, version {status.version}"]
    lines.append(f"entries held here: {status.entries}")
    cluster = status.cluster
    if cluster is None:
        lines.append("cluster: none (this host only)")
    else:
        state = "STALE" if cluster.stale else "up to date"
        lines.append(f"cluster: {cluster.endpoints}: {state}")
        if cluster.stale and cluster.error:
            lines.append(f"  error: {cluster.error}")
        for key in ("advertise_host", "revision", "published", "remote_entries", "sessions"):
            lines.append(f"  {key}: {getattr(cluster, key)}")
    return "\n".join(lines) + "\n"


async def _query(args: argparse.Namespace, host: str, port: int) -> StatusReply | list[PortEntry]:
    async with PortRegistry(
        host, port, unix_socket=args.unix_socket, timeout=args.timeout
    ) as registry:
        if args.status:
            return await registry.status()
        if args.service is None and args.beginswith is None and args.user is None:
            return await registry.list_ports()
        return await registry.find(args.service, args.beginswith, args.user)


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    host = args.host or cfg.registry_host
    port = cfg.registry_port if args.port is None else args.port
    where = args.unix_socket or f"{host}:{port}"
    try:
        entries = asyncio.run(_query(args, host, port))
    except (OSError, TimeoutError) as e:
        print(
            f"mountcomm ports: cannot reach the registry at {where}: {_reason(e)}",
            file=sys.stderr,
        )
        return 1
    except RegistryError as e:
        print(f"mountcomm ports: the registry refused: {_reason(e)}", file=sys.stderr)
        return 1
    shown_host = "localhost" if args.unix_socket else host
    if isinstance(entries, StatusReply):
        if args.json:
            print(json.dumps(entries.fields(), indent=2))
        else:
            sys.stdout.write(format_status(entries))
        return 0
    if args.json:
        rows = [{**e.as_dict(), "host": e.host or shown_host} for e in entries]
        print(json.dumps(rows, indent=2))
    else:
        sys.stdout.write(format_table(entries, shown_host))
    return 0
