"""``mountcomm command``: send one command to a controller and print its replies.

Replies go to stdout, one line each, with the time since the start; failures
are one line on stderr (see `mountcomm.cli.common`):

* the host cannot be resolved, the connection is refused or does not succeed
  within ``--connect-timeout``, the controller does not connect back to the
  reply port, or the reply port cannot be bound: exit 1 with the reason;
* NOACK, no ACK within ``--ack-timeout``, ACK but no DONE in time: exit 1.
"""

from __future__ import annotations

__all__ = ["HELP", "LOG_LEVEL", "NAME", "add_arguments", "build_command", "describe_fields", "run"]

import argparse
import asyncio
import os
import socket
import sys
import time
from typing import Any

from .. import config as mconfig
from ..commanding.client import MountClient
from ..commanding.policy import DEFAULT_ACK_TIMEOUT
from ..exceptions import CommandError, CommandRejected, CommandTimeout
from ..protocol import Source, commands
from ..protocol.fields import BoolKind, EnumKind, FloatKind, IntKind
from ..protocol.messages import FieldInfo, Message
from ..telemetry.record import Recorder
from .common import (
    CliError,
    add_config_argument,
    describe_error,
    load_config,
    port,
    positive_float,
    server_port,
)

NAME = "command"
HELP = "send one command to a controller and print the replies as they arrive"
LOG_LEVEL = "critical"  # every outcome is reported by the command itself
ADD_HELP = False  # `add_arguments` adds its own --help

DEFAULT_CONNECT_TIMEOUT = 5.0
"""Default of ``--connect-timeout`` [s]."""

PROBE_TIMEOUT = 1.0
"""Longest wait of the one connection attempt that finds why connecting failed [s]."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_HIDDEN_FIELDS = ("sequence_id", "timestamp", "source")
_ROLES = ("csc", "eui", "hhd")


class _CommandHelp(argparse.Action):
    """``--help``: the fields of the command named before it, else the usual help."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name = getattr(namespace, "name", None)
        if name is None:
            parser.print_help()
            parser.exit()
        try:
            cls = command_class(name)
        except ValueError as e:
            parser.error(str(e))
        try:
            cfg = mconfig.load(getattr(namespace, "config", None) or None)
        except mconfig.ConfigError:
            cfg = mconfig.Config()
        sys.stdout.write(describe_fields(cls, cfg))
        parser.exit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-h",
        "--help",
        action=_CommandHelp,
        help="show this help; after a command name: that command's fields",
    )
    parser.add_argument("--host", help="controller host (default: the config file's host)")
    parser.add_argument(
        "--port", type=server_port, help="controller command port (default: the role's)"
    )
    parser.add_argument(
        "--reply-port",
        type=port,
        help="port to listen on for replies (default: command port + 1; 0: any)",
    )
    parser.add_argument(
        "--role",
        choices=_ROLES,
        default="csc",
        type=str.lower,
        help="console role to command as: its port pair is used and the command's source "
        "is set to it (default csc)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="S",
        help="give up connecting after S seconds (default %(default)s)",
    )
    parser.add_argument(
        "--ack-timeout",
        type=positive_float,
        default=DEFAULT_ACK_TIMEOUT,
        metavar="S",
        help="wait S seconds for the ACK or NOACK (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="give up waiting for DONE after S seconds in all (default %(default)s; DONE is "
        "also late when it misses the ACK's announced duration plus a margin)",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="append the command and its replies to FILE as JSON lines (with "
        "`mountcomm monitor --record FILE` alongside, the file also holds the telemetry; "
        "`mountcomm plot FILE` draws it)",
    )
    add_config_argument(parser)
    parser.add_argument("name", help="command class or code name, e.g. ElevationAxisMove")
    parser.add_argument(
        "fields",
        nargs="*",
        metavar="field=value",
        help="command fields; `mountcomm command NAME --help` lists them",
    )
    parser.epilog = "Commands: " + ", ".join(sorted(c.__name__ for c in commands.COMMANDS.values()))


# --- building the command -------------------------------------------------------------


def command_class(name: str) -> type[commands.Command]:
    """The command class for a class or code name (case-insensitive) or a code number.

    Raises
    ------
    ValueError
        If no command class matches.
    """
    try:
        return commands.command_class(name)
    except (KeyError, ValueError) as e:
        error = e
    folded = name.casefold()
    for cls in commands.COMMANDS.values():
        if folded in (cls.__name__.casefold(), cls.command_code.name.casefold()):
            return cls
    raise ValueError(error.args[0] if error.args else f"no command named {name!r}") from None


def _fields(cls: type[commands.Command]) -> dict[str, FieldInfo]:
    return {info.name: info for info in cls.field_infos if info.name not in _HIDDEN_FIELDS}


def _parse_value(info: FieldInfo, text: str) -> Any:
    kind = info.kind
    if isinstance(kind, BoolKind) and text.lower() in _TRUE | _FALSE:
        return text.lower() in _TRUE
    if isinstance(kind, EnumKind):
        by_name = {m.name.casefold(): m for m in kind.enum_class}
        member = by_name.get(text.casefold())
        if member is not None:
            return member
        try:
            return kind.parse(text)
        except ValueError:
            names = ", ".join(m.name.lower() for m in kind.enum_class)
            raise ValueError(f"expected one of {names} (or its number)") from None
    return kind.parse(text)


def build_command(name: str, assignments: list[str]) -> commands.Command:
    """Make a command from its name and ``field=value`` strings.

    Enum fields take a member's name (case-insensitive) or number; booleans
    take true/false, yes/no, on/off or 1/0.

    Raises
    ------
    ValueError
        Unknown command or field, missing ``=``, or a bad value.
    """
    cls = command_class(name)
    infos = _fields(cls)
    kwargs: dict[str, Any] = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"expected field=value, got {item!r}")
        info = infos.get(key)
        if info is None:
            raise ValueError(f"{cls.__name__} has no field {key!r}; fields: {list(infos)}")
        try:
            kwargs[key] = _parse_value(info, text)
        except ValueError as e:
            raise ValueError(f"{cls.__name__}.{key}: bad value {text!r} ({e})") from None
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{cls.__name__}: {e}") from None


# --- describing the command's fields ----------------------------------------------------

_AXIS_PREFIXES = {
    "ElevationAxis": "elevation",
    "AzimuthAxis": "azimuth",
    "CameraCableWrap": "camera_cable_wrap",
}


def _axis_of(cls: type[commands.Command], field: str) -> tuple[str | None, str]:
    """The simulator axis a field is about, and the field's quantity."""
    for prefix, axis in _AXIS_PREFIXES.items():
        if cls.__name__.startswith(prefix):
            return axis, field
    for axis in ("azimuth", "elevation"):
        if field == axis or field.startswith(axis + "_"):
            return axis, field.removeprefix(axis).lstrip("_") or "position"
    return None, field


def _range(cls: type[commands.Command], info: FieldInfo, cfg: mconfig.Config) -> str:
    kind = info.kind
    if isinstance(kind, BoolKind):
        return "true/false, on/off, yes/no, 1/0"
    if isinstance(kind, EnumKind):
        return "one of " + ", ".join(f"{m.name.lower()} ({int(m)})" for m in kind.enum_class)
    if isinstance(kind, IntKind):
        return "an integer"
    if not isinstance(kind, FloatKind):
        return "text"
    axis, quantity = _axis_of(cls, info.name)
    limits = cfg.sim_limits.get(axis) if axis else None
    if limits is None:
        return "a finite number"
    if quantity == "position":
        return f"{limits['min']:g} … {limits['max']:g} (simulator limits)"
    if quantity == "velocity" and "Track" in cls.__name__:  # a signed tracking rate
        top = limits["max_velocity"]
        return f"-{top:g} … {top:g} (simulator limit)"
    if quantity in ("velocity", "acceleration"):
        top = limits[f"max_{quantity}"]
        return f"0 … {top:g} (simulator limit; 0: default)"
    return "a finite number"


def describe_fields(cls: type[commands.Command], cfg: mconfig.Config | None = None) -> str:
    """The help text of one command: its fields with type, unit, default and range.

    Units are those in brackets in each field's doc; ranges of axis fields are
    the simulator limits of ``cfg`` (default: the built-in configuration).
    """
    cfg = cfg or mconfig.Config()
    code = cls.command_code
    lines = [
        " ".join(
            [f"usage: mountcomm command [options] {cls.__name__}"]
            + [f"{n}=…" if i.required else f"[{n}=…]" for n, i in _fields(cls).items()]
        ),
        "",
        f"{cls.__name__} ({code.name}, code {int(code)}): {(cls.__doc__ or '').strip()}",
        "ack-only: complete on ACK" if cls.ack_only else "complete on DONE",
        "",
    ]
    infos = _fields(cls)
    if not infos:
        lines.append("no fields")
    for name, info in infos.items():
        default = "required" if info.required else f"default {info.default!r}"
        if isinstance(info.default, Source):
            default = f"default {info.default.name.lower()}"
        lines.append(f"  {name}  ({info.kind.type_name}; {default})")
        if info.doc:
            lines.append(f"      {info.doc}")
        lines.append(f"      range: {_range(cls, info, cfg)}")
    return "\n".join(lines) + "\n"


# --- sending ----------------------------------------------------------------------------


def _print(what: str, start: float, message: Message | str) -> None:
    print(f"{(time.monotonic() - start) * 1e3:9.1f} ms  {what:<11} {message}", flush=True)


async def _resolve(host: str, timeout: float) -> None:
    """Fail at once, with the resolver's reason, if ``host`` has no address."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CliError(f"cannot resolve host {host!r}: {e.strerror or e}") from None
    except TimeoutError:
        raise CliError(f"cannot resolve host {host!r}: no answer within {timeout:g} s") from None


def _reason(error: OSError) -> str:
    """The OS's words for ``error`` ("connection refused"), else its message."""
    if error.errno:
        return os.strerror(error.errno).lower()
    return describe_error(error)


async def _why_not_connected(host: str, port: int, timeout: float) -> str:
    """Try one connection to learn why connecting failed (the client is closed by now)."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as e:
        return _reason(e)
    writer.close()
    await writer.wait_closed()
    return f"not connected within {timeout:g} s"


async def _connect(mount: MountClient, host: str, port: int, timeout: float) -> None:
    try:
        await mount.start()
    except TimeoutError:
        connected = mount.communicator.client_connected
        await mount.close()
        if connected:
            raise CliError(
                f"connected to {host}:{port}, but the controller did not connect back to "
                f"reply port {mount.reply_port} within {timeout:g} s"
            ) from None
        reason = await _why_not_connected(host, port, min(timeout, PROBE_TIMEOUT))
        raise CliError(f"cannot connect to {host}:{port}: {reason}") from None
    except OSError as e:
        reply = f"{mount.communicator.server_host or '*'}:{mount.communicator.server_port}"
        raise CliError(f"cannot listen for replies on {reply}: {_reason(e)}") from None


async def _await(future: asyncio.Future[Any], deadline: float) -> bool:
    """Wait for ``future`` without cancelling it; False if ``deadline`` passed first."""
    remaining = deadline - time.monotonic()
    if remaining > 0:
        await asyncio.wait({future}, timeout=remaining)
    return future.done()


async def _send(args: argparse.Namespace, cfg: mconfig.Config, cmd: commands.Command) -> int:
    role = Source[args.role.upper()]
    port_ = args.port if args.port is not None else cfg.roles[args.role].command_port
    host = args.host or cfg.host
    start = time.monotonic()
    await _resolve(host, args.connect_timeout)
    mount = MountClient(
        host,
        port_,
        reply_port=args.reply_port,
        role=role,
        connect_timeout=args.connect_timeout,
        ack_timeout=args.ack_timeout,
        unsolicited_callback=lambda reply: _print("unsolicited", start, reply),
    )
    futures = None
    recorder = Recorder(args.record) if args.record else None
    try:
        await _connect(mount, host, port_, args.connect_timeout)
        futures = await mount.send(cmd)
        if recorder is not None:
            recorder.track(futures)
        _print("sent", start, futures.command)
        deadline = start + args.timeout
        if not await _await(futures.ack, deadline):
            raise CliError(f"no ACK within {args.timeout:g} s")
        try:
            announced = futures.ack.result()
        except CommandTimeout:
            raise CliError(f"no ACK within {args.ack_timeout:g} s") from None
        _print("ACK", start, f"expected duration {announced:.3f} s")
        if not await _await(futures.done, deadline):
            raise CliError(f"ACK but no DONE within {args.timeout:g} s")
        try:
            futures.done.result()
        except CommandTimeout as e:
            raise CliError(f"ACK but no DONE in time: {e}") from None
        _print("DONE" if not cmd.ack_only else "done (ack-only)", start, "")
    except CommandRejected as e:
        _print(type(e).__name__, start, str(e))
        raise CliError(f"{type(cmd).__name__} rejected: {e}") from None
    except CommandError as e:
        raise CliError(describe_error(e)) from None
    finally:
        if futures is not None:  # the command is abandoned: nothing left to report
            futures.ack.cancel()
            futures.done.cancel()
        await mount.close()
        if recorder is not None:
            recorder.close()
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    try:
        cmd = build_command(args.name, args.fields)
    except ValueError as e:
        raise CliError(str(e), status=2) from None
    return asyncio.run(_send(args, cfg, cmd))
