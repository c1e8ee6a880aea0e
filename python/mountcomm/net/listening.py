"""Listening for links: a server whose every accepted connection is a `Link`."""

from __future__ import annotations

__all__ = ["start_link_server", "stop_link_server"]

import asyncio
import socket
from collections.abc import Callable

from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
    TcpKeepalive,
    apply_socket_options,
)
from .streams import DEFAULT_STREAM_LIMIT, Link, LinkProtocol


def _listen_socket(host: str | None, port: int) -> socket.socket | None:
    """For ``host=None``: one dual-stack socket, so that port 0 gives one port."""
    if host is not None or not socket.has_ipv6:
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


async def start_link_server(
    on_accept: Callable[[Link], None],
    host: str | None,
    port: int,
    *,
    limit: int = DEFAULT_STREAM_LIMIT,
    keepalive: TcpKeepalive | None = DEFAULT_TCP_KEEPALIVE,
    user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
) -> asyncio.Server:
    """Listen on ``host:port``; call ``on_accept(link)`` for each new connection.

    ``host=None`` listens on all interfaces (one dual-stack socket where IPv6
    exists, so that ``port=0`` yields a single port). Each accepted socket gets
    ``TCP_NODELAY``, ``keepalive`` and ``user_timeout`` before ``on_accept``
    sees it (see `mountcomm.sockets.apply_socket_options`). ``on_accept`` is
    called before any data or EOF of the connection can be delivered.

    Raises
    ------
    OSError
        If the address cannot be bound.
    """
    loop = asyncio.get_running_loop()

    def connected(link: Link) -> None:
        transport = link.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            apply_socket_options(sock, keepalive=keepalive, user_timeout=user_timeout)
        on_accept(link)

    def factory() -> LinkProtocol:
        return LinkProtocol(Link(limit), connected)

    sock = _listen_socket(host, port)
    if sock is not None:
        return await loop.create_server(factory, sock=sock)
    return await loop.create_server(factory, host, port, reuse_address=True)


async def stop_link_server(server: asyncio.Server) -> None:
    """Stop accepting on ``server`` and close it, leaving no half-accepted connection.

    asyncio (3.11) can accept a connection just before `asyncio.Server.close`
    and then fail to build its transport, leaking the socket. Here the
    listening sockets stop being watched first; connections already accepted
    get one loop iteration to reach ``on_accept`` (whose owner refuses them
    when closing); then the server is closed. Idempotent.
    """
    loop = asyncio.get_running_loop()
    sockets = server.sockets
    if not sockets:
        server.close()
        return
    for sock in sockets:
        loop.remove_reader(sock.fileno())
    for _ in range(2):  # accept task step, then its connection_made
        await asyncio.sleep(0)
    server.close()
