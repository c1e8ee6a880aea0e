"""The ``mountcomm`` command: one subcommand per module of this package.

Each subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; it may define ``ADD_HELP = False`` (it adds its own
``--help``) and ``LOG_LEVEL`` (its default ``--log-level``, otherwise
``warning``: one-shot commands that report their own outcome are quieter).
Signals are handled here and in the subcommands' ``run``, never in the library.

`main` is the one place where failures become exit statuses: every failure is
one line on stderr, ``mountcomm NAME: what went wrong``, and the status is 1
(runtime), 2 (usage) or 130 (Ctrl-C); see `mountcomm.cli.common`.
"""

from __future__ import annotations

__all__ = ["build_parser", "main"]

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__
from .. import log as mlog
from ..config import ConfigError
from ..exceptions import MountcommError
from .common import (
    EXIT_INTERRUPTED,
    EXIT_RUNTIME,
    EXIT_USAGE,
    CliError,
    describe_error,
    first_error,
)

# Subcommand modules, in the order `mountcomm --help` lists them.
SUBCOMMANDS = (
    "demo",
    "sim",
    "proxy",
    "command",
    "monitor",
    "plot",
    "registry",
    "ports",
    "show_config",
)

_RUNTIME_ERRORS = (OSError, TimeoutError, ConnectionError, MountcommError)


class ArgumentParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors are one line on stderr."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``mountcomm`` command."""
    parser = ArgumentParser(
        prog="mountcomm",
        description="Drive, simulate and wire up a telescope mount over its text protocol.",
    )
    parser.add_argument("--version", action="version", version=f"mountcomm {__version__}")
    parser.add_argument("--config", metavar="PATH", help="YAML configuration file")
    parser.add_argument(
        "--log-format", choices=("console", "json"), default="console", help="log output format"
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error", "critical"),
        type=str.lower,
        help="minimum level of the log lines on stderr (default warning; quieter for "
        "commands that report their own outcome)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        p = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=module.HELP,
            add_help=getattr(module, "ADD_HELP", True),
        )
        module.add_arguments(p)
        p.set_defaults(
            run_subcommand=module.run,
            default_log_level=getattr(module, "LOG_LEVEL", "warning"),
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mountcomm`` command; return its exit status.

    Every failure is one line on stderr: 1 for a runtime failure, 2 for a
    usage error (bad arguments, a bad configuration file), 130 for Ctrl-C.

    Raises
    ------
    SystemExit
        From argument parsing, as `argparse` does: status 0 after ``--help`` or
        ``--version``, 2 after a usage error (printed as one line).
    """
    args = build_parser().parse_args(argv)  # usage errors: one line, SystemExit(2)
    with mlog.configured(args.log_format, args.log_level or args.default_log_level):
        return _run(f"mountcomm {args.command}", args)


def _run(prog: str, args: argparse.Namespace) -> int:
    """Run a subcommand: the one funnel from exceptions to exit statuses."""
    try:
        try:
            status: int = args.run_subcommand(args)
        except BaseExceptionGroup as group:  # from a TaskGroup: report its first error
            raise first_error(group) from None
    except KeyboardInterrupt:
        _fail(prog, "interrupted")
        return EXIT_INTERRUPTED
    except CliError as e:
        _fail(prog, describe_error(e))
        return e.status
    except ConfigError as e:
        _fail(prog, describe_error(e))
        return EXIT_USAGE
    except _RUNTIME_ERRORS as e:
        _fail(prog, describe_error(e))
        return EXIT_RUNTIME
    except Exception as e:
        logging.getLogger(__name__).debug("internal_error", exc_info=True)
        _fail(prog, f"internal error: {type(e).__name__}: {describe_error(e)}")
        return EXIT_RUNTIME
    return status


def _fail(prog: str, message: str) -> None:
    print(f"{prog}: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
