"""Can a port be bound right now? (Blocking but instant socket calls.)

The registry hands out a port only if a TCP and a UDP socket can both be bound
to it on every interface, as portpicker's port server does. The probe sockets
use ``SO_REUSEADDR``, so a port whose last connection lingers in TIME_WAIT
counts as free (a server binding it with ``SO_REUSEADDR``, as asyncio's servers
do, will succeed).
"""

from __future__ import annotations

__all__ = ["pick_ephemeral_port", "port_is_free"]

import errno
import socket

# bind() errors that mean "this address family is not usable here", not "busy"
_UNUSABLE = {errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}
_KINDS = ((socket.SOCK_STREAM, socket.IPPROTO_TCP), (socket.SOCK_DGRAM, socket.IPPROTO_UDP))


def _can_bind(family: socket.AddressFamily, kind: int, proto: int, port: int) -> bool:
    try:
        sock = socket.socket(family, kind, proto)
    except OSError:  # family not supported here: nothing can be in its way
        return True
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind(("::" if family == socket.AF_INET6 else "", port))
        except OSError as e:
            return e.errno in _UNUSABLE
    return True


def port_is_free(port: int) -> bool:
    """Return True if ``port`` can be bound for TCP and UDP, IPv4 and IPv6."""
    families = [socket.AF_INET]
    if socket.has_ipv6:
        families.append(socket.AF_INET6)
    return all(
        _can_bind(family, kind, proto, port) for family in families for kind, proto in _KINDS
    )


def pick_ephemeral_port() -> int:
    """Return a port the OS just chose for a TCP socket on 127.0.0.1 (and free for UDP).

    Raises
    ------
    OSError
        If the OS cannot supply one.
    """
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port_is_free(port):
            return port
    raise OSError("the OS offered no port that is free for both TCP and UDP")
