"""``mountcomm proxy``: relay (and record) consoles and a controller until SIGINT or SIGTERM."""

from __future__ import annotations

__all__ = ["HELP", "NAME", "add_arguments", "build_proxy", "run"]

import argparse
import asyncio

from .. import config as mconfig
from .. import log as mlog
from ..protocol.enums import Source
from ..proxy import MountProxy
from .common import CliError, add_config_argument, describe_error, load_config, port, startup_quiet
from .signals import stop_signal

NAME = "proxy"
HELP = "relay consoles and a mount controller frame by frame, recording every frame"

_ROLES = ("csc", "eui", "hhd")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, metavar="HOST", help="host of the controller")
    for role in _ROLES:
        parser.add_argument(
            f"--to-{role}-port",
            type=port,
            metavar="P",
            help=f"the controller's {role.upper()} command port (its replies come to P+1 here)",
        )
    parser.add_argument(
        "--to-telemetry-port", type=port, metavar="P", help="the controller's telemetry port"
    )
    for role in _ROLES:
        parser.add_argument(
            f"--{role}-port",
            type=port,
            metavar="P",
            help=f"read the {role.upper()} console's commands on P, send its replies to P+1",
        )
    parser.add_argument(
        "--telemetry-port", type=port, metavar="P", help="serve the relayed telemetry on P"
    )
    parser.add_argument("--host", help="address to listen on (default: the config file's host)")
    parser.add_argument(
        "--reply-host",
        default="127.0.0.1",
        help="host of the consoles' reply servers (default 127.0.0.1)",
    )
    parser.add_argument(
        "--record", metavar="FILE", help="append one JSON line per frame to FILE (a recording)"
    )
    add_config_argument(parser)
    parser.epilog = (
        "A role given a port on either side is proxied (the other side's port defaults to the "
        "configuration's), and so is the telemetry; without any port flag, every role of the "
        "configuration and its telemetry. The proxy must not listen where the controller does."
    )


def build_proxy(args: argparse.Namespace, cfg: mconfig.Config) -> MountProxy:
    """The proxy the arguments describe (not started).

    Raises
    ------
    ValueError
        If a port is 0 on the controller's side.
    """
    given = {
        role
        for role in _ROLES
        if getattr(args, f"{role}_port") is not None or getattr(args, f"to_{role}_port") is not None
    }
    telemetry = args.telemetry_port is not None or args.to_telemetry_port is not None
    if not given and not telemetry:
        given, telemetry = set(cfg.roles), True
    if not given:
        raise ValueError("give at least one role's port (--csc-port, --to-csc-port, ...)")

    def configured(role: str, value: int | None) -> int:
        if value is not None:
            return value
        if role not in cfg.roles:
            raise ValueError(f"no port for {role.upper()}: give --{role}-port and --to-{role}-port")
        return cfg.roles[role].command_port

    roles = [role for role in _ROLES if role in given]
    ports = {r: configured(r, getattr(args, f"{r}_port")) for r in roles}
    targets = {r: configured(r, getattr(args, f"to_{r}_port")) for r in roles}
    if not all(targets.values()):
        raise ValueError("a controller port (--to-ROLE-port) must be nonzero")
    telemetry_port = controller_telemetry_port = None
    if telemetry:
        telemetry_port = cfg.telemetry_port if args.telemetry_port is None else args.telemetry_port
        controller_telemetry_port = args.to_telemetry_port or cfg.telemetry_port
    return MountProxy(
        args.to,
        {Source[r.upper()]: p for r, p in targets.items()},
        host=args.host or cfg.host,
        command_ports={Source[r.upper()]: p for r, p in ports.items()},
        console_host=args.reply_host,
        telemetry_port=telemetry_port,
        controller_telemetry_port=controller_telemetry_port,
        record=args.record,
    )


def _ready_line(proxy: MountProxy, reply_host: str) -> str:
    parts = []
    for role in proxy.roles:
        reply = proxy.reply_port(role) or "?"
        parts.append(
            f"{role.name} commands on {proxy.command_port(role)} replies to {reply_host}:{reply} "
            f"-> controller {proxy.controller_host}:{proxy.routes[role].controller.client_port} "
            f"replies on {proxy.controller_reply_port(role)}"
        )
    if proxy.telemetry is not None:
        parts.append(
            f"telemetry on {proxy.telemetry_port} -> controller "
            f"{proxy.controller_host}:{proxy.telemetry.controller_port}"
        )
    if proxy.recording is not None:
        parts.append(f"recording to {proxy.recording.path}")
    return "mountcomm proxy: ready; " + "; ".join(parts)


async def _serve(args: argparse.Namespace, cfg: mconfig.Config) -> int:
    log = mlog.get_logger(None, "mountcomm proxy")
    try:
        proxy = build_proxy(args, cfg)
    except ValueError as e:
        raise CliError(str(e), status=2) from None
    except OSError as e:
        raise CliError(f"cannot record to {args.record}: {describe_error(e)}") from None
    with stop_signal() as stopped:
        try:
            with startup_quiet():  # a start-up failure is this command's one-line error
                await proxy.start()
        except OSError as e:
            await proxy.close()
            raise CliError(f"cannot listen: {describe_error(e)}") from None
        for role in proxy.roles:  # a port the OS picked: the console's replies at P+1 all the same
            if not proxy.reply_port(role):
                proxy.connect_console(role, proxy.command_port(role) + 1)
        log.info("proxy_ready", roles=[r.name for r in proxy.roles])
        print(_ready_line(proxy, args.reply_host), flush=True)
        name = await stopped
        log.info("signal_received", signal=name)
        await proxy.close()
    recorded = "" if proxy.recording is None else f"; {proxy.recording.written} frames recorded"
    print(f"mountcomm proxy: stopped ({name}){recorded}", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    return asyncio.run(_serve(args, cfg))
