"""What the subcommands share: argument types, the configuration, one-line errors.

Argument types (for argparse ``type=``) reject bad values at parsing, so that
they end as a one-line usage error (exit status 2) instead of a traceback later:
`port` (0…65535), `server_port` (1…65535), `positive_float` (> 0),
`non_negative_float` (>= 0), `positive_int` (>= 1, counts and sizes).

A subcommand reports a failure by raising `CliError` (or letting a
`ConfigError`, `OSError`, `TimeoutError`, `ConnectionError` or `MountcommError`
through); ``mountcomm.cli.main`` prints it as one line on stderr
(`describe_error`) and exits 1 (2 for `CliError` with ``status=2`` and
configuration errors, 130 for Ctrl-C).
"""

from __future__ import annotations

__all__ = [
    "CliError",
    "add_config_argument",
    "describe_error",
    "first_error",
    "load_config",
    "non_negative_float",
    "port",
    "positive_float",
    "positive_int",
    "server_port",
    "startup_quiet",
]

import argparse
import contextlib
import logging
import math
from collections.abc import Iterator

from .. import config as mconfig

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure a subcommand reports as one line on stderr.

    Parameters
    ----------
    message : `str`
        What went wrong, without the ``mountcomm NAME:`` prefix.
    status : `int`, optional
        The exit status: 1 (runtime, the default) or 2 (usage).
    """

    def __init__(self, message: str, status: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.status = status


# --- argument types ----------------------------------------------------------------


def _integer(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _number(text: str, rule: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number {rule}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number {rule}, got {text}")
    return value


def port(text: str) -> int:
    """argparse type: a TCP port number 0…65535 (0: the OS picks one)."""
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0…65535, got {text}")
    return value


def server_port(text: str) -> int:
    """argparse type: the port of a server to connect to, 1…65535."""
    value = _integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 1…65535, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (timeouts, rates)."""
    value = _number(text, "> 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _number(text, ">= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (counts, sizes)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


# --- configuration -------------------------------------------------------------------


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--config PATH`` to a subcommand (it may also come before the subcommand)."""
    parser.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="YAML configuration file"
    )


def load_config(args: argparse.Namespace) -> mconfig.Config:
    """Load the configuration that ``--config`` (or ``$MOUNTCOMM_CONFIG``) names.

    Raises
    ------
    CliError
        With status 2, naming the file and the bad key.
    """
    try:
        return mconfig.load(getattr(args, "config", None))
    except mconfig.ConfigError as e:
        raise CliError(str(e), EXIT_USAGE) from None


# --- errors --------------------------------------------------------------------------


def describe_error(error: BaseException) -> str:
    """One line saying what ``error`` means (never empty, no newlines)."""
    text = " ".join(str(error).split())
    if text:
        return text
    return "timed out" if isinstance(error, TimeoutError) else type(error).__name__


def first_error(error: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups; ``error`` itself otherwise."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


@contextlib.contextmanager
def startup_quiet() -> Iterator[None]:
    """Silence log records inside the block (the root logger's level is raised).

    For a server's start-up: a failure there is reported as the command's
    one-line error, so the library's own record of it would say it twice.
    """
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        root.setLevel(level)
