"""One native-dialect connection to the registry: request matching and the read loop.

`NativeConnection.open` connects (TCP or Unix socket), sets the shared socket
options (`mountcomm.sockets`), refuses a TCP self-connection, and starts the
read loop at once: from the moment a connection object exists, its loss is
reported to the ``on_lost`` callback exactly once, whoever notices it first
(the read loop, a failed write, or `close`). There is no window in which a
connection could die unobserved.

The owner (`PortRegistry`) keeps the request ids, so that a watch keeps its
id space across connections; this module matches replies to requests and
hands watch events and watch replies to the owner synchronously, before the
caller of `request` resumes (events follow a watch's reply with no gap).
"""

from __future__ import annotations

__all__ = ["NativeConnection", "raise_for_reply", "reset_on_close"]

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any

from .. import log as mlog
from ..exceptions import (
    ConnectionClosedError,
    PoolExhaustedError,
    PortInUseError,
    ProtocolError,
    RegistryError,
    RegistryPermissionError,
    RegistryRequestError,
    UnknownPortError,
)
from ..sockets import apply_socket_options, check_not_self_connected
from . import wire
from .peer import unix_address

_ERRORS: dict[str, type[RegistryError]] = {
    cls.code: cls
    for cls in (
        RegistryRequestError,
        RegistryPermissionError,
        PoolExhaustedError,
        PortInUseError,
        UnknownPortError,
    )
}
MAX_REPLY_BYTES = 64 * 1024 * 1024
"""Longest line accepted from the daemon (a LIST of every port fits easily) [bytes]."""

LostCallback = Callable[["NativeConnection", BaseException, str], None]
"""``on_lost(connection, cause, message)``: called once when a connection ends."""


def raise_for_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """Return ``reply`` if it is a success, else raise the `RegistryError` it names."""
    if not reply.get("ok"):
        code = str(reply.get("error", RegistryError.code))
        raise _ERRORS.get(code, RegistryError)(str(reply.get("message", code)))
    return reply


def reset_on_close(sock: socket.socket | None) -> None:
    """Make closing ``sock`` send a reset: a self-connection closed with a FIN would
    hold its port in TIME_WAIT, and the next attempt could not use that port."""
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


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
    on_event : callable (`dict`) -> `None`
        Called with every watch event line (parsed).
    on_reply : callable (`int`, `dict`) -> `None`
        Called with every reply to an awaited request, before its caller
        resumes (so a watch's snapshot comes before its first event).
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
        on_event: Callable[[dict[str, Any]], None],
        on_reply: Callable[[int, dict[str, Any]], None],
        log: Any,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.log = log
        self.opened_at = asyncio.get_running_loop().time()
        self._on_lost = on_lost
        self._on_event = on_event
        self._on_reply = on_reply
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
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
        on_event: Callable[[dict[str, Any]], None],
        on_reply: Callable[[int, dict[str, Any]], None],
        log: Any = None,
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
            if unix_socket is not None:
                reader, writer = await asyncio.open_unix_connection(
                    unix_address(unix_socket), limit=MAX_REPLY_BYTES
                )
            else:
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_REPLY_BYTES)
        sock = writer.get_extra_info("socket")
        try:
            check_not_self_connected(sock)
            apply_socket_options(sock)
        except OSError:
            reset_on_close(sock)
            writer.transport.abort()
            raise
        return cls(
            reader,
            writer,
            timeout=timeout,
            on_lost=on_lost,
            on_event=on_event,
            on_reply=on_reply,
            log=mlog.get_logger(log, "PortRegistry") if log is None else log,
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
        error = ConnectionClosedError(message)
        error.__cause__ = cause
        self._ended = error
        for fut in self._pending.values():
            if not fut.done():
                failure = ConnectionClosedError(message)
                failure.__cause__ = cause
                fut.set_exception(failure)
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

    async def request(self, op: str, rid: int, **fields: Any) -> dict[str, Any]:
        """Send request ``rid`` and return its reply (a success).

        Raises
        ------
        ConnectionClosedError
            If the connection is or gets lost or closed.
        TimeoutError
            If no reply comes within ``timeout``.
        RegistryError
            If the daemon refuses (the subclass its error code names).
        """
        if self._ended is not None:
            raise ConnectionClosedError(str(self._ended)) from self._ended.__cause__
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieve)
        self._pending[rid] = fut
        try:
            self.writer.write(wire.native_request(op, rid, **fields))
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
        return raise_for_reply(reply)

    # ---- reading -------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while True:
                line = await self.reader.readline()
                if not line.endswith(b"\n"):
                    self.lost(EOFError("registry closed the connection"), "registry went away")
                    return
                try:
                    self._dispatch(wire.parse_native_message(line))
                except ProtocolError as e:
                    self.log.warning("bad_registry_line", error=str(e), line=line[:80])
        except (ConnectionError, OSError, ValueError) as e:
            self.lost(e, "connection to the registry failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "event" in message:
            self._on_event(message)
            return
        rid = message.get("id")
        fut = self._pending.get(rid) if isinstance(rid, int) else None
        if rid is None or fut is None or fut.done():
            self.log.debug("unexpected_reply", id=rid)
            return
        self._on_reply(rid, message)
        fut.set_result(message)
