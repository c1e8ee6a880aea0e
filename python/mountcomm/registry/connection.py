"""One native-dialect connection to the registry: request matching and the read loop.

`NativeConnection.open` connects (TCP, through the package's checked connect
`mountcomm.sockets.open_checked_connection`, which sets the shared socket
options and refuses a self-connection; or a Unix socket), and starts the
read loop at once: from the moment a connection object exists, its loss is
reported to the ``on_lost`` callback exactly once, whoever notices it first
(the read loop or a failed write; `close` reports nothing). There is no
window in which a connection could die unobserved.

The owner (`PortRegistry`) keeps the request ids, so that ids stay unique
across connections; this module matches replies to requests, reads each reply
as the type its request names (`mountcomm.registry.native`), and hands watch
events and a request's reply to the owner's callbacks synchronously, before
the caller of `request` resumes (events follow a watch's reply with no gap).
"""

from __future__ import annotations

__all__ = ["EventCallback", "LostCallback", "NativeConnection", "ReplyCallback"]

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..exceptions import ConnectionClosedError, ProtocolError
from ..sockets import open_checked_connection
from . import native
from .entries import PortEvent
from .peer import unix_address
from .state import Cause
from .wire import RequestId

R = TypeVar("R", bound=native.Reply)

MAX_REPLY_BYTES = 64 * 1024 * 1024
"""Longest line accepted from the daemon (a LIST of every port fits easily) [bytes]."""

LostCallback = Callable[["NativeConnection", BaseException, str], None]
"""``on_lost(connection, cause, message)``: called once when a connection ends."""

EventCallback = Callable[[RequestId, PortEvent], None]
"""``on_event(watch id, event)``: called with every watch event."""

ReplyCallback = Callable[[int, R], None]
"""``on_reply(request id, reply)``: called with a success reply before its caller resumes."""


@dataclass(slots=True)
class _Pending(Generic[R]):
    """A request awaiting its reply."""

    request: native.Request[R]
    future: asyncio.Future[R]
    on_reply: ReplyCallback[R] | None


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark a request's failure as seen: its caller may have been cancelled meanwhile."""
    if not fut.cancelled():
        fut.exception()


class NativeConnection:
    """A connected native-dialect stream with its read loop running.

    Made by `open`. Not reusable: once lost or closed it stays so.

    Parameters
    ----------
    reader, writer : asyncio streams
        The connection.
    timeout : `float`
        How long `request` waits for its reply [s].
    on_lost : callable
        Called once, from the loop, when the connection ends by any cause
        other than `close` (see `LostCallback`).
    on_event : callable (watch id, `PortEvent`) -> `None`
        Called with every watch event (see `EventCallback`).
    log : structlog logger
        Where to log.

    Attributes
    ----------
    opened_at : `float`
        Loop time when the connection was made [s].
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        timeout: float,
        on_lost: LostCallback,
        on_event: EventCallback,
        log: Any,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.log = log
        self.opened_at = asyncio.get_running_loop().time()
        self._on_lost = on_lost
        self._on_event = on_event
        self._pending: dict[int, _Pending[Any]] = {}
        self._ended: ConnectionClosedError | None = None
        # started before anyone can see this object: its loss is always observed
        self._read_task = asyncio.create_task(self._read_loop(), name="PortRegistry.read")

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        unix_socket: str | None,
        *,
        timeout: float,
        on_lost: LostCallback,
        on_event: EventCallback,
        log: Any,
    ) -> NativeConnection:
        """Connect within ``timeout``; return the connection, its read loop running.

        Raises
        ------
        SelfConnectionError
            If the TCP connection reached its own socket (nobody listens on
            that port); the socket is closed. Retry as after a refusal.
        OSError
            If the connection cannot be made.
        TimeoutError
            If connecting takes longer than ``timeout``.
        """
        async with asyncio.timeout(timeout):
            if unix_socket is None:  # the package's checked connect
                reader, writer = await open_checked_connection(host, port, limit=MAX_REPLY_BYTES)
            else:
                reader, writer = await asyncio.open_unix_connection(
                    unix_address(unix_socket), limit=MAX_REPLY_BYTES
                )
        return cls(
            reader,
            writer,
            timeout=timeout,
            on_lost=on_lost,
            on_event=on_event,
            log=log,
        )

    @property
    def ended(self) -> bool:
        """True once the connection is lost or closed."""
        return self._ended is not None

    # ---- the one way to end -----------------------------------------------------------

    def _end(self, cause: BaseException | None, message: str, *, report: bool) -> None:
        """Fail every pending request, close the stream, stop reading (idempotent)."""
        if self._ended is not None:
            return
        self._ended = error = Cause(cause, message).exception()
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(Cause(cause, message).exception())
        self.writer.close()
        if self._read_task is not asyncio.current_task():
            self._read_task.cancel()
        if report:
            self._on_lost(self, cause if cause is not None else error, message)

    def lost(self, cause: BaseException, message: str) -> None:
        """Report the connection lost (idempotent): fails requests, calls ``on_lost``."""
        self._end(cause, message, report=True)

    async def close(self, message: str = "PortRegistry was closed") -> None:
        """Close without calling ``on_lost`` (idempotent); wait for the loop to stop."""
        self._end(None, message, report=False)
        if self._read_task is not asyncio.current_task():
            await asyncio.wait({self._read_task})
        try:
            await asyncio.wait_for(self.writer.wait_closed(), self.timeout)
        except (TimeoutError, ConnectionError, OSError):
            self.writer.transport.abort()

    # ---- requests ------------------------------------------------------------------------

    async def request(
        self, request: native.Request[R], rid: int, on_reply: ReplyCallback[R] | None = None
    ) -> R:
        """Send ``request`` under id ``rid`` and return its reply (a success).

        ``on_reply``, if given, gets the reply from the read loop before the
        caller resumes (and before the next line is read).

        Raises
        ------
        ConnectionClosedError
            If the connection is or gets lost or closed.
        TimeoutError
            If no reply comes within ``timeout``.
        RegistryError
            If the daemon refuses (the subclass its error code names).
        ProtocolError
            If the reply is not a valid reply to ``request``.
        """
        if self._ended is not None:
            raise Cause(self._ended.__cause__, str(self._ended)).exception()
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieve)
        self._pending[rid] = _Pending(request, fut, on_reply)
        op = request.OP
        try:
            self.writer.write(native.encode_request(dataclasses.replace(request, id=rid)))
            try:
                async with asyncio.timeout(self.timeout):
                    await self.writer.drain()
                    reply = await fut
            except TimeoutError:
                raise TimeoutError(
                    f"the registry did not answer {op!r} within {self.timeout} s"
                ) from None
            except ConnectionError as e:
                if isinstance(e, ConnectionClosedError):
                    raise
                self.lost(e, "connection to the registry failed")
                raise ConnectionClosedError("connection to the registry failed") from e
        finally:
            self._pending.pop(rid, None)
        return reply

    # ---- reading -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                line = await self.reader.readline()
                if not line.endswith(b"\n"):
                    self.lost(EOFError("registry closed the connection"), "registry went away")
                    return
                try:
                    self._dispatch(native.read_message(line))
                except ProtocolError as e:
                    self.log.warning("bad_registry_line", error=str(e), line=line[:80])
        except (ConnectionError, OSError, ValueError) as e:
            self.lost(e, "connection to the registry failed")

    def _dispatch(self, message: native.Message) -> None:
        if isinstance(message, native.WatchEvent):
            self._on_event(message.watch, message.event)
            return
        rid = message.id
        pending = self._pending.get(rid) if isinstance(rid, int) else None
        if not isinstance(rid, int) or pending is None or pending.future.done():
            self.log.debug("unexpected_reply", id=rid)
            return
        if isinstance(message, native.Refusal):
            pending.future.set_exception(message.exception())
            return
        try:
            reply = pending.request.read_reply(message)
        except ProtocolError as e:
            pending.future.set_exception(e)
            return
        if pending.on_reply is not None:
            pending.on_reply(rid, reply)
        pending.future.set_result(reply)
