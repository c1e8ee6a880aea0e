"""Ports for tests that must name a port before something listens on it.

A test binds port 0 wherever it can. Some cannot: a process started with the
PROTOCOL.md convention (reply server on command port + 1), a registry pool, a port
that must refuse connections. A port the OS handed out for port 0 and that was then
released can be handed out again at once to a parallel test that binds port 0, so
these ports are drawn at random from *below* the kernel's ephemeral range, which the
OS never hands out for port 0, and checked free (TCP and UDP) when drawn.
"""

from __future__ import annotations

import random
import socket

from mountcomm.registry.probe import port_is_free

__all__ = ["HOST", "unused_port", "unused_port_pair", "unused_ports"]

HOST = "127.0.0.1"

_LOWEST = 10_000
"""The lowest port drawn (above the well-known and most registered service ports)."""

_DRAWS = 200


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


_HIGHEST = _ephemeral_low() - 2
"""The highest port drawn (leaves room for P + 1 below the ephemeral range)."""


def unused_port() -> int:
    """A port nobody listens on now and that no port-0 bind will be given."""
    return unused_ports(1)[0]


def unused_ports(count: int) -> list[int]:
    """``count`` distinct ports as `unused_port` draws them."""
    ports: list[int] = []
    for _ in range(_DRAWS):
        port = random.randint(_LOWEST, _HIGHEST)
        if port not in ports and port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"no {count} free ports found in {_LOWEST}-{_HIGHEST}")


def unused_port_pair() -> tuple[socket.socket, int]:
    """A socket bound (not listening) on P + 1 and the free port P, both unused.

    The conventions of PROTOCOL.md put a console's reply server on its command port
    + 1: the caller listens on the socket, or closes it just before a server that
    needs P + 1 binds it.
    """
    for _ in range(_DRAWS):
        port = unused_port()
        reply = socket.socket()
        try:
            reply.bind((HOST, port + 1))
        except OSError:
            reply.close()
            continue
        return reply, port
    raise RuntimeError("no free port pair found")
