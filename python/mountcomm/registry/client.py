"""Async client of the port registry (native dialect, one connection).

::

    async with PortRegistry("127.0.0.1", 30000) as registry:
        port = await registry.get_port("mount_csc")          # from the pool
        await registry.register("mount_csc_reply", server_port)  # a port-0 server's port
        peer = await registry.wait_for("mount_pxi", timeout=10)  # as soon as advertised
        async with registry.watch(service="mount_pxi") as events:
            async for event in events:                           # PortEvent
                ...

Everything a `PortRegistry` allocates or registers lives as long as its
connection: `close` (or losing the connection) releases it all.
"""

from __future__ import annotations

__all__ = ["PortRegistry", "PortWatch"]

import asyncio
import itertools
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .. import log as mlog
from .._lifecycle import AsyncResource
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
from . import wire
from .peer import unix_address
from .store import PortEntry, PortEvent, Query

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
_MAX_REPLY_BYTES = 64 * 1024 * 1024  # a LIST of every port fits easily


class _End:
    """Queue marker: the watch ended, with ``error`` (None: closed by the user)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class PortWatch:
    """A live view of the registry entries that match a `Query`.

    Made by `PortRegistry.watch`. Iterate over it (``async for``) to get a
    `PortEvent` for every matching entry that exists when the watch starts
    (``initial=True``, unless disabled), then one per change as it happens.

    Use it as an async context manager, or call `aclose` when done; otherwise it
    ends with its registry's connection.

    Attributes
    ----------
    query : `Query`
        What is watched.
    entries : `list` [`PortEntry`]
        The matching entries when the watch started (empty before).

    Notes
    -----
    Cancelling ``__anext__`` is safe: no event is lost. After `aclose` the
    iteration stops; after the connection is lost, ``__anext__`` raises
    `ConnectionClosedError`; if more than ``max_queue`` events (initial ones
    included) pile up unread, the watch ends and ``__anext__`` raises
    `RegistryError` once the events before it are read.
    """

    def __init__(self, registry: PortRegistry, query: Query, initial: bool, max_queue: int) -> None:
        self.registry = registry
        self.query = query
        self.initial = initial
        self.max_queue = max_queue
        self.entries: list[PortEntry] = []
        self._queue: asyncio.Queue[PortEvent | _End] = asyncio.Queue()
        self._id: int | None = None
        self._ended = False
        self._start_lock = asyncio.Lock()

    async def start(self) -> PortWatch:
        """Start the watch on the daemon (idempotent); return self.

        Raises
        ------
        ConnectionClosedError
            If the connection is closed or lost.
        TimeoutError
            If the daemon does not answer within the registry's timeout.
        """
        async with self._start_lock:
            if self._id is None and not self._ended:
                await self.registry._start_watch(self)
        return self

    def _started(self, entries: list[PortEntry]) -> None:
        """Called by the registry's reader with the reply, before any event."""
        self.entries = entries
        if self.initial:
            for entry in entries:
                self._queue.put_nowait(PortEvent.of("added", entry, initial=True))

    def _deliver(self, event: PortEvent) -> None:
        if self._ended:
            return
        if self._queue.qsize() >= self.max_queue:
            self._end(RegistryError(f"watch fell behind: more than {self.max_queue} events unread"))
            return
        self._queue.put_nowait(event)

    def _end(self, error: BaseException | None) -> None:
        if not self._ended:
            self._ended = True
            if self._id is not None:
                self.registry._watches.pop(self._id, None)
            self._queue.put_nowait(_End(error))

    def __aiter__(self) -> PortWatch:
        return self

    async def __anext__(self) -> PortEvent:
        if self._id is None and not self._ended:
            await self.start()
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends the same way
            if item.error is None:
                raise StopAsyncIteration
            raise item.error
        return item

    async def aclose(self) -> None:
        """Stop the watch (idempotent). Iteration then stops.

        Tells the daemon when the connection is still up (bounded by the
        registry's timeout); never raises for a lost connection.
        """
        if self._ended:
            return
        watch_id = self._id
        self._end(None)
        if watch_id is not None and self.registry.connected:
            try:
                await self.registry._request("unwatch", watch=watch_id)
            except (ConnectionError, TimeoutError, RegistryError) as e:
                self.registry.log.debug("unwatch_failed", watch=watch_id, error=str(e))

    async def __aenter__(self) -> PortWatch:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class PortRegistry(AsyncResource):
    """Async client of a port registry daemon over one native-dialect connection.

    Parameters
    ----------
    host : `str`
        Host of the daemon's TCP port.
    port : `int`
        The daemon's TCP port.
    unix_socket : `str` or `None`
        Connect to this Unix socket (path, or ``@name`` for the abstract
        namespace) instead of TCP.
    timeout : `float`
        How long to wait for the connection and for each reply [s].
    autostart : `bool`
        If no daemon answers on this host, start one (``mountcomm registry`` in
        a detached process, which outlives this client) and connect to it.
    log : logger, optional
        `logging.Logger`, structlog logger or `None`.

    Notes
    -----
    The connection is made by `connect` or on first use, and is the lease of
    everything this client allocates or registers: all of it is released when
    the connection closes (`close`, or the process dies). If the connection is
    lost, every pending call raises `ConnectionClosedError`, every watch ends
    with it, and so does every later call: make a new `PortRegistry` to
    reconnect (and register again).

    Every call raises `ConnectionClosedError` if the connection is closed or
    lost, `TimeoutError` if the daemon does not answer within ``timeout``, and
    a `RegistryError` subclass if the daemon refuses. Cancelling a call is
    safe; a request already sent may still take effect (a cancelled
    `register` may leave the entry, which `release` or `close` removes).
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 30000,
        *,
        unix_socket: str | None = None,
        timeout: float = 5.0,
        autostart: bool = False,
        log: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.unix_socket = unix_socket
        self.timeout = timeout
        self.autostart = autostart
        self.log = mlog.get_logger(log, "PortRegistry", port=port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._watches: dict[int, PortWatch] = {}
        self._error: Callable[[], ConnectionClosedError] | None = None
        self._connect_lock = asyncio.Lock()

    # ---- connection -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the connection is up."""
        return self._writer is not None and self._error is None

    async def connect(self) -> None:
        """Connect if not yet connected (idempotent).

        Raises
        ------
        ConnectionClosedError
            If this client was closed or lost its connection.
        OSError
            If no daemon answers (and ``autostart`` is off or failed).
        TimeoutError
            If connecting takes longer than ``timeout``.
        """
        async with self._connect_lock:
            if self._error is not None:
                raise self._error()
            if self._writer is not None:
                return
            try:
                self._reader, self._writer = await self._open()
            except (ConnectionRefusedError, FileNotFoundError):
                from . import autostart

                local = self.unix_socket is not None or autostart.is_local_host(self.host)
                if not (self.autostart and local):
                    raise
                await asyncio.to_thread(
                    autostart.start_daemon,
                    self.host,
                    self.port,
                    unix_socket=self.unix_socket,
                    timeout=self.timeout,
                )
                self._reader, self._writer = await self._open()
            self._read_task = asyncio.create_task(self._read_loop(), name="PortRegistry.read")
            self.log.debug("registry_connected", host=self.host, unix_socket=self.unix_socket)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(self.timeout):
            if self.unix_socket is not None:
                return await asyncio.open_unix_connection(
                    unix_address(self.unix_socket), limit=_MAX_REPLY_BYTES
                )
            return await asyncio.open_connection(self.host, self.port, limit=_MAX_REPLY_BYTES)

    async def close(self) -> None:
        """Close the connection, releasing everything it holds (idempotent).

        Pending calls raise `ConnectionClosedError`; watches stop.
        """
        self._lost(None, "PortRegistry was closed")
        task, self._read_task = self._read_task, None
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait({task})
        writer = self._writer
        if writer is not None:
            try:
                await asyncio.wait_for(writer.wait_closed(), self.timeout)
            except (TimeoutError, ConnectionError, OSError):
                writer.transport.abort()

    async def start(self) -> None:
        """Connect (as `connect`); ``async with`` calls it."""
        await self.connect()

    def _lost(self, cause: BaseException | None, message: str) -> None:
        """The one teardown: record the first cause, fail every waiter, end watches."""
        if self._error is not None:
            return

        def error() -> ConnectionClosedError:
            e = ConnectionClosedError(message)
            e.__cause__ = cause
            return e

        self._error = error
        if cause is not None:
            self.log.info("registry_connection_lost", reason=message, error=repr(cause))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(error())
        for watch in list(self._watches.values()):
            watch._end(error())
        self._watches.clear()
        if self._writer is not None:
            self._writer.close()
        task = self._read_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line.endswith(b"\n"):
                    self._lost(EOFError("registry closed the connection"), "registry went away")
                    return
                try:
                    self._dispatch(wire.parse_native_message(line))
                except ProtocolError as e:
                    self.log.warning("bad_registry_line", error=str(e), line=line[:80])
        except (ConnectionError, OSError, ValueError) as e:
            self._lost(e, "connection to the registry failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "event" in message:
            watch_id = message.get("watch")
            watch = self._watches.get(watch_id) if isinstance(watch_id, int) else None
            if watch is not None:
                watch._deliver(wire.event_from_wire(message))
            return
        rid = message.get("id")
        fut = self._pending.get(rid) if isinstance(rid, int) else None
        if rid is None or fut is None or fut.done():
            self.log.debug("unexpected_reply", id=rid)
            return
        watch = self._watches.get(rid)
        if watch is not None and message.get("ok"):
            watch._started([wire.entry_from_wire(e) for e in message.get("entries", ())])
        fut.set_result(message)

    # ---- requests ---------------------------------------------------------------

    async def _request(self, op: str, rid: int | None = None, **fields: Any) -> dict[str, Any]:
        await self.connect()
        if self._error is not None:
            raise self._error()
        assert self._writer is not None
        if rid is None:
            rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            self._writer.write(wire.native_request(op, rid, **fields))
            try:
                async with asyncio.timeout(self.timeout):
                    await self._writer.drain()
                    reply = await fut
            except TimeoutError:
                raise TimeoutError(
                    f"the registry did not answer {op!r} within {self.timeout} s"
                ) from None
            except ConnectionError as e:
                if isinstance(e, ConnectionClosedError):
                    raise
                self._lost(e, "connection to the registry failed")
                raise ConnectionClosedError("connection to the registry failed") from e
        finally:
            self._pending.pop(rid, None)
        if not reply.get("ok"):
            code = str(reply.get("error", RegistryError.code))
            raise _ERRORS.get(code, RegistryError)(str(reply.get("message", code)))
        return reply

    async def _start_watch(self, watch: PortWatch) -> None:
        rid = next(self._ids)
        self._watches[rid] = watch  # before sending: events follow the reply at once
        watch._id = rid
        q = watch.query
        try:
            await self._request(
                "watch", rid, service=q.service, beginswith=q.beginswith, user=q.user
            )
        except BaseException as e:
            self._watches.pop(rid, None)
            watch._end(e if isinstance(e, Exception) else None)
            raise

    async def ping(self) -> dict[str, Any]:
        """Check the daemon answers; return what it says about itself and us.

        Returns
        -------
        info : `dict`
            ``version``, ``pid`` (the daemon's), ``local`` (are we on its host),
            ``user`` and ``uid`` (who the daemon thinks we are; `None` if unknown).
        """
        reply = await self._request("ping")
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    async def allocate(self, service: str, *, user: str | None = None) -> PortEntry:
        """Get a port of the daemon's pool under ``service``; return the entry.

        The entry's service has ``_1``, ``_2``... appended if this user already
        holds ``service``. ``user`` may only repeat what the credentials say.

        Raises
        ------
        PoolExhaustedError
            If no port of the pool is free.
        RegistryPermissionError
            If this client is not on the daemon's host or claims another user.
        """
        reply = await self._request("allocate", service=service, user=user)
        return wire.entry_from_wire(reply)

    async def get_port(self, service: str) -> int:
        """Get a port of the daemon's pool under ``service``; return the port.

        See `allocate` for the rules and errors.
        """
        return (await self.allocate(service)).port

    async def register(self, service: str, port: int, *, user: str | None = None) -> PortEntry:
        """Advertise ``port``, which this program has already bound, as ``service``.

        Returns
        -------
        entry : `PortEntry`
            What was registered; its service may carry a ``_N`` suffix.

        Raises
        ------
        PortInUseError
            If the port is already registered.
        RegistryPermissionError
            If this client is not on the daemon's host or claims another user.
        """
        reply = await self._request("register", service=service, port=port, user=user)
        return wire.entry_from_wire(reply)

    async def release(self, port: int) -> None:
        """Give back a port this client holds.

        Raises
        ------
        UnknownPortError
            If nobody holds it.
        RegistryPermissionError
            If another client holds it.
        """
        await self._request("release", port=port)

    async def list_ports(self) -> list[PortEntry]:
        """Return every entry, sorted by port."""
        reply = await self._request("list")
        return [wire.entry_from_wire(e) for e in reply.get("entries", ())]

    async def find(
        self,
        service: str | None = None,
        beginswith: str | None = None,
        user: str | None = None,
    ) -> list[PortEntry]:
        """Return the entries matching every given criterion, sorted by port."""
        reply = await self._request("find", service=service, beginswith=beginswith, user=user)
        return [wire.entry_from_wire(e) for e in reply.get("entries", ())]

    def watch(
        self,
        service: str | None = None,
        beginswith: str | None = None,
        user: str | None = None,
        *,
        initial: bool = True,
        max_queue: int = 10_000,
    ) -> PortWatch:
        """Return a `PortWatch` of the entries matching every given criterion.

        ``async with registry.watch(service="x") as events: async for e in events``.
        The watch starts on entering the context (or on the first iteration);
        with ``initial`` the existing entries come first as ``added`` events
        flagged ``initial``. There is no gap: every change after the snapshot
        is reported, in order.
        """
        return PortWatch(self, Query(service, beginswith, user), initial, max_queue)

    async def wait_for(
        self,
        service: str,
        timeout: float | None = None,
        *,
        user: str | None = None,
    ) -> int:
        """Return the port of ``service`` as soon as it is advertised.

        Driven by a watch (no polling): returns at once if the service is
        already there, else the moment it is added.

        Parameters
        ----------
        service : `str`
            Exact service name.
        timeout : `float` or `None`
            How long to wait [s]; `None`: forever.
        user : `str` or `None`
            Only an entry of this user counts.

        Raises
        ------
        TimeoutError
            If it is not advertised within ``timeout``.
        ConnectionClosedError
            If the connection is lost meanwhile.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self.watch(service=service, user=user) as events:
                    async for event in events:
                        if event.kind == "added":
                            return event.port
        except TimeoutError:
            raise TimeoutError(
                f"service {service!r} was not advertised within {timeout} s"
            ) from None
        raise ConnectionClosedError("the watch ended before the service was advertised")

    async def terminate(self) -> None:
        """Ask the daemon to shut down (only its own user or root may).

        Returns once the daemon has accepted; it then closes every connection,
        this one included.
        """
        await self._request("terminate")
