"""``mountcomm command``: send one command to a controller and print its replies."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from .. import config as mconfig
from ..commanding.client import MountClient
from ..config import ConfigError
from ..exceptions import CommandError
from ..net.discovery import mount_service_name
from ..protocol import Source, commands
from ..protocol.fields import BoolKind
from ..protocol.messages import Message
from .registry_option import add_registry_arguments, open_registry

NAME = "command"
HELP = "send one command to a controller and print the replies as they arrive"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="controller host (default: the config file's host)")
    parser.add_argument("--port", type=int, help="controller command port (default: the role's)")
    parser.add_argument(
        "--reply-port",
        type=int,
        help="port to listen on for replies (default: command port + 1; 0: any)",
    )
    parser.add_argument("--role", choices=("csc", "eui", "hhd"), default="csc")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="give up after this many seconds (default 60)"
    )
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
    )
    add_registry_arguments(parser)
    parser.add_argument(
        "--reply-host",
        metavar="ADDR",
        help="with --registry: address to serve replies on, advertised by name (default: --host)",
    )
    parser.add_argument("name", help="command class or code name, e.g. ElevationAxisMove")
    parser.add_argument("fields", nargs="*", metavar="field=value", help="command fields")
    parser.epilog = "Commands: " + ", ".join(sorted(c.__name__ for c in commands.COMMANDS.values()))


def build_command(name: str, assignments: list[str]) -> commands.Command:
    """Make a command from its name and ``field=value`` strings.

    Raises
    ------
    ValueError
        Unknown command or field, missing ``=``, or a bad value.
    """
    try:
        cls = commands.command_class(name)
    except (KeyError, ValueError) as e:
        raise ValueError(e.args[0]) from None
    infos = {info.name: info for info in cls.field_infos}
    kwargs: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"expected field=value, got {item!r}")
        info = infos.get(key)
        if info is None or key in ("sequence_id", "timestamp"):
            allowed = [n for n in infos if n not in ("sequence_id", "timestamp")]
            raise ValueError(f"{cls.__name__} has no field {key!r}; fields: {allowed}")
        if isinstance(info.kind, BoolKind) and text.lower() in _TRUE | _FALSE:
            kwargs[key] = text.lower() in _TRUE
            continue
        try:
            kwargs[key] = info.kind.parse(text)
        except ValueError as e:
            raise ValueError(f"{cls.__name__}.{key}: bad value {text!r} ({e})") from None
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ValueError(f"{cls.__name__}: {e}") from None


def _print(what: str, start: float, message: Message | str) -> None:
    print(f"{(time.monotonic() - start) * 1e3:9.1f} ms  {what:<11} {message}", flush=True)


async def _send(args: argparse.Namespace, cfg: mconfig.Config, cmd: commands.Command) -> int:
    role = Source[args.role.upper()]
    port = args.port if args.port is not None else cfg.roles[args.role].command_port
    host = args.host or cfg.host
    start = time.monotonic()
    found: dict[str, Any] = {}
    async with asyncio.timeout(args.timeout), open_registry(args) as registry:
        if registry is not None:  # the controller's port, and ours for replies, by name
            found = {
                "registry": registry,
                "reply_host": args.reply_host or args.host,
                "command_service": None
                if args.port
                else mount_service_name(role, "command", args.service_prefix),
                "reply_service": mount_service_name(role, "reply", args.service_prefix),
            }
            port = args.port or 0
        async with MountClient(
            host,
            port,
            reply_port=args.reply_port,
            role=role,
            connect_timeout=args.timeout,
            unsolicited_callback=lambda reply: _print("unsolicited", start, reply),
            **found,
        ) as mount:
            futures = await mount.send(cmd)
            _print("sent", start, futures.command)
            try:
                timeout = await futures.ack
                _print("ACK", start, f"expected duration {timeout:.3f} s")
                await futures.done
                _print("DONE" if not cmd.ack_only else "done (ack-only)", start, "")
            except CommandError as e:
                _print(type(e).__name__, start, str(e))
                return 1
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        cfg = mconfig.load(args.config)
        cmd = build_command(args.name, args.fields)
    except (ValueError, ConfigError) as e:
        print(f"mountcomm command: {e}")
        return 2
    try:
        return asyncio.run(_send(args, cfg, cmd))
    except TimeoutError:
        print(f"mountcomm command: no answer within {args.timeout} s")
        return 1
    except (OSError, ConnectionError) as e:
        print(f"mountcomm command: connection failed: {e}")
        return 1
