"""The ``mountcomm`` command: one subcommand per module of this package.

Each subcommand module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Signals are handled here and in the subcommands' ``run``,
never in the library.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from .. import log as mlog

# Subcommand modules, in the order `mountcomm --help` lists them.
SUBCOMMANDS = ("demo", "sim", "command", "monitor", "plot", "registry", "ports")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``mountcomm`` command."""
    parser = argparse.ArgumentParser(
        prog="mountcomm",
        description="Drive, simulate and wire up a telescope mount over its text protocol.",
    )
    parser.add_argument("--version", action="version", version=f"mountcomm {__version__}")
    parser.add_argument("--config", metavar="PATH", help="YAML configuration file")
    parser.add_argument(
        "--log-format", choices=("console", "json"), default="console", help="log output format"
    )
    parser.add_argument(
        "--log-level", default="warning", help="minimum log level (default warning)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mountcomm`` command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        mlog.configure(format=args.log_format, level=args.log_level)
    except ValueError as e:
        parser.error(str(e))
    try:
        status: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
