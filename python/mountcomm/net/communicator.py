"""`Communicator`: framed mount messages over a `ClientServerPair`."""

from __future__ import annotations

__all__ = ["Communicator"]

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..exceptions import ConnectionClosedError, ProtocolError
from ..protocol import Message, parse_command, parse_reply
from ..protocol.framing import DEFAULT_MAX_FRAME_BYTES, DecodedFrame, FrameDecoder
from .changes import Change, ConnectionChange
from .client_server_pair import ClientServerPair
from .errors import IncompleteFrameError
from .server import ConnectCallback

READ_CHUNK_BYTES = 256 * 1024
DEFAULT_WRITE_HIGH_WATER = 64 * 1024


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
        bytes are queued [bytes].
    **kwargs
        Other keyword-only options of `ClientServerPair`.

    Notes
    -----
    Reads are chunked: one socket read may yield many messages, which `read`
    returns one at a time. Bytes that arrive on the client socket (which the
    protocol never uses for input) are discarded by `monitor_client_reader`.
    """

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
        self._pending: deque[DecodedFrame] = deque()
        self._parse: Callable[[list[str]], Message] = parse_reply if read_replies else parse_command
        self._reading = False
        self._monitor_task: asyncio.Task[None] | None = None
        # Write coalescing: frames written in one loop iteration go out in one send.
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._flush_handle: asyncio.Handle | None = None
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
        self.add_change_listener(self._connection_changed)

    def _connection_changed(self, change: ConnectionChange) -> None:
        kind = change.kind
        if kind is Change.SERVER_UP:
            # A new inbound stream: start decoding afresh.
            self._decoder = FrameDecoder(self.max_frame_bytes)
            self._pending.clear()
        elif kind is Change.CLIENT_UP:
            # A new outbound stream (connect_client or a reconnection): drop what an
            # earlier connection left unsent, and monitor the new one.
            self._discard_output()
            if self._monitor_task is None or self._monitor_task.done():
                self._monitor_task = asyncio.create_task(self.monitor_client_reader())

    async def monitor_client_reader(self) -> None:
        """Discard any bytes received on the client socket until it closes.

        The protocol never sends data to a client socket; reading it keeps memory
        bounded and lets the connection's loss be seen.
        """
        reader = self.client_reader
        warned = False
        while reader is not None:
            try:
                data = await reader.read(READ_CHUNK_BYTES)
            except OSError:
                return
            if not data:
                return
            if not warned:
                self.log.warning("unexpected_client_data", nbytes=len(data))
                warned = True

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
            failed (the cause is chained). It is a `ConnectionResetError`; when
            the peer closed the connection (EOF) it is also an
            `asyncio.IncompleteReadError` (`IncompleteFrameError`, whose
            ``partial`` holds the bytes of an unfinished frame, if any), as
            asyncio's ``readuntil`` reports EOF. Code that catches
            ``ConnectionResetError`` or ``asyncio.IncompleteReadError`` (or
            both) sees every hang-up.
        RuntimeError
            Another `read` is already waiting.

        Notes
        -----
        Cancel-safe: cancelling a `read` loses no data.
        """
        pending = self._pending
        while True:
            if pending:
                item = pending.popleft()
                if type(item) is list:
                    return self._parse(item)
                raise item  # type: ignore[misc]
            await self._fill()

    async def _fill(self) -> None:
        reader = self.server_reader
        if reader is None:
            raise ConnectionClosedError(f"{self.name}: server is not connected")
        if self._reading:
            raise RuntimeError(f"{self.name}: read() is already in progress")
        self._reading = True
        try:
            data = await reader.read(READ_CHUNK_BYTES)
        except OSError as e:
            raise ConnectionClosedError(f"{self.name}: connection lost: {e}") from e
        finally:
            self._reading = False
        if not data:
            # As asyncio's readuntil reports EOF: an IncompleteReadError (here also
            # a ConnectionClosedError) whose ``partial`` is the unfinished frame.
            decoder = self._decoder
            where = "in the middle of a frame" if decoder.mid_frame else "between frames"
            link = self.server.link
            raise IncompleteFrameError(
                f"{self.name}: the peer closed the connection {where}", decoder.partial_frame()
            ) from (link.cause if link is not None else None)
        self._pending.extend(self._decoder.feed(data))

    async def write(self, message: Message | bytes) -> None:
        """Write one message (or raw bytes, sent as they are: fault injection).

        The first message written in an iteration of the event loop is sent at
        once; further ones written in the same iteration are sent together in
        one system call when it ends (or at once when more than
        ``write_high_water`` bytes are waiting, in which case `write` also waits
        for the socket to drain). `close` and `close_client`
        send what is waiting before closing.

        Raises
        ------
        ConnectionClosedError
            The client is not connected.
        """
        writer = self.client_writer
        if writer is None or not self.client_connected:
            raise ConnectionClosedError(f"{self.name}: client is not connected")
        data = message if isinstance(message, bytes) else message.encode()
        if self._flush_handle is None:
            # First write of this loop iteration: send at once (lowest latency)
            # and collect any further writes of the iteration for one send.
            writer.write(data)
            self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._out.append(data)
            self._out_bytes += len(data)
        if self._out_bytes + writer.transport.get_write_buffer_size() > self.write_high_water:
            self._flush()
            try:
                await writer.drain()
            except OSError as e:
                raise ConnectionClosedError(f"{self.name}: connection lost: {e}") from e

    def _flush(self) -> None:
        """Send the frames waiting in the output buffer."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._out:
            return
        out = self._out
        self._out = []
        self._out_bytes = 0
        writer = self.client_writer
        if writer is not None and self.client_connected:
            writer.write(out[0] if len(out) == 1 else b"".join(out))
        else:
            self.log.warning("unsent_messages_dropped", count=len(out))

    def _discard_output(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._out.clear()
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

    async def close(self) -> None:
        """Close both connections and stop monitoring. Idempotent."""
        task = self._monitor_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await super().close()
