"""``mountcomm config``: check the configuration in effect, or print the defaults."""

from __future__ import annotations

__all__ = ["HELP", "LOG_LEVEL", "NAME", "add_arguments", "run"]

import argparse
import sys

import yaml

from .. import config as mconfig
from .common import add_config_argument, load_config

NAME = "config"
HELP = "print the configuration in effect (validated), or the shipped defaults (--dump)"
LOG_LEVEL = "error"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dump",
        action="store_true",
        help="print the default configuration file shipped in the package, with its "
        "comments (a starting point for --config)",
    )
    add_config_argument(parser)
    parser.epilog = (
        "Without --dump: load the file that --config or $MOUNTCOMM_CONFIG names (or the "
        "defaults), validate it and print the values in effect as YAML."
    )


def run(args: argparse.Namespace) -> int:
    if args.dump:
        sys.stdout.write(mconfig.default_text())
        return 0
    cfg = load_config(args)
    print(f"# {cfg.source}")
    sys.stdout.write(yaml.safe_dump(mconfig.to_dict(cfg), sort_keys=False))
    return 0
