"""Socket options shared by every TCP connection mountcomm makes or accepts.

This module sits at the bottom of the package, beside `mountcomm.config` and
`mountcomm.log`: the transport (`mountcomm.net`), the registry clients and the
telemetry client all use it, and it imports nothing from them.

Three concerns live here:

* **Dead-peer detection.** TCP keepalive notices a peer that vanished while the
  connection is idle; ``TCP_USER_TIMEOUT`` bounds how long written data may stay
  unacknowledged before the kernel gives up on the connection. Both are on by
  default with short timings (`DEFAULT_TCP_KEEPALIVE`, `DEFAULT_TCP_USER_TIMEOUT`),
  so a pulled cable ends the connection within seconds, with or without traffic.
* **Latency.** ``TCP_NODELAY`` on every connection: the protocol sends small frames.
* **Self-connections.** A client that retries a port in the kernel's ephemeral
  range while nobody listens can be handed that same port as its local port; TCP's
  simultaneous open then connects the socket *to itself*. `check_not_self_connected`
  detects it so that connect loops treat it as a failed attempt.

And the mechanisms every connecting class shares, one of each:

* **The checked connect.** `connect_checked` (blocking) and
  `open_checked_connection` (asyncio streams) connect, refuse a self-connection
  (`refuse_self_connection`: reset, then `SelfConnectionError`) and set the
  socket options. `SelfConnectionLog` is the one log policy for the refusals.
* **Reset on close.** `reset_on_close` (``SO_LINGER`` 0).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_TCP_KEEPALIVE",
    "DEFAULT_TCP_USER_TIMEOUT",
    "SelfConnectionLog",
    "TcpKeepalive",
    "apply_socket_options",
    "check_not_self_connected",
    "coerce_keepalive",
    "connect_checked",
    "dual_stack_socket",
    "is_self_connection",
    "open_checked_connection",
    "refuse_self_connection",
    "reset_on_close",
    "validate_user_timeout",
]

import asyncio
import contextlib
import math
import socket
import struct
from dataclasses import dataclass
from typing import Any

from .exceptions import SelfConnectionError
from .throttle import should_log_occurrence

_TCP_FAMILIES = (socket.AF_INET, socket.AF_INET6)


@dataclass(frozen=True, slots=True)
class TcpKeepalive:
    """TCP keepalive timings.

    A silent peer is declared dead after about ``idle + interval * count``
    seconds without an answer.

    Parameters
    ----------
    idle : `float`
        Silence before the first probe [s]. Rounded up to whole seconds (the
        kernel's unit), at least 1.
    interval : `float`
        Time between probes [s]; whole seconds, at least 1.
    count : `int`
        Unanswered probes that end the connection (≥ 1).

    Raises
    ------
    ValueError
        If a value is not finite or out of range.
    """

    idle: float = 2.0
    interval: float = 1.0
    count: int = 3

    def __post_init__(self) -> None:
        for name in ("idle", "interval"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(
                    f"keepalive {name} must be a positive number of seconds, got {value!r}"
                )
        if not (isinstance(self.count, int) and self.count >= 1):
            raise ValueError(f"keepalive count must be an integer >= 1, got {self.count!r}")

    @property
    def detection_time(self) -> float:
        """Upper bound on the time to declare a silent peer dead [s]."""
        return _whole_seconds(self.idle) + _whole_seconds(self.interval) * self.count


DEFAULT_TCP_KEEPALIVE = TcpKeepalive()
"""Default keepalive: a silent peer is declared dead within 5 s."""

DEFAULT_TCP_USER_TIMEOUT = 5.0
"""Default bound [s] on unacknowledged written data before the connection fails."""


def coerce_keepalive(value: TcpKeepalive | float | None) -> TcpKeepalive | None:
    """Normalise a ``tcp_keepalive`` argument.

    Parameters
    ----------
    value : `TcpKeepalive`, `float` or `None`
        A `TcpKeepalive`; a number, the idle time [s] with probes every
        ``idle / 3`` s (at least 1 s) and 3 probes (the meaning older
        releases gave a number); or `None` to turn keepalive off.

    Raises
    ------
    ValueError
        If a number is not positive and finite.
    TypeError
        If ``value`` has another type.
    """
    if value is None or isinstance(value, TcpKeepalive):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"tcp_keepalive must be a TcpKeepalive, a number or None, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"tcp_keepalive must be a positive number of seconds, got {value!r}")
    return TcpKeepalive(idle=value, interval=max(1.0, value / 3), count=3)


def validate_user_timeout(value: float | None) -> float | None:
    """Check a ``tcp_user_timeout`` argument [s]; `None` keeps the kernel's default.

    Raises
    ------
    ValueError
        If ``value`` is not a positive finite number.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"tcp_user_timeout must be a number of seconds or None, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"tcp_user_timeout must be a positive number of seconds, got {value!r}")
    return float(value)


def apply_socket_options(
    sock: socket.socket | None,
    *,
    keepalive: TcpKeepalive | None = DEFAULT_TCP_KEEPALIVE,
    user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
) -> None:
    """Set ``TCP_NODELAY``, keepalive and ``TCP_USER_TIMEOUT`` on a TCP socket.

    Sockets of other families (Unix sockets) and `None` are left alone, as are
    options this system does not have (the Linux names are used where present).

    Parameters
    ----------
    sock : `socket.socket` or `None`
        The connected socket (e.g. ``transport.get_extra_info("socket")``).
    keepalive : `TcpKeepalive` or `None`
        Keepalive timings; `None` leaves keepalive off.
    user_timeout : `float` or `None`
        ``TCP_USER_TIMEOUT`` [s]; `None` keeps the kernel's default.
    """
    if sock is None or sock.family not in _TCP_FAMILIES:
        return
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if keepalive is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        _set_tcp_option(sock, "TCP_KEEPIDLE", _whole_seconds(keepalive.idle))
        _set_tcp_option(sock, "TCP_KEEPINTVL", _whole_seconds(keepalive.interval))
        _set_tcp_option(sock, "TCP_KEEPCNT", keepalive.count)
    if user_timeout is not None:
        _set_tcp_option(sock, "TCP_USER_TIMEOUT", max(1, round(user_timeout * 1000)))


def is_self_connection(sock: socket.socket) -> bool:
    """True if ``sock`` is a TCP connection whose local and peer addresses are equal."""
    if sock.family not in _TCP_FAMILIES:
        return False
    try:
        local: Any = sock.getsockname()
        peer: Any = sock.getpeername()
    except OSError:
        return False
    return bool(local[:2] == peer[:2])


def check_not_self_connected(sock: socket.socket | None) -> None:
    """Raise `SelfConnectionError` if ``sock`` is connected to itself.

    The caller closes the connection and retries as after any failed attempt.

    Raises
    ------
    SelfConnectionError
        If the local and peer addresses of ``sock`` are the same.
    """
    if sock is not None and is_self_connection(sock):
        host, port = sock.getsockname()[:2]
        raise SelfConnectionError(
            f"connection to {host}:{port} reached itself (nobody listens on that port, "
            "which lies in the kernel's ephemeral range)"
        )


def reset_on_close(sock: socket.socket | None) -> None:
    """Make closing ``sock`` reset the connection (``SO_LINGER`` 0).

    Closing then sends a TCP RST and discards what the kernel still holds,
    instead of delivering it; the socket leaves no ``TIME_WAIT`` behind. For
    `None` or a closed socket this does nothing.
    """
    if sock is None or sock.fileno() < 0:
        return
    with contextlib.suppress(OSError):  # already reset by the peer
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def refuse_self_connection(sock: socket.socket | None) -> None:
    """Raise `SelfConnectionError` if ``sock`` reached itself, after making its close a reset.

    As `check_not_self_connected`, and, for a self-connection, `reset_on_close`
    first: closed with a FIN, the socket would hold its port in ``TIME_WAIT``,
    and that port is the one a server is about to bind, or the next attempt to
    use. The caller closes ``sock`` (or aborts its transport) and retries as
    after a refusal.

    Raises
    ------
    SelfConnectionError
        If the local and peer addresses of ``sock`` are the same.
    """
    try:
        check_not_self_connected(sock)
    except SelfConnectionError:
        reset_on_close(sock)
        raise


def connect_checked(
    address: tuple[str, int],
    timeout: float | None,
    *,
    keepalive: TcpKeepalive | None = DEFAULT_TCP_KEEPALIVE,
    user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
    source_address: tuple[str, int] | None = None,
) -> socket.socket:
    """Connect a blocking TCP socket to ``address``; refuse a self-connection.

    The checked connect of blocking code: `socket.create_connection`, then
    `refuse_self_connection`, then `apply_socket_options`.

    Parameters
    ----------
    address : `tuple` [`str`, `int`]
        Host and port.
    timeout : `float` or `None`
        Timeout of the connect and of the socket's later operations [s].
    keepalive, user_timeout
        As `apply_socket_options`.
    source_address : `tuple` [`str`, `int`] or `None`
        Local address to bind before connecting (as `socket.create_connection`).

    Returns
    -------
    sock : `socket.socket`
        The connected socket; the caller closes it.

    Raises
    ------
    SelfConnectionError
        If the connection reached its own socket (nobody listens on that port);
        the socket has been reset and closed. Retry as after a refusal.
    OSError
        If the connection cannot be made (``TimeoutError`` after ``timeout``).
    """
    sock = socket.create_connection(address, timeout=timeout, source_address=source_address)
    try:
        refuse_self_connection(sock)
        apply_socket_options(sock, keepalive=keepalive, user_timeout=user_timeout)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_checked_connection(
    host: str,
    port: int,
    *,
    limit: int = 2**16,
    keepalive: TcpKeepalive | None = DEFAULT_TCP_KEEPALIVE,
    user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
    local_addr: tuple[str, int] | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open asyncio streams to ``host:port``; refuse a self-connection.

    The checked connect of asyncio code: `asyncio.open_connection`, then
    `refuse_self_connection`, then `apply_socket_options`. Cancel-safe: a
    cancelled call leaves no connection open.

    Parameters
    ----------
    host : `str`
        Host to connect to.
    port : `int`
        TCP port.
    limit : `int`
        Buffer limit of the reader [bytes].
    keepalive, user_timeout
        As `apply_socket_options`.
    local_addr : `tuple` [`str`, `int`] or `None`
        Local address to bind before connecting (as `asyncio.open_connection`).

    Raises
    ------
    SelfConnectionError
        If the connection reached its own socket; it has been reset and
        closed (its port is free when this is raised). Retry as after a
        refusal.
    OSError
        If the connection cannot be made.
    """
    reader, writer = await asyncio.open_connection(host, port, limit=limit, local_addr=local_addr)
    sock = writer.get_extra_info("socket")
    try:
        refuse_self_connection(sock)
        apply_socket_options(sock, keepalive=keepalive, user_timeout=user_timeout)
    except OSError:
        reset_on_close(sock)
        writer.transport.abort()
        # Return once the socket is closed, so that its port (for a
        # self-connection: the port a server is about to bind) is free.
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        raise
    return reader, writer


class SelfConnectionLog:
    """The one log policy for refused self-connections.

    The first refusal is logged as a warning (it tells the operator that
    nobody listens on a port of the ephemeral range); later ones at debug
    level, throttled by `mountcomm.throttle.should_log_occurrence` (the first
    `FIRST` of them, then every `EVERY`-th), each line carrying the count.

    Parameters
    ----------
    log : structlog or stdlib-adapted logger
        Where to log (needs ``warning`` and ``debug``).
    event : `str`
        The event name of the lines (e.g. ``"registry_self_connection"``).

    Attributes
    ----------
    count : `int`
        Self-connections refused so far.
    """

    FIRST = 10
    """Refusals all logged (the first at warning level, the others at debug)."""

    EVERY = 50
    """Past `FIRST`, one refusal in this many is logged (at debug level)."""

    __slots__ = ("count", "event", "log")

    def __init__(self, log: Any, event: str) -> None:
        self.log = log
        self.event = event
        self.count = 0

    def __call__(self, error: SelfConnectionError, **fields: Any) -> None:
        """Count one refused self-connection and log it if the policy says so."""
        self.count += 1
        if self.count == 1:
            self.log.warning(self.event, error=str(error), retrying=True, **fields)
        elif should_log_occurrence(self.count, self.FIRST, self.EVERY):
            self.log.debug(self.event, error=str(error), count=self.count, **fields)


def _whole_seconds(value: float) -> int:
    return max(1, math.ceil(value))


def _set_tcp_option(sock: socket.socket, name: str, value: int) -> None:
    option = getattr(socket, name, None)
    if option is not None:
        sock.setsockopt(socket.IPPROTO_TCP, option, value)


def dual_stack_socket(port: int) -> socket.socket | None:
    """A TCP socket bound to ``port`` on every IPv6 and IPv4 address, or `None`.

    One socket for both families, so that ``port=0`` gives one port for both.
    `None` if the host has no IPv6 or the address cannot be bound (the caller
    then binds its own way). The socket has ``SO_REUSEADDR`` and is not
    listening yet.
    """
    if not socket.has_ipv6:
        return None
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", port))
    except OSError:
        sock.close()
        return None
    return sock
