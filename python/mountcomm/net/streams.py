"""Stream connections that report their own loss, without polling.

asyncio's stream helpers give no event when the peer hangs up until somebody
reads. The classes here give each connection a `Link` whose ``lost`` future
completes the moment the peer sends EOF or the transport fails, so the owner can
update its state and call its callback at once, whoever reads the data.

Loss is a *state* of the link, not only an event: an owner takes a link with
`Link.adopt`, which attaches its loss handler only if the link is still open, in
the same step. A connection that died before anyone adopted it (a peer that
accepts and closes at once) can therefore never be mistaken for a live one.

A link hands its incoming bytes to its `LinkReader` (an `asyncio.StreamReader`,
for code that uses the streams directly) or, once an owner sets `Link.sink`,
straight to that function, chunk by chunk: `Communicator` decodes every frame
of a chunk at once there, with no stream buffer and no wakeup per message.

Every connection made (`open_link`) or accepted (`mountcomm.net.link_server`) gets
the options of `mountcomm.sockets` (``TCP_NODELAY``, keepalive,
``TCP_USER_TIMEOUT``; defaults `DEFAULT_TCP_KEEPALIVE` and
`DEFAULT_TCP_USER_TIMEOUT`), and `open_link` refuses a self-connection.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_STREAM_LIMIT",
    "Link",
    "LinkProtocol",
    "LinkReader",
    "open_link",
]

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from typing import Any, cast

from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
    TcpKeepalive,
    apply_socket_options,
    check_not_self_connected,
    reset_on_close,
)
from .errors import PeerClosedError

DEFAULT_STREAM_LIMIT = 2**16

ABORT_TIMEOUT = 1.0
"""Bound on waiting for an aborted connection's socket to close [s]."""


class LinkReader(asyncio.StreamReader):
    """The `asyncio.StreamReader` of a `Link`, which can hand its buffer over."""

    def take_buffer(self) -> bytes:
        """Remove and return the bytes buffered and not yet read (resuming reading)."""
        # StreamReader's own buffer and resume logic, which typeshed does not declare.
        buffer: bytearray = self._buffer  # type: ignore[attr-defined]
        data = bytes(buffer)
        buffer.clear()
        self._maybe_resume_transport()  # type: ignore[attr-defined]
        return data


_OPEN = object()
"""`Link`'s input end while the input is open."""


class Link:
    """One TCP connection: its transport, its streams, and how it ended.

    The asyncio streams are made on first use (most links are read through a
    ``sink`` and written through the transport), with the semantics of
    `asyncio.open_connection`'s: the reader gets what arrived (and EOF, or the
    transport's error) even if it is made late, and the writer drains.

    Parameters
    ----------
    limit : `int`, optional
        Buffer limit of the stream reader [bytes].

    Attributes
    ----------
    transport : `asyncio.Transport` or `None`
        The connection's transport (`None` until the connection is made).
    on_lost : callable or `None`
        ``on_lost(link)``, called once when the link is lost; set it with
        `adopt` (which refuses a link that is already lost).
    sink : callable or `None`
        ``sink(data)``: when set, every chunk of incoming bytes goes to it
        instead of `reader` (EOF still reaches `reader`). Set it with
        `take_input`, clear it with `release_input`.
    write_paused : `bool`
        True while the transport asks writers to wait (its buffer is above
        its high-water mark): only then is a ``drain`` needed.
    """

    __slots__ = (
        "_cause",
        "_ended",
        "_input_end",
        "_input_paused",
        "_limit",
        "_loop",
        "_lost",
        "_protocol",
        "_reader",
        "_writer",
        "on_lost",
        "sink",
        "transport",
        "write_paused",
    )

    def __init__(self, limit: int = DEFAULT_STREAM_LIMIT) -> None:
        self._loop = asyncio.get_running_loop()
        self._limit = limit
        self.transport: asyncio.Transport | None = None
        self._protocol: LinkProtocol | None = None
        self._reader: LinkReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ended = False
        self._cause: BaseException | None = None
        self._input_end: object = _OPEN  # None: EOF; an exception: the transport's error
        self._lost: asyncio.Future[BaseException | None] | None = None  # made when asked
        self.on_lost: Callable[[Link], None] | None = None
        self.sink: Callable[[bytes], None] | None = None
        self.write_paused = False
        self._input_paused = False

    # --- the streams, made on first use ---------------------------------------------

    @property
    def reader(self) -> LinkReader:
        """The incoming data as an `asyncio.StreamReader` (unless a ``sink`` takes it)."""
        reader = self._reader
        if reader is None:
            reader = self._reader = LinkReader(limit=self._limit, loop=self._loop)
            if self.transport is not None:
                reader.set_transport(self.transport)
            self._end_reader()
        return reader

    @property
    def writer(self) -> asyncio.StreamWriter | None:
        """The outgoing data as an `asyncio.StreamWriter` (`None` until connected)."""
        writer = self._writer
        if writer is None and self.transport is not None and self._protocol is not None:
            writer = asyncio.StreamWriter(self.transport, self._protocol, self._reader, self._loop)
            self._writer = writer
        return writer

    def _end_reader(self) -> None:
        end = self._input_end
        reader = self._reader
        if reader is None or end is _OPEN:
            return
        if end is None:
            reader.feed_eof()
        else:
            reader.set_exception(cast(Exception, end))

    def connection_made(self, transport: asyncio.Transport, protocol: LinkProtocol) -> None:
        """Called by the protocol: the connection is up."""
        self.transport = transport
        self._protocol = protocol
        if self._reader is not None:
            self._reader.set_transport(transport)

    def input_ended(self, exc: BaseException | None) -> None:
        """Called by the protocol: EOF (``None``) or the transport's error."""
        if self._input_end is _OPEN:
            self._input_end = exc
            self._end_reader()

    # --- state ---------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """True while the peer is connected and nobody closed the link."""
        transport = self.transport
        return not self._ended and transport is not None and not transport.is_closing()

    @property
    def ended(self) -> bool:
        """True once the connection has ended (see `lost`)."""
        return self._ended

    @property
    def cause(self) -> BaseException | None:
        """The first cause of the end (see `lost`); `None` while open or closed here."""
        return self._cause

    @property
    def lost(self) -> asyncio.Future[BaseException | None]:
        """A future done when the connection ended; its result is the first cause.

        The cause is `PeerClosedError` when the peer sent EOF, the transport's
        exception when it failed, the reason given to `abort`, or `None` when
        this side closed it. Made on first use, then never replaced; never
        raises.
        """
        lost = self._lost
        if lost is None:
            lost = self._lost = self._loop.create_future()
            if self._ended:
                lost.set_result(self._cause)
        return lost

    def adopt(self, on_lost: Callable[[Link], None]) -> bool:
        """Take ownership: attach ``on_lost`` if the link is still open.

        Returns
        -------
        adopted : `bool`
            True if the link is open and ``on_lost`` will be called once when
            it is lost; False if it was already lost or closed (``on_lost`` is
            not attached and will never be called: treat it as a failed
            connection attempt and close it).
        """
        if not self.is_open:
            return False
        self.on_lost = on_lost
        return True

    def mark_lost(self, exc: BaseException | None) -> None:
        """Record the loss (first call wins) and notify ``on_lost`` once."""
        if self._ended:
            return
        self._ended = True
        self._cause = exc
        if self._lost is not None:
            self._lost.set_result(exc)
        if self.on_lost is not None:
            self.on_lost(self)

    # --- input flow -----------------------------------------------------------------

    def take_input(self, sink: Callable[[bytes], None]) -> None:
        """Send incoming bytes to ``sink`` from now on, starting with those buffered."""
        self.sink = sink
        if self._reader is not None:
            data = self._reader.take_buffer()
            if data:
                sink(data)

    def release_input(self) -> None:
        """Send incoming bytes to `reader` again (for code that uses the stream)."""
        self.sink = None
        self.resume_input()

    def pause_input(self) -> None:
        """Stop reading from the socket (the sink's owner has enough). Idempotent."""
        transport = self.transport
        if not self._input_paused and transport is not None and not transport.is_closing():
            self._input_paused = True
            transport.pause_reading()

    def resume_input(self) -> None:
        """Read from the socket again after `pause_input`. Idempotent."""
        if self._input_paused:
            self._input_paused = False
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    # --- ending -----------------------------------------------------------------------

    def close(self) -> None:
        """Close the transport (unsent data is still sent first). Idempotent.

        ``on_lost`` is called when the transport reports its end, unless the
        owner detached it (``link.on_lost = None``) first.
        """
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self, cause: BaseException | None = None) -> None:
        """Reset the connection (TCP RST), discarding unsent data. Idempotent.

        Unlike `close`, nothing the kernel still holds is delivered to the
        peer. ``cause`` (if given, and if the link is not already lost) is
        recorded as the cause of the end and ``on_lost`` is called at once;
        otherwise ``on_lost`` is called as after `close`.
        """
        transport = self.transport
        if transport is not None:
            reset_on_close(transport.get_extra_info("socket"))
            transport.abort()
            if cause is not None:
                self.mark_lost(cause)

    async def wait_closed(self, timeout: float = 1.0) -> None:
        """Close and wait (bounded) until the socket is really closed.

        Errors from the dying connection are ignored: it is going away.
        """
        self.close()
        protocol = self._protocol
        if protocol is None or protocol.gone:
            return
        transport = self.transport
        if transport is not None and not transport.get_write_buffer_size():
            # Nothing left to send: the transport has called connection_lost
            # or scheduled it (for the next loop iteration), so no bound is needed.
            with contextlib.suppress(OSError):
                await protocol.wait_closed()
            return
        try:
            async with asyncio.timeout(timeout):
                await protocol.wait_closed()
        except (OSError, TimeoutError):
            pass


RECEIVE_BUFFER_BYTES = 16 * 1024
"""Size of the buffer every link of a thread receives into: the most one read hands on [bytes].

Everything one read brings is decoded at once. asyncio's own reads take up to
256 KiB; at most 16 KiB bounds the objects a burst of small frames makes at a
time, and so the memory a process keeps after a flood of them (the chaos
suite's fuzz: RSS growth 18 MiB with 256 KiB, 5 MiB with 16 KiB), while a
read still carries hundreds of typical frames.
"""


class _ReceiveBuffer(threading.local):
    """The one receive buffer of each thread, shared by its links (see `LinkProtocol`)."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(RECEIVE_BUFFER_BYTES))


_RECEIVE = _ReceiveBuffer()


class LinkProtocol(asyncio.BufferedProtocol):
    """The protocol of a `Link`: hands bytes, EOF and loss to it, and lets writers drain.

    What `asyncio.StreamWriter` needs of a protocol (``_drain_helper``,
    ``_get_close_waiter``) is provided, so that `Link.writer` behaves as the
    writer of `asyncio.open_connection`.

    The socket is read into one buffer shared by every link of the thread
    (`RECEIVE_BUFFER_BYTES`), and each read's bytes are copied out at once:
    a plain protocol gets a fresh 256 KiB object per read from asyncio, which
    the allocator maps and unmaps every time (about 15 us per read here), and
    decodes up to 256 KiB of frames at once.
    """

    __slots__ = ("_closed", "_drain_waiters", "_gone", "_link", "_on_connected", "_view")

    def __init__(self, link: Link, on_connected: Callable[[Link], None] | None = None) -> None:
        self._link = link
        self._on_connected = on_connected
        self._view = _RECEIVE.view  # this thread's: the protocol runs on its loop's thread
        self._closed: asyncio.Future[None] | None = None  # made by a waiter
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        self._gone: tuple[BaseException | None] | None = None  # (exc,) once lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._link.connection_made(cast(asyncio.Transport, transport), self)
        on_connected, self._on_connected = self._on_connected, None
        if on_connected is not None:
            on_connected(self._link)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        link = self._link
        sink = link.sink
        if sink is None:
            link.reader.feed_data(data)
        else:
            sink(data)

    def eof_received(self) -> bool:
        link = self._link
        link.input_ended(None)
        link.mark_lost(PeerClosedError("the peer closed the connection"))
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone = (exc,)
        link = self._link
        link.input_ended(exc)
        closed = self._closed
        if closed is not None and not closed.done():
            _settle(closed, exc)
        self._wake_drainers(exc)
        link.mark_lost(exc)

    @property
    def gone(self) -> bool:
        """True once the transport has called `connection_lost`."""
        return self._gone is not None

    def pause_writing(self) -> None:
        self._link.write_paused = True

    def resume_writing(self) -> None:
        self._link.write_paused = False
        self._wake_drainers(None)

    def _wake_drainers(self, exc: BaseException | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                _settle(waiter, exc)

    async def _drain_helper(self) -> None:
        """Wait while the transport is paused (`asyncio.StreamWriter.drain`)."""
        if self._gone is not None:
            raise ConnectionResetError("Connection lost")
        if not self._link.write_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        await waiter

    def _get_close_waiter(self, stream: object) -> asyncio.Future[None]:
        """The future `asyncio.StreamWriter.wait_closed` awaits."""
        closed = self._closed
        if closed is None:
            closed = self._closed = asyncio.get_running_loop().create_future()
            if self._gone is not None:
                _settle(closed, self._gone[0])
        return closed

    async def wait_closed(self) -> None:
        """Wait until the connection is lost (raises its error, if any)."""
        await self._get_close_waiter(None)


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    """Resolve ``future``, or fail it with ``exc`` marked as retrieved (maybe nobody waits)."""
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
        future.exception()


async def open_link(
    host: str,
    port: int,
    *,
    limit: int = DEFAULT_STREAM_LIMIT,
    keepalive: TcpKeepalive | None = DEFAULT_TCP_KEEPALIVE,
    user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
    **kwargs: Any,
) -> Link:
    """Connect to ``host:port`` and return the new `Link`.

    The socket gets ``TCP_NODELAY``, ``keepalive`` and ``user_timeout`` (see
    `mountcomm.sockets.apply_socket_options`). Other keyword arguments go to
    `asyncio.loop.create_connection` (e.g. ``local_addr``).

    Raises
    ------
    SelfConnectionError
        If the connection reached its own socket (nobody listens on ``port``,
        which lies in the ephemeral range). The connection has been reset: a
        caller that retries treats it as a refused attempt (it is an `OSError`).
    OSError
        If the connection cannot be made (refused, unreachable, unresolvable).

    Notes
    -----
    The returned link may already be lost (the peer accepted and closed at
    once): take it with `Link.adopt`, which says so.
    """
    loop = asyncio.get_running_loop()
    link = Link(limit)
    transport, _ = await loop.create_connection(
        functools.partial(LinkProtocol, link), host, port, **kwargs
    )
    sock = transport.get_extra_info("socket")
    try:
        check_not_self_connected(sock)
        apply_socket_options(sock, keepalive=keepalive, user_timeout=user_timeout)
    except Exception:
        link.abort()
        # Return only once the socket is closed, so that its port (for a
        # self-connection: the very port a server is about to bind) is free.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ABORT_TIMEOUT):
                await asyncio.shield(link.lost)
        raise
    return link
