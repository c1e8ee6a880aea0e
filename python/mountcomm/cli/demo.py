"""``mountcomm demo``: the end-to-end demonstration (placeholder until the net layer lands)."""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = "run the end-to-end demonstration"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fast", action="store_true", help="shorter run")


def run(args: argparse.Namespace) -> int:
    print("mountcomm demo: nothing to show yet")
    return 0
