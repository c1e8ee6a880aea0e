"""Listening for links: `start_link_server` and `stop_link_server`.

Each accepted connection becomes a `Link` (see `mountcomm.net.streams`) with
the socket options of `mountcomm.sockets`, handed to the owner's ``on_accept``
before any of its data or EOF can be delivered.
"""

from __future__ import annotations

__all__ = ["start_link_server", "stop_link_server"]

import asyncio
from collections.abc import Callable

from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
    TcpKeepalive,
    apply_socket_options,
    dual_stack_socket,
)
from .streams import DEFAULT_STREAM_LIMIT, Link, LinkProtocol


class _AcceptedLinks:
    """A link server's protocol factory (slots, not closures: thousands of servers)."""

    __slots__ = ("keepalive", "limit", "on_accept", "user_timeout")

    def __init__(
        self,
        on_accept: Callable[[Link], None],
        limit: int,
        keepalive: TcpKeepalive | None,
        user_timeout: float | None,
    ) -> None:
        self.on_accept, self.limit = on_accept, limit
        self.keepalive, self.user_timeout = keepalive, user_timeout

    def __call__(self) -> LinkProtocol:
        return LinkProtocol(Link(self.limit), self.connected)

    def connected(self, link: Link) -> None:
        """Set an accepted link's socket options, then hand it to ``on_accept``."""
        if link.transport is not None:
            sock = link.transport.get_extra_info("socket")
            apply_socket_options(sock, keepalive=self.keepalive, user_timeout=self.user_timeout)
        self.on_accept(link)


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
    factory = _AcceptedLinks(on_accept, limit, keepalive, user_timeout)
    # host=None: one dual-stack socket, so that port 0 gives one port.
    sock = dual_stack_socket(port) if host is None else None
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
