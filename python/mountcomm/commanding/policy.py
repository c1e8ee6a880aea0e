"""Commanding policies: pure functions, no I/O and no event loop.

Timing and error mapping decisions of the command tracker live here so that
they can be read, tested and changed in one place.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_ACK_TIMEOUT",
    "DEFAULT_DONE_MARGIN",
    "connect_timeout_message",
    "done_timeout",
    "is_superseded",
    "noack_exception",
    "should_log_occurrence",
]

from ..exceptions import CommandRejected, CommandSuperseded
from ..net.retry import should_log_occurrence  # the one log throttle, re-exported here

DEFAULT_ACK_TIMEOUT = 5.0
"""Default time to wait for the ACK (or NOACK) of a command [s]."""

DEFAULT_DONE_MARGIN = 2.0
"""Default time allowed beyond the ACK's ``timeout_ms`` before DONE is late [s]."""


def done_timeout(timeout_ms: int, margin: float) -> float:
    """Return how long to wait for DONE after an ACK.

    Parameters
    ----------
    timeout_ms : `int`
        The ``timeout_ms`` field of the ACK: the controller's estimate of the
        command's duration [ms]. Negative values count as 0.
    margin : `float`
        Extra time allowed beyond the estimate [s].

    Returns
    -------
    timeout : `float`
        Time to wait for DONE, counted from the ACK [s].
    """
    return max(timeout_ms, 0) / 1000.0 + margin


def is_superseded(explanation: str) -> bool:
    """Return True if a NOACK explanation says a newer command replaced this one.

    The test is case-insensitive: ``"Superseded"``, ``"superseded by 42"`` and
    ``"Command SUPERSEDED"`` all count.
    """
    return "superseded" in explanation.lower()


def noack_exception(explanation: str) -> CommandRejected:
    """Return the exception a NOACK with this explanation maps to.

    Parameters
    ----------
    explanation : `str`
        The ``explanation`` field of the NOACK.

    Returns
    -------
    exception : `CommandRejected`
        A `CommandSuperseded` if `is_superseded` (``explanation``), else a
        `CommandRejected`; either carries ``explanation``.
    """
    if is_superseded(explanation):
        return CommandSuperseded(explanation)
    return CommandRejected(explanation)


def connect_timeout_message(
    who: str,
    host: str,
    port: int,
    service: str | None,
    reply_port: int,
    timeout: float | None,
    command_connected: bool,
) -> str:
    """Return the message of the `TimeoutError` raised when connecting takes too long.

    It names the address that did not answer: the controller's command port
    (``host:port``, with the service name when it was looked up by name), or
    this side's reply port if the command connection was made but the
    controller did not connect back.

    Parameters
    ----------
    who : `str`
        The client, e.g. ``"MountClient(CSC)"``.
    host, port : `str`, `int`
        The controller's command address (``port`` 0: not known yet).
    service : `str` or `None`
        The service name the command port is looked up by, if any.
    reply_port : `int`
        This client's reply port.
    timeout : `float` or `None`
        The ``connect_timeout`` that expired [s].
    command_connected : `bool`
        Whether the command connection was made.
    """
    where = f"{host}:{port or '?'}"
    if service:
        where += f" (service {service!r})"
    within = f"within connect_timeout={timeout} s"
    if not command_connected:
        return f"{who}: no connection to {where} {within}"
    return (
        f"{who}: connected to {where}, but the controller did not connect back "
        f"to reply port {reply_port} {within}"
    )
