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
connection: `close` (or losing the connection) releases it all. With
``reconnect=True`` a client whose daemon restarts connects again by itself,
registers its entries again and resumes its watches.
"""

from __future__ import annotations

__all__ = ["PortRegistry", "PortWatch", "reconnect_delays"]

import asyncio
import itertools
from collections.abc import Callable, Iterator
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
from ..net.retry import backoff
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


def reconnect_delays() -> Iterator[float]:
    """Delays between the attempts of a `PortRegistry` to reconnect [s].

    50 ms, doubling up to 2 s, each shortened by up to a quarter at random so
    that the clients of a restarted daemon do not all come back at once.
    """
    return backoff(0.05, factor=2.0, maximum=2.0, jitter=0.25)


class _Record:
    """What a client asked for, to ask the same of a new daemon."""

    __slots__ = ("host", "service", "user")

    def __init__(self, service: str, user: str | None, host: str | None = None) -> None:
        self.service = service
        self.user = user
        self.host = host


def _retrieve(fut: asyncio.Future[Any]) -> None:
    """Mark a request's failure as seen: its caller may have been cancelled meanwhile."""
    if not fut.cancelled():
        fut.exception()


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

    resumptions : `int`
        How many times the watch was resumed on a new connection (see Notes).

    Notes
    -----
    Cancelling ``__anext__`` is safe: no event is lost. After `aclose` the
    iteration stops; after the connection is lost, ``__anext__`` raises
    `ConnectionClosedError`; if more than ``max_queue`` events (initial ones
    included) pile up unread, the watch ends and ``__anext__`` raises
    `RegistryError` once the events before it are read.

    If the registry was made with ``reconnect=True``, losing the connection
    does not end the watch. What it delivers across a reconnection, in order:

    1. At once when the connection is lost: a ``removed`` event
       (``initial=False``) for every entry the watch reported as added and not
       as removed, in port order. The daemon's entries ended with it (leases
       are connections), so the watcher's picture is then empty.
    2. Nothing while the client is reconnecting (changes then are not seen).
    3. Once the client is connected again and has registered its own entries
       again: an ``added`` event with ``initial=True`` for every matching
       entry of the new daemon, whatever ``initial`` was given (`entries` is
       replaced by that snapshot; `resumptions` is incremented first).
    4. Then every change as it happens, as before.

    An entry that survives (e.g. the connection dropped but the daemon lived)
    is thus reported removed, then added again.
    """

    def __init__(self, registry: PortRegistry, query: Query, initial: bool, max_queue: int) -> None:
        self.registry = registry
        self.query = query
        self.initial = initial
        self.max_queue = max_queue
        self.entries: list[PortEntry] = []
        self.resumptions = 0
        self._queue: asyncio.Queue[PortEvent | _End] = asyncio.Queue()
        self._id: int | None = None
        self._ended = False
        self._seen: dict[tuple[str, int], PortEntry] = {}  # (host, port): what it was told
        self._resuming = False
        self._start_lock = asyncio.Lock()

    @property
    def ended(self) -> bool:
        """True once the watch has ended (`aclose`, connection closed, fell behind).

        The events delivered before the end can still be read.
        """
        return self._ended

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
        if self._resuming:
            self._resuming = False
            self.resumptions += 1
        elif not self.initial:
            return
        for entry in entries:
            self._deliver(PortEvent.of("added", entry, initial=True))

    def _suspend(self) -> None:
        """The connection is lost and will be made again: report every entry removed."""
        self._resuming = True
        for entry in sorted(self._seen.values()):
            self._deliver(PortEvent.of("removed", entry))
        self._seen.clear()

    def _deliver(self, event: PortEvent) -> None:
        if self._ended:
            return
        if self._queue.qsize() >= self.max_queue:
            self._end(RegistryError(f"watch fell behind: more than {self.max_queue} events unread"))
            return
        if event.kind == "added":
            self._seen[(event.host, event.port)] = event.entry
        else:
            self._seen.pop((event.host, event.port), None)
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
    reconnect : `bool`
        After losing the connection (e.g. the daemon restarted), connect again
        by itself, register again what it holds and resume its watches (see
        Notes). `False`: a lost connection is the end, as after `close`.
    log : logger, optional
        `logging.Logger`, structlog logger or `None`.

    Attributes
    ----------
    reconnect_task : `asyncio.Task` or `None`
        The background task that reconnects, while it runs (owned by this
        client; `close` cancels it).

    Notes
    -----
    The connection is made by `connect` or on first use, and is the lease of
    everything this client allocates or registers: all of it is released when
    the connection closes (`close`, or the process dies). If the connection is
    lost, every pending call raises `ConnectionClosedError`. Then:

    * without ``reconnect``, every watch ends with that error, and so does
      every later call: make a new `PortRegistry` to reconnect (and register
      again);
    * with ``reconnect``, `reconnect_task` tries to connect again to the same
      address, at once and then after each delay of `reconnect_delays` (no
      autostart), until it succeeds or `close` is called. Once connected, it
      registers again every entry this client got from `allocate`/`get_port`
      or `register` (a call that returned) and has not given to `release`
      (under the name the daemon gave it; a re-registration the new daemon
      refuses is logged as ``reregister_failed`` and forgotten),
      then resumes every open watch (see `PortWatch` for what a watcher sees),
      and only then is the client `connected` again. Until then every call
      raises `ConnectionClosedError` at once (`wait_connected` waits for the
      end of the reconnection). Only the first connection is made by
      `connect`: if it fails, nothing is retried. After `terminate` the client
      keeps trying until a daemon answers again or it is closed.

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
        reconnect: bool = False,
        log: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.unix_socket = unix_socket
        self.timeout = timeout
        self.autostart = autostart
        self.reconnect = reconnect
        self.reconnect_task: asyncio.Task[None] | None = None
        self.log = mlog.get_logger(log, "PortRegistry", port=port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._watches: dict[int, PortWatch] = {}
        self._error: Callable[[], ConnectionClosedError] | None = None  # for good
        self._down: Callable[[], ConnectionClosedError] | None = None  # while reconnecting
        self._records: dict[int, _Record] = {}  # port -> what to register again
        self._changed = asyncio.Event()  # set and replaced when `connected` changes
        self._connect_lock = asyncio.Lock()

    # ---- connection -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the connection is up (and, after a reconnection, resumed)."""
        return self._writer is not None and self._error is None and self._down is None

    async def connect(self) -> None:
        """Connect if not yet connected (idempotent).

        Raises
        ------
        ConnectionClosedError
            If this client was closed or lost its connection (or is
            reconnecting: see `wait_connected`).
        OSError
            If no daemon answers (and ``autostart`` is off or failed).
        TimeoutError
            If connecting takes longer than ``timeout``.
        """
        async with self._connect_lock:
            if self._error is not None:
                raise self._error()
            if self._down is not None:
                raise self._down()
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
            self._start_reading()
            self.log.debug("registry_connected", host=self.host, unix_socket=self.unix_socket)

    async def wait_connected(self) -> None:
        """Return once connected (cancel-safe).

        At once if connected; connects (as `connect`) if never connected; while
        reconnecting, once the connection is made again and resumed (entries
        registered again, watches resumed).

        Raises
        ------
        ConnectionClosedError
            If this client is closed (or lost its connection without
            ``reconnect``), also while waiting.
        OSError, TimeoutError
            As `connect`, for the first connection.
        """
        while self._down is not None and self._error is None:
            await self._changed.wait()
        await self.connect()

    def _notify(self) -> None:
        """`connected` may have changed: wake `wait_connected`."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _start_reading(self) -> None:
        assert self._reader is not None and self._writer is not None
        self._read_task = asyncio.create_task(
            self._read_loop(self._reader, self._writer), name="PortRegistry.read"
        )

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(self.timeout):
            if self.unix_socket is not None:
                return await asyncio.open_unix_connection(
                    unix_address(self.unix_socket), limit=_MAX_REPLY_BYTES
                )
            return await asyncio.open_connection(self.host, self.port, limit=_MAX_REPLY_BYTES)

    async def close(self) -> None:
        """Close the connection, releasing everything it holds (idempotent).

        Pending calls raise `ConnectionClosedError`; watches stop; a
        reconnection in progress is cancelled and waited for.
        """
        self._lost(None, "PortRegistry was closed")
        tasks = {t for t in (self._read_task, self.reconnect_task) if t is not None}
        self._read_task = self.reconnect_task = None
        current = asyncio.current_task()
        if current is not None:
            tasks.discard(current)
        if tasks:
            await asyncio.wait(tasks)
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
        for task in (self._read_task, self.reconnect_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._notify()

    def _connection_lost(
        self, cause: BaseException, message: str, writer: asyncio.StreamWriter
    ) -> None:
        """``writer``'s connection is lost: end for good, or suspend and reconnect."""
        if self._error is not None or writer is not self._writer:
            return  # closed, or an older connection
        if not self.reconnect:
            self._lost(cause, message)
            return

        def error() -> ConnectionClosedError:
            e = ConnectionClosedError(f"{message}; reconnecting")
            e.__cause__ = cause
            return e

        self._down = error
        self.log.info(
            "registry_connection_lost", reason=message, error=repr(cause), reconnecting=True
        )
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(error())
        for watch in list(self._watches.values()):
            watch._suspend()
        writer.close()
        self._reader = self._writer = None
        task, self._read_task = self._read_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.reconnect_task is None or self.reconnect_task.done():
            self.reconnect_task = asyncio.create_task(
                self._reconnect(), name="PortRegistry.reconnect"
            )
        self._notify()

    async def _reconnect(self) -> None:
        """Connect again, register again, resume the watches; retry until closed."""
        delays = reconnect_delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                self._reader, self._writer = await self._open()
            except (OSError, TimeoutError) as e:
                self.log.debug("registry_reconnect_failed", attempt=attempt, error=repr(e))
                await asyncio.sleep(next(delays))
                continue
            writer = self._writer
            self._start_reading()
            try:
                await self._resume()
            except Exception as e:  # lost again, no answer, or a reply we cannot read
                if not isinstance(e, (ConnectionError, TimeoutError)):
                    self.log.exception("registry_resume_failed", attempt=attempt)
                self._connection_lost(e, "resuming on the new connection failed", writer)
                await asyncio.sleep(next(delays))
                continue
            self._down = None
            self.reconnect_task = None
            self.log.info(
                "registry_reconnected",
                attempts=attempt,
                entries=len(self._records),
                watches=len(self._watches),
            )
            self._notify()
            return

    async def _resume(self) -> None:
        """Register again what this client holds, then resume every open watch."""
        for port, record in list(self._records.items()):
            try:
                reply = await self._send(
                    "register", service=record.service, port=port, user=record.user,
                    host=record.host,
                )  # fmt: skip
            except RegistryError as e:
                self._records.pop(port, None)
                self.log.warning(
                    "reregister_failed", port=port, service=record.service, error=str(e)
                )
            else:
                record.service = wire.entry_from_wire(reply).service
        for watch in list(self._watches.values()):
            if watch._resuming and not watch.ended:  # else: ended, or resumed by a failed try
                await self._resume_watch(watch)

    async def _resume_watch(self, watch: PortWatch) -> None:
        """Start ``watch`` again, under a new id, on the new connection."""
        if watch._id is not None:
            self._watches.pop(watch._id, None)
        rid = next(self._ids)
        self._watches[rid] = watch
        watch._id = rid
        q = watch.query
        try:
            await self._send("watch", rid, service=q.service, beginswith=q.beginswith, user=q.user)
        except RegistryError as e:
            self.log.warning("watch_resume_failed", watch=rid, error=str(e))
            watch._end(e)
            return
        if watch.ended:  # closed by its user meanwhile: stop it on the daemon too
            try:
                await self._send("unwatch", watch=rid)
            except RegistryError as e:
                self.log.debug("unwatch_failed", watch=rid, error=str(e))

    async def _read_loop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    self._connection_lost(
                        EOFError("registry closed the connection"), "registry went away", writer
                    )
                    return
                try:
                    self._dispatch(wire.parse_native_message(line))
                except ProtocolError as e:
                    self.log.warning("bad_registry_line", error=str(e), line=line[:80])
        except (ConnectionError, OSError, ValueError) as e:
            self._connection_lost(e, "connection to the registry failed", writer)

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
        return await self._send(op, rid, **fields)

    async def _send(self, op: str, rid: int | None = None, **fields: Any) -> dict[str, Any]:
        """Send on the current connection (also while it is being resumed)."""
        if self._error is not None:
            raise self._error()
        writer = self._writer
        if writer is None:
            assert self._down is not None
            raise self._down()
        if rid is None:
            rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieve)
        self._pending[rid] = fut
        try:
            writer.write(wire.native_request(op, rid, **fields))
            try:
                async with asyncio.timeout(self.timeout):
                    await writer.drain()
                    reply = await fut
            except TimeoutError:
                raise TimeoutError(
                    f"the registry did not answer {op!r} within {self.timeout} s"
                ) from None
            except ConnectionError as e:
                if isinstance(e, ConnectionClosedError):
                    raise
                self._connection_lost(e, "connection to the registry failed", writer)
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

    async def status(self) -> dict[str, Any]:
        """Return the daemon's state.

        Returns
        -------
        status : `dict`
            ``version``, ``pid``, ``entries`` (how many it holds) and
            ``cluster``: `None` if the daemon is not in a cluster, else its
            link's state (``stale``: the cluster view may be out of date,
            ``error``, ``endpoints``, ``advertise_host``, ``revision``...).
        """
        reply = await self._request("status")
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
        entry = wire.entry_from_wire(reply)
        self._records[entry.port] = _Record(entry.service, user)
        return entry

    async def get_port(self, service: str) -> int:
        """Get a port of the daemon's pool under ``service``; return the port.

        See `allocate` for the rules and errors.
        """
        return (await self.allocate(service)).port

    async def register(
        self, service: str, port: int, *, user: str | None = None, host: str | None = None
    ) -> PortEntry:
        """Advertise ``port``, which this program has already bound, as ``service``.

        ``host`` is the address peers should connect to, if not the one the
        daemon advertises for its host (e.g. a server bound to one interface
        of a host with several); it is recorded in the entry (`PortEntry.host`).

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
        reply = await self._request("register", service=service, port=port, user=user, host=host)
        entry = wire.entry_from_wire(reply)
        self._records[entry.port] = _Record(entry.service, user, host)
        return entry

    async def release(self, port: int) -> None:
        """Give back a port this client holds.

        With ``reconnect``, a port given to `release` is never registered again
        on a reconnection, whether the release succeeded or not.

        Raises
        ------
        UnknownPortError
            If nobody holds it.
        RegistryPermissionError
            If another client holds it.
        """
        try:
            await self._request("release", port=port)
        finally:  # whatever the outcome, a reconnection does not register it again
            self._records.pop(port, None)

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
