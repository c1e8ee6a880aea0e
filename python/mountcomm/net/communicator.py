"""`Communicator`: framed mount messages over a `ClientServerPair`.

The fast path: the server connection's incoming bytes go straight from the
transport to a function here (`Link.take_input`), which decodes and parses
every frame of the chunk at once into a queue (`FrameDecoder.feed_messages`);
`read` hands them out one by one without a loop wakeup per message, or
`consume` hands each to a function as it arrives.
`write` sends an answer at once, coalesces a burst into one send, and waits
for the socket only while the transport says it is full.
"""

from __future__ import annotations

__all__ = ["Communicator"]

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from ..exceptions import ConnectionClosedError, ProtocolError
from ..protocol import Message, parse_command, parse_reply
from ..protocol.framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder
from .changes import Change, ConnectionChange
from .client_server_pair import ClientServerPair
from .errors import IncompleteFrameError, PeerClosedError
from .server import ConnectCallback
from .streams import Link

READ_CHUNK_BYTES = 256 * 1024
DEFAULT_WRITE_HIGH_WATER = 64 * 1024

SEND_AT_ONCE = 2
"""Frames `write` sends at once after data arrived (or after a flush); more are coalesced."""

Consumer = Callable[[Message | ProtocolError], None]
"""``consumer(item)``: takes each message (or bad frame) as it arrives (see `consume`)."""

_Frames = list[Message | ProtocolError]
"""The messages (and bad frames) one chunk decoded to."""

PAUSE_AT_FRAMES = 8192
"""Decoded frames waiting to be read from which the socket stops being read."""
RESUME_AT_FRAMES = 1024
"""Frames waiting from which reading the socket resumes after a pause."""


class Communicator(ClientServerPair):
    """Read and write mount messages: write on the client, read on the server.

    Parameters
    ----------
    name, client_host, client_port, server_host, server_port, log, connect, connect_callback
        See `ClientServerPair`.
    read_replies : `bool`
        True for a console (reads replies, writes commands); False for the
        controller side (reads commands, writes replies).
    max_frame_bytes : `int`, keyword-only
        Longest frame accepted [bytes]; a longer one raises `FrameTooLongError`
        from `read` and is skipped. Memory stays bounded whatever the peer sends.
    write_high_water : `int`, keyword-only
        `write` waits for the socket to drain only when more than this many
        bytes are queued [bytes] (the transport's write high-water mark).
    **kwargs
        Other keyword-only options of `ClientServerPair`.

    Notes
    -----
    Reads are chunked: each chunk the socket delivers is decoded and parsed
    at once and its messages queued (at most `PAUSE_AT_FRAMES` before the socket stops
    being read), which `read` returns one at a time. Bytes that arrive on the
    client socket (which the protocol never uses for input) are discarded as
    they come, with one warning per connection.

    `server_reader` still works for code that reads the stream itself: taking
    it hands the incoming bytes to the stream until the next `read`, which
    takes them back (frames already decoded are not put back in the stream).
    """

    # The per-connection state in slots: one Communicator per peer, thousands
    # in one process (the attributes of `ClientServerPair` stay in its dict).
    __slots__ = (
        "_client_data_warned",
        "_consumer",
        "_decoder",
        "_flush_handle",
        "_in",
        "_loop",
        "_next",
        "_out",
        "_out_bytes",
        "_out_link",
        "_parse",
        "_paused",
        "_pending",
        "_sent_at_once",
        "_transport",
        "_waiter",
        "max_frame_bytes",
        "read_replies",
        "write_high_water",
    )

    def __init__(
        self,
        name: str,
        client_host: str | None,
        client_port: int,
        server_host: str | None,
        server_port: int,
        log: Any,
        read_replies: bool,
        connect: bool = True,
        connect_callback: ConnectCallback | None = None,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        write_high_water: int = DEFAULT_WRITE_HIGH_WATER,
        **kwargs: Any,
    ) -> None:
        self.read_replies = read_replies
        self.max_frame_bytes = max_frame_bytes
        self.write_high_water = write_high_water
        self._decoder = FrameDecoder(max_frame_bytes)
        # Frames decoded and not yet read: _pending[_next:] (the list a chunk
        # decoded to, replaced by the next chunk's once it has been read; an
        # empty tuple, shared, before the first chunk).
        self._pending: _Frames | tuple[()] = ()
        self._next = 0
        self._parse: Callable[[list[str]], Message] = parse_reply if read_replies else parse_command
        self._loop = asyncio.get_running_loop()
        self._in: Link | None = None  # the server connection being read
        self._waiter: asyncio.Future[None] | None = None  # the read waiting for data
        self._consumer: Consumer | None = None  # takes every message instead of read()
        self._paused = False  # reading the server connection paused: too many frames wait
        self._out_link: Link | None = None  # the client connection while it is up
        self._transport: asyncio.WriteTransport | None = None  # its transport
        self._client_data_warned = False
        # Write coalescing: a burst of frames goes out in one send (see write).
        self._out: list[bytes] | None = None  # a burst's frames, while a flush is scheduled
        self._out_bytes = 0
        self._flush_handle: asyncio.Handle | None = None
        self._sent_at_once = 0  # frames sent at once since data last arrived or a flush
        super().__init__(
            name=name,
            client_host=client_host,
            client_port=client_port,
            server_host=server_host,
            server_port=server_port,
            log=log,
            connect=connect,
            connect_callback=connect_callback,
            **kwargs,
        )

    def _connection_changed(self, change: ConnectionChange) -> None:
        kind = change.kind
        if kind is Change.SERVER_UP:
            # A new inbound stream: decode afresh; the first read takes its input.
            self._decoder = FrameDecoder(self.max_frame_bytes)
            self._pending = ()
            self._next = 0
            self._paused = False
            link = self._in = self.server.link
            if self._consumer is not None and link is not None:
                link.take_input(self._server_data)
            self._wake()  # a read waiting on the connection before reads this one
        elif kind is Change.SERVER_LOST:
            self._wake()  # a waiting read raises the end
        elif kind is Change.CLIENT_UP:
            # A new outbound stream (connect_client or a reconnection): drop what an
            # earlier connection left unsent, discard what the peer sends on it.
            self._discard_output()
            link = self.connector.link
            if link is not None and link.transport is not None:
                self._out_link = link
                self._transport = link.transport
                self._transport.set_write_buffer_limits(high=self.write_high_water)
                self._client_data_warned = False
                link.take_input(self._client_data)
        elif kind is Change.CLIENT_LOST:
            self._out_link = self._transport = None

    def _client_data(self, data: bytes) -> None:
        """The sink of the client connection: the protocol sends nothing there."""
        if not self._client_data_warned:
            self._client_data_warned = True
            self.log.warning("unexpected_client_data", nbytes=len(data))

    async def monitor_client_reader(self) -> None:
        """Wait until the client connection ends (compatibility).

        Bytes received on the client socket are discarded as they arrive (the
        protocol never sends data to a client socket), with one warning per
        connection, so memory stays bounded without this task; it only
        returns when the connection has ended.
        """
        reader = self.client_reader
        while reader is not None:
            try:
                data = await reader.read(READ_CHUNK_BYTES)
            except OSError:
                return
            if not data:
                return

    @property
    def server_reader(self) -> asyncio.StreamReader | None:
        """The server connection's reader, for code that reads the stream itself.

        Taking it hands the incoming bytes to the stream until the next `read`.
        """
        link = self.server.link
        if link is not None and link.sink is not None:
            link.release_input()
        return super().server_reader

    async def read(self) -> Message:
        """Read one message.

        Returns
        -------
        message : `Command` or `Reply`
            A reply if ``read_replies`` else a command.

        Raises
        ------
        ProtocolError
            The next frame is invalid (unknown code, bad field, not UTF-8, too
            long). The frame has been skipped: the next `read` returns the next
            good message.
        ConnectionClosedError
            The server connection is not connected, was closed by the peer or
            failed, once every message received before the end has been read;
            chained to the cause recorded when it ended. It is a
            `ConnectionResetError`; when the peer closed the connection (EOF)
            or this side closed it, it is also an `asyncio.IncompleteReadError`
            (`IncompleteFrameError`, whose ``partial`` holds the bytes of an
            unfinished frame, if any), as asyncio's ``readuntil`` reports EOF.
            Code that catches ``ConnectionResetError`` or
            ``asyncio.IncompleteReadError`` (or both) sees every hang-up.
        RuntimeError
            Another `read` is already waiting.

        Notes
        -----
        Cancel-safe: cancelling a `read` loses no data.
        """
        while True:
            pending = self._pending
            i = self._next
            if i < len(pending):
                item = pending[i]
                self._next = i + 1
                if self._paused and len(pending) - i < RESUME_AT_FRAMES:
                    self._resume()
                if isinstance(item, ProtocolError):
                    del item  # no local of this frame may hold the error (see _take_error)
                    raise self._take_error(cast(_Frames, pending), i)  # a chunk's list
                return item
            await self._fill()

    @staticmethod
    def _take_error(pending: _Frames, i: int) -> ProtocolError:
        """Remove the error at ``pending[i]`` and return it, to be raised.

        Raising attaches a traceback, which holds the frame of `read`, which
        holds ``pending``: were the error still in the list (or in a local of
        that frame), each raised error would close a reference cycle keeping
        its whole chunk of messages alive until the garbage collector runs. A
        flood of bad frames then held hundreds of MiB.
        """
        error = cast(ProtocolError, pending[i])
        pending[i] = None  # type: ignore[call-overload]
        return error

    @property
    def buffered_frames(self) -> int:
        """Frames received and decoded that `read` has not returned yet."""
        return len(self._pending) - self._next

    async def _fill(self) -> None:
        """Wait until frames are decoded, or raise the end of the server connection."""
        link = self._in
        if link is None:
            raise ConnectionClosedError(f"{self.name}: server is not connected") from self.cause
        if self._waiter is not None:
            raise RuntimeError(f"{self.name}: read() is already in progress")
        if self._consumer is not None:
            raise RuntimeError(f"{self.name}: messages go to a consumer (see consume())")
        if link.sink is None:  # the first read of this connection, or the stream was taken
            link.take_input(self._server_data)
            if self._next < len(self._pending):
                return
        if link.ended:
            raise self._end_error(link)
        waiter = self._loop.create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None
        if self._in is not link and link.ended:
            # The connection ended and the next one came up while this read waited:
            # the reader sees the end first, as for any hang-up.
            raise self._end_error(link)

    def _server_data(self, data: bytes) -> None:
        """The sink of the server connection: decode and parse every frame of the chunk."""
        self._sent_at_once = 0  # what is written next answers this
        try:
            frames = self._decoder.feed_messages(data, self._parse)
        except Exception as e:  # a fault of the parser itself, never of the peer's bytes
            self.log.exception("frames_not_parsed", nbytes=len(data))
            error = ProtocolError(f"{self.name}: the frames of a chunk could not be parsed: {e!r}")
            error.__cause__ = e
            frames = [error]
        pending = self._pending
        if self._next >= len(pending):  # everything before was read: the usual case
            self._pending = frames
        else:  # the reader lags: keep what it has not read yet
            self._pending = cast(_Frames, pending)[self._next :] + frames  # not empty
        self._next = 0
        if self._consumer is not None:
            self._deliver()
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(self._pending) >= PAUSE_AT_FRAMES and self._in is not None:
            self._paused = True
            self._in.pause_input()

    def _resume(self) -> None:
        self._paused = False
        if self._in is not None:
            self._in.resume_input()

    def consume(self, consumer: Consumer | None) -> None:
        """Hand every message to ``consumer`` as it arrives, instead of `read`.

        ``consumer(item)`` is called with each message of the server
        connection (and of every later one), or with the `ProtocolError` of a
        bad frame, in order, from the transport's callback: no task and no loop
        wakeup per message. It must not block; an exception it raises is
        logged. `read` raises `RuntimeError` meanwhile. Messages already
        received and not read are handed over at once. The end of a connection
        is a ``SERVER_LOST`` change (see `add_change_listener`), which comes
        after the messages received before it. `None` stops: `read` works again.
        """
        self._consumer = consumer
        link = self._in
        if consumer is not None and link is not None:
            if link.sink is None:
                link.take_input(self._server_data)
            self._deliver()

    def _deliver(self) -> None:
        """Hand the messages waiting to the consumer (while there is one)."""
        pending = self._pending
        while (consumer := self._consumer) is not None and self._next < len(pending):
            item = pending[self._next]
            self._next += 1
            try:
                consumer(item)
            except Exception:
                self.log.exception("consumer_failed")

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end_error(self, link: Link) -> ConnectionClosedError:
        """The error of a read after ``link`` ended, chained to its cause."""
        cause = link.cause
        if cause is None or isinstance(cause, PeerClosedError):
            # As asyncio's readuntil reports EOF: an IncompleteReadError (here also
            # a ConnectionClosedError) whose ``partial`` is the unfinished frame.
            decoder = self._decoder
            where = "in the middle of a frame" if decoder.mid_frame else "between frames"
            error: ConnectionClosedError = IncompleteFrameError(
                f"{self.name}: the peer closed the connection {where}", decoder.partial_frame()
            )
        else:
            error = ConnectionClosedError(f"{self.name}: connection lost: {cause}")
        error.__cause__ = cause
        return error

    async def write(self, message: Message | bytes) -> None:
        """Write one message (or raw bytes, sent as they are: fault injection).

        The first `SEND_AT_ONCE` messages written after data arrived (or after
        the last coalesced send) are sent at once, for the lowest latency of an
        answer; further ones are collected and sent together in one system
        call when the loop iteration ends (or at once when more than
        ``write_high_water`` bytes are waiting). `write` waits only while the
        transport's buffer is above ``write_high_water`` (until it drains).
        `close` and `close_client` send what is waiting before closing.

        Raises
        ------
        ConnectionClosedError
            The client is not connected (chained to the cause of its end), or
            the connection failed while `write` waited for it to drain.
        """
        transport = self._transport
        if transport is None:
            raise ConnectionClosedError(
                f"{self.name}: client is not connected"
            ) from self.connector.cause
        try:
            data = message.encode()  # type: ignore[union-attr]
        except AttributeError:
            if not isinstance(message, bytes):
                raise
            data = message
        out = self._out
        if out is not None:
            # A burst under way: collected, sent in one system call when the
            # loop iteration ends ...
            out.append(data)
            self._out_bytes = size = self._out_bytes + len(data)
            if size > self.write_high_water:
                self._flush()
        elif self._sent_at_once < SEND_AT_ONCE:
            # ... but an answer to what just arrived goes out at once (lowest latency).
            transport.write(data)
            self._sent_at_once += 1
        else:
            self._out = [data]
            self._out_bytes = len(data)
            self._flush_handle = self._loop.call_soon(self._flush)
        link = self._out_link
        if link is not None and link.write_paused:
            self._flush()
            writer = link.writer
            try:
                if writer is not None:
                    await writer.drain()
            except OSError as e:
                raise ConnectionClosedError(f"{self.name}: connection lost: {e}") from e

    def _flush(self) -> None:
        """Send the frames waiting in the output buffer."""
        self._sent_at_once = 0
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        out = self._out
        if out is None:
            return
        self._out = None
        self._out_bytes = 0
        transport = self._transport
        if transport is not None:
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        else:
            self.log.warning("unsent_messages_dropped", count=len(out))

    def _discard_output(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._out = None
        self._out_bytes = 0

    async def close_client(self) -> None:
        """Send any waiting frames, then close the client. Idempotent; no callback."""
        self._flush()
        await super().close_client()

    async def __aiter__(self) -> AsyncIterator[Message]:
        """Iterate over messages until the connection closes.

        `ProtocolError` frames are logged and skipped.
        """
        while True:
            try:
                yield await self.read()
            except ProtocolError as e:
                self.log.warning("bad_frame_skipped", error=str(e))
            except ConnectionError:
                return
