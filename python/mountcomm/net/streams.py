"""Stream connections that report their own loss, without polling.

asyncio's stream helpers give no event when the peer hangs up until somebody
reads. The classes here give each connection a `Link` whose ``lost`` future
completes the moment the peer sends EOF or the transport fails, so the owner can
update its state and call its callback at once, whoever reads the data.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_STREAM_LIMIT",
    "Link",
    "keepalive_options",
    "open_link",
    "set_keepalive",
    "start_link_server",
]

import asyncio
import socket
from collections.abc import Callable
from typing import Any

DEFAULT_STREAM_LIMIT = 2**16


class Link:
    """One TCP connection: its streams and a future that completes when it is lost.

    Attributes
    ----------
    reader : `asyncio.StreamReader`
        Incoming data.
    writer : `asyncio.StreamWriter` or `None`
        Outgoing data (`None` until the connection is made).
    lost : `asyncio.Future` [`BaseException` or `None`]
        Done when the peer sent EOF (result `None`) or the connection failed
        (result: the exception). Never raises; never replaced.
    """

    __slots__ = ("lost", "on_lost", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.writer: asyncio.StreamWriter | None = None
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.on_lost: Callable[[Link], None] | None = None

    @property
    def is_open(self) -> bool:
        """True while the peer is connected and nobody closed the link."""
        return not self.lost.done() and self.writer is not None and not self.writer.is_closing()

    def mark_lost(self, exc: BaseException | None) -> None:
        """Record the loss (first call wins) and notify ``on_lost`` once."""
        if self.lost.done():
            return
        self.lost.set_result(exc)
        if self.on_lost is not None:
            self.on_lost(self)

    def close(self) -> None:
        """Close the transport. Idempotent; does not call ``on_lost``."""
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()

    async def wait_closed(self, timeout: float = 1.0) -> None:
        """Close and wait (bounded) until the socket is really closed.

        Errors from the dying connection are ignored: it is going away.
        """
        self.close()
        if self.writer is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self.writer.wait_closed()
        except (OSError, TimeoutError):
            pass


class _LinkProtocol(asyncio.StreamReaderProtocol):
    """StreamReaderProtocol that reports EOF and loss to its `Link`."""

    def __init__(self, link: Link, connected_cb: Any = None) -> None:
        super().__init__(link.reader, connected_cb)
        self._link = link

    def eof_received(self) -> bool:
        keep_open = bool(super().eof_received())
        self._link.mark_lost(None)
        return keep_open

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._link.mark_lost(exc)


async def open_link(
    host: str, port: int, *, limit: int = DEFAULT_STREAM_LIMIT, **kwargs: Any
) -> Link:
    """Connect to ``host:port`` and return the new `Link`.

    Raises
    ------
    OSError
        If the connection cannot be made (refused, unreachable, unresolvable).
    """
    loop = asyncio.get_running_loop()
    link = Link(asyncio.StreamReader(limit=limit, loop=loop))
    protocol = _LinkProtocol(link)
    transport, _ = await loop.create_connection(lambda: protocol, host, port, **kwargs)
    link.writer = asyncio.StreamWriter(transport, protocol, link.reader, loop)
    _set_nodelay(transport)
    return link


def keepalive_options(idle: float) -> dict[str, int]:
    """TCP keepalive timings for a peer that must be declared dead after about twice ``idle``.

    Pure policy: probes start after ``idle`` seconds of silence, are repeated
    every ``idle / 3`` seconds, and 3 unanswered probes end the connection.

    Raises
    ------
    ValueError
        If ``idle`` is not positive.
    """
    if not idle > 0:
        raise ValueError(f"tcp_keepalive must be a positive number of seconds, got {idle!r}")
    return {"idle": max(1, round(idle)), "interval": max(1, round(idle / 3)), "count": 3}


def set_keepalive(link: Link, idle: float) -> None:
    """Turn on TCP keepalive on ``link``'s socket (see `keepalive_options`).

    A peer that vanishes without closing (power cut, cable pulled) is then
    reported as lost instead of leaving the connection open forever.
    """
    if link.writer is None:
        return
    sock = link.writer.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    options = keepalive_options(idle)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", options["idle"]),
        ("TCP_KEEPINTVL", options["interval"]),
        ("TCP_KEEPCNT", options["count"]),
    ):
        if hasattr(socket, name):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


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
) -> asyncio.Server:
    """Listen on ``host:port``; call ``on_accept(link)`` for each new connection.

    ``host=None`` listens on all interfaces (one dual-stack socket where IPv6
    exists, so that ``port=0`` yields a single port).

    Raises
    ------
    OSError
        If the address cannot be bound.
    """
    loop = asyncio.get_running_loop()

    def factory() -> _LinkProtocol:
        link = Link(asyncio.StreamReader(limit=limit, loop=loop))

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            link.writer = writer
            _set_nodelay(writer.transport)
            on_accept(link)

        return _LinkProtocol(link, connected)

    sock = _listen_socket(host, port)
    if sock is not None:
        return await loop.create_server(factory, sock=sock)
    return await loop.create_server(factory, host, port, reuse_address=True)
