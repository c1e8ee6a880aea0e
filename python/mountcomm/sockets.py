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
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_TCP_KEEPALIVE",
    "DEFAULT_TCP_USER_TIMEOUT",
    "TcpKeepalive",
    "apply_socket_options",
    "check_not_self_connected",
    "coerce_keepalive",
    "dual_stack_socket",
    "is_self_connection",
    "reset_on_close",
    "validate_user_timeout",
]

import contextlib
import math
import socket
import struct
from dataclasses import dataclass
from typing import Any

from .exceptions import SelfConnectionError

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
