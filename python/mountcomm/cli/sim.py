"""``mountcomm sim``: run a simulated mount controller until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import Callable

from .. import config as mconfig
from .. import log as mlog
from ..protocol.enums import Source
from ..registry.client import PortRegistry
from ..sim.controller import MockController
from .common import (
    CliError,
    add_config_argument,
    describe_error,
    load_config,
    port,
    positive_float,
    startup_quiet,
)
from .registry_option import add_registry_arguments, open_registry
from .signals import stop_signal

NAME = "sim"
HELP = "run a simulated mount controller (the PXI side) until SIGINT or SIGTERM"

_ROLES = ("csc", "eui", "hhd")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default: the config file's host)")
    for role in _ROLES:
        parser.add_argument(
            f"--{role}-port",
            type=port,
            metavar="P",
            help=f"serve the {role.upper()} role: read commands on P, send replies to P+1",
        )
    parser.add_argument(
        "--telemetry-port",
        type=port,
        metavar="P",
        help="telemetry port (default: the config file's)",
    )
    parser.add_argument(
        "--reply-host",
        default="127.0.0.1",
        help="host of the consoles' reply servers (default 127.0.0.1)",
    )
    parser.add_argument(
        "--commander",
        choices=("none", *_ROLES),
        default="none",
        help="who holds command at start (default: nobody)",
    )
    parser.add_argument(
        "--replay",
        metavar="FILE",
        help="answer as the controller of FILE did (a recording of `mountcomm proxy --record`)",
    )
    parser.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="simulated seconds per wall second (default 1); with --replay, the recorded "
        "delays are divided by S",
    )
    add_config_argument(parser)
    add_registry_arguments(parser)
    parser.epilog = (
        "Without any --ROLE-port flag, the roles and ports of the configuration file are served "
        "(with --registry: on ports the OS picks, advertised by name)."
    )


def build_controller(
    args: argparse.Namespace, cfg: mconfig.Config, registry: PortRegistry | None = None
) -> MockController:
    """The controller the arguments describe (not started).

    Raises
    ------
    OSError
        If the ``--replay`` file cannot be read.
    ValueError
        If an argument is wrong, or the ``--replay`` file is not a recording.
    """
    make: Callable[..., MockController] = MockController
    if args.replay:
        make = functools.partial(MockController.from_recording, args.replay)
    ports = {role: getattr(args, f"{role}_port") for role in _ROLES}
    chosen = {role: port for role, port in ports.items() if port is not None}
    if registry is not None:  # ports advertised by name; replies found by name
        chosen = chosen or {role: 0 for role in cfg.roles}
        return make(
            [Source[role.upper()] for role in chosen],
            host=args.host or cfg.host,
            command_ports={Source[r.upper()]: p for r, p in chosen.items()},
            telemetry_port=args.telemetry_port or 0,
            config=cfg,
            commander=Source[args.commander.upper()],
            time_scale=args.time_scale,
            registry=registry,
            service_prefix=args.service_prefix,
        )
    if not chosen:
        chosen = {role: p.command_port for role, p in cfg.roles.items()}
        replies = {role: p.reply_port for role, p in cfg.roles.items()}
    else:
        replies = {role: port + 1 for role, port in chosen.items() if port}
    return make(
        [Source[role.upper()] for role in chosen],
        host=args.host or cfg.host,
        command_ports={Source[r.upper()]: p for r, p in chosen.items()},
        reply_ports={Source[r.upper()]: p for r, p in replies.items()},
        console_host=args.reply_host,
        telemetry_port=cfg.telemetry_port if args.telemetry_port is None else args.telemetry_port,
        config=cfg,
        commander=Source[args.commander.upper()],
        time_scale=args.time_scale,
    )


async def _serve(args: argparse.Namespace, cfg: mconfig.Config) -> int:
    async with open_registry(args) as registry:
        return await _serve_with(args, cfg, registry)


async def _serve_with(
    args: argparse.Namespace, cfg: mconfig.Config, registry: PortRegistry | None
) -> int:
    log = mlog.get_logger(None, "mountcomm sim")
    try:
        controller = build_controller(args, cfg, registry)
    except ValueError as e:
        raise CliError(str(e), status=2) from None
    with stop_signal() as stopped:
        try:
            with startup_quiet():  # a start-up failure is this command's one-line error
                await controller.start()
        except OSError as e:
            await controller.close()
            raise CliError(f"cannot listen: {describe_error(e)}") from None
        roles = ", ".join(
            f"{r.name} commands on {controller.command_port(r)} replies to "
            f"{controller.console_host or '127.0.0.1'}:{controller.reply_port(r) or '?'}"
            for r in controller.roles
        )
        log.info(
            "sim_ready",
            roles=[r.name for r in controller.roles],
            telemetry_port=controller.telemetry_port,
        )
        replay = f"; replaying {args.replay}" if args.replay else ""
        print(
            f"mountcomm sim: ready; {roles}; telemetry on {controller.telemetry_port}{replay}",
            flush=True,
        )
        name = await stopped
        log.info("signal_received", signal=name)
        await controller.close()
    print(f"mountcomm sim: stopped ({name})", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    return asyncio.run(_serve(args, cfg))
