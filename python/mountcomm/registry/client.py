"""Async client of the port registry (native dialect, one connection at a time).

::

    async with PortRegistry("127.0.0.1", 30000) as registry:
        port = await registry.get_port("mount_csc")          # from the pool
        await registry.register("mount_csc_reply", server_port)  # a port-0 server's port
        peer = await registry.wait_for("mount_pxi", timeout=10)  # as soon as advertised
        async with registry.watch(service="mount_pxi") as events:
            async for event in events:                           # PortEvent
                ...

The client's life is an explicit state machine (`State`, `TRANSITIONS`); every
end of a connection goes through one funnel, `PortRegistry._teardown`. Its
parts know nothing of this class (doc/registry.md, "Modules", says which does
what); the watches see it through the `Channel` interface of `watch`.
"""

from __future__ import annotations

__all__ = ["ANY_USER", "TRANSITIONS", "PortRegistry", "PortWatch", "State", "reconnect_delays"]

import asyncio
import itertools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .. import log as mlog
from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError
from . import native
from .connection import NativeConnection
from .entries import EventKind, PortEntry, Query
from .resume import Record, Resumer, reconnect_delays
from .state import ANY_USER, TRANSITIONS, Cause, Event, Machine, State, trust
from .watch import PortWatch, WatchSet

R = TypeVar("R", bound=native.Reply)

_CLOSED = Cause(None, "PortRegistry was closed", final=True)
"""The cause of an end by `PortRegistry.close`."""


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
    trusted_users : collection of `str`, or `ANY_USER`
        Whose entries lookups made in order to connect (`watch`, `wait_for`,
        and so the network classes' ``client_service=`` / ``command_service=``)
        accept besides this process's own user and root. Owners are the users
        the daemon verified from the kernel, never the names clients claim.
        `ANY_USER` (``"*"``): every owner. See doc/registry.md, "Trust".
    log : logger, optional
        `logging.Logger`, structlog logger or `None`.

    Attributes
    ----------
    state : `State`
        Where the client is in its life.
    reconnect_task : `asyncio.Task` or `None`
        The background task that reconnects, while it runs (owned by this
        client; `close` cancels it).
    watches : `WatchSet`
        The open watches (``len(registry.watches)`` is how many).

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
      address, at once (if the lost connection had lived
      `mountcomm.registry.resume.STABLE_AFTER` seconds; else after the next
      delay) and then after each delay of `reconnect_delays` (no
      autostart), until it succeeds or `close` is called. A connection that
      turns out to reach its own socket is closed, logged once and retried. Once connected, it
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
        trusted_users: Iterable[str] | str = (),
        log: Any = None,
    ) -> None:
        self.host = host
        self.port = port
        self.unix_socket = unix_socket
        self.timeout = timeout
        self.autostart = autostart
        self.reconnect = reconnect
        self.trusted_users = trust(trusted_users)
        self.reconnect_task: asyncio.Task[None] | None = None
        self.log = mlog.get_logger(log, "PortRegistry", port=port)
        self._machine = Machine()
        self._cause: Cause | None = None  # why the last connection ended
        self._conn: NativeConnection | None = None
        self._ids = itertools.count(1)
        self.watches = WatchSet(self)
        self._resumer = Resumer(self.log)
        self._changed = asyncio.Event()  # set and replaced when `state` changes
        self._connect_lock = asyncio.Lock()

    # ---- state ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the client is in its life (see `State`)."""
        return self._machine.state

    @property
    def connected(self) -> bool:
        """True while the connection is up (and, after a reconnection, resumed)."""
        return self.state is State.CONNECTED

    def _handle(self, event: Event) -> None:
        """Take ``event``: its `Machine` is the only writer of the state; wake the waiters."""
        old = self.state
        if self._machine.handle(event) is not old:
            self._changed.set()
            self._changed = asyncio.Event()

    def _unavailable(self) -> ConnectionClosedError:
        """The error of a call made while not connected (after a first connection)."""
        cause = self._cause or _CLOSED
        if self.state is State.CLOSED:
            return cause.exception()
        return cause.exception("; reconnecting")

    # ---- connection -------------------------------------------------------------------

    async def _open(self) -> NativeConnection:
        """Make a connection to the daemon, its loss reported to `_teardown` from the start."""
        return await NativeConnection.open(
            self.host,
            self.port,
            self.unix_socket,
            timeout=self.timeout,
            on_lost=self._on_lost,
            on_event=self.watches.deliver,
            log=self.log,
        )

    async def _open_first(self) -> NativeConnection:
        """`_open`, retrying only a self-connection, with backoff, within ``timeout``."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._resumer.connect(self._open, retry=())
        except TimeoutError:
            where = self.unix_socket or f"{self.host}:{self.port}"
            raise TimeoutError(
                f"could not connect to the registry at {where} within {self.timeout} s"
            ) from None

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
            state = self.state
            if state is State.CONNECTED:
                return
            if state is not State.IDLE:
                raise self._unavailable()
            self._handle(Event.CONNECT)
            try:
                conn = await self._connect_or_autostart()
            except BaseException:
                if self.state is State.CONNECTING:  # (else: closed meanwhile)
                    self._handle(Event.CONNECT_FAILED)
                raise
            if self.state is not State.CONNECTING:  # closed meanwhile
                await conn.close()
                raise self._unavailable()
            self._conn = conn
            self._handle(Event.CONNECTED)
            self.log.debug("registry_connected", host=self.host, unix_socket=self.unix_socket)

    async def _connect_or_autostart(self) -> NativeConnection:
        try:
            return await self._open_first()
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
            return await self._open_first()

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
        while self.state in (State.RECONNECTING, State.RESUMING, State.CONNECTING):
            await self._changed.wait()
        await self.connect()

    async def _reconnect(self) -> None:
        """Connect again, register again, resume the watches; retry until it works.

        Runs as `reconnect_task`; `close` cancels it.
        """
        resumer = self._resumer
        while True:
            conn = await resumer.connect(self._open)
            if self.state is not State.RECONNECTING:
                await conn.close()
                return  # closed meanwhile
            self._conn = conn
            self._handle(Event.RECONNECTED)
            try:
                await resumer.reregister(self._send)
                await self.watches.resume(self._send)
            except Exception as e:  # lost again, no answer, or a reply we cannot read
                if not isinstance(e, (ConnectionError, TimeoutError)):
                    self.log.exception("registry_resume_failed", attempt=resumer.attempts)
                conn.lost(e, "resuming on the new connection failed")
                continue
            if conn.ended:
                continue  # lost at the last moment: its teardown asked for this loop
            break
        self.reconnect_task = None
        self._cause = None
        self._handle(Event.CONNECTED)
        self.log.info(
            "registry_reconnected",
            attempts=resumer.attempts,
            entries=len(resumer.records),
            watches=len(self.watches),
        )

    # ---- the one way to end -------------------------------------------------------------

    def _on_lost(self, conn: NativeConnection, cause: BaseException, message: str) -> None:
        if conn is self._conn:  # else: an older connection, already torn down
            self._teardown(Cause(cause, message))

    def _teardown(self, cause: Cause) -> NativeConnection | None:
        """End the current connection: every waiter fails, then reconnect or close.

        The single path for every end (peer EOF, read or write error, a failed
        resume, `close`). It records the cause, detaches and ends the
        connection (failing its pending requests), then either goes to
        ``RECONNECTING`` (``reconnect`` and not final: watches are suspended
        and ``reconnect_task`` started) or to ``CLOSED`` (watches end with the
        error; ``reconnect_task`` is cancelled). Idempotent once closed.

        Returns
        -------
        conn : `NativeConnection` or `None`
            The connection it detached (for `close` to wait on).
        """
        if self.state is State.CLOSED:
            return None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.lost(cause.error or cause.exception(), cause.message)  # no-op if it ended
            self._resumer.connection_lost(conn)
        final = cause.final or not self.reconnect or self.state in (State.IDLE, State.CONNECTING)
        self._cause = cause
        if cause.error is not None and (final or self.state is State.CONNECTED):
            lost = {"reason": cause.message, "error": repr(cause.error), "reconnecting": not final}
            self.log.info("registry_connection_lost", **lost)
        if final:
            self._handle(Event.CLOSE)
            self.watches.end(cause.exception)
            task = self.reconnect_task
            if task is not None and task is not asyncio.current_task():
                task.cancel()
            return conn
        self._handle(Event.LOST)
        self.watches.suspend()
        if self.reconnect_task is None or self.reconnect_task.done():
            self.reconnect_task = asyncio.create_task(
                self._reconnect(), name="PortRegistry.reconnect"
            )
        return conn

    async def close(self) -> None:
        """Close the connection, releasing everything it holds (idempotent).

        Pending calls raise `ConnectionClosedError`; watches stop; a
        reconnection in progress is cancelled and waited for.
        """
        conn = self._teardown(_CLOSED)
        task, self.reconnect_task = self.reconnect_task, None
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait({task})
        if conn is not None:
            await conn.close()

    async def start(self) -> None:
        """Connect (as `connect`, which a subclass may extend); ``async with`` calls it."""
        await self.connect()

    # ---- requests ---------------------------------------------------------------------

    async def request(
        self,
        request: native.Request[R],
        *,
        on_reply: Callable[[int, R], None] | None = None,
    ) -> R:
        """Send a native request (connecting first if need be); return its typed reply.

        The methods below are made of it. The request's ``id`` is replaced by
        the next id of this client.

        Parameters
        ----------
        request : `mountcomm.registry.native.Request`
            E.g. ``native.Find(service="x")``.
        on_reply : callable (`int`, reply) -> `None`, optional
            Called with the id and the reply from the read loop, before the
            caller resumes and before the next line is read (so a watch's
            snapshot comes before its first event).

        Raises
        ------
        ConnectionClosedError, TimeoutError, RegistryError
            As every call (see the class Notes).
        ProtocolError
            If the reply is not a valid reply to ``request``.
        """
        await self.connect()
        return await self._send(request, on_reply=on_reply)

    async def _send(
        self,
        request: native.Request[R],
        *,
        on_reply: Callable[[int, R], None] | None = None,
    ) -> R:
        """Send on the current connection (also while it is being resumed)."""
        conn = self._conn
        if conn is None or self.state is State.CLOSED:
            raise self._unavailable()
        return await conn.request(request, next(self._ids), on_reply)

    async def ping(self) -> native.PingReply:
        """Check the daemon answers; return what it says about itself and us.

        Returns
        -------
        info : `mountcomm.registry.native.PingReply`
            ``version``, ``pid`` (the daemon's), ``local`` (are we on its host),
            ``user`` and ``uid`` (who the daemon thinks we are; `None` if unknown).
        """
        return await self.request(native.Ping())

    async def status(self) -> native.StatusReply:
        """Return the daemon's state.

        Returns
        -------
        status : `mountcomm.registry.native.StatusReply`
            ``version``, ``pid``, ``entries`` (how many it holds) and
            ``cluster``: `None` if the daemon is not in a cluster, else its
            link's state (a `mountcomm.registry.native.ClusterStatus`:
            ``stale``, the cluster view may be out of date; ``error``,
            ``endpoints``, ``advertise_host``, ``revision``...).
        """
        return await self.request(native.Status())

    async def allocate(self, service: str, *, user: str | None = None) -> PortEntry:
        """Get a port of the daemon's pool under ``service``; return the entry.

        The entry's service has ``_1``, ``_2``... appended if this user already
        holds ``service`` on a lower port (names are worked out at each look,
        as the NSCL port manager does). A ``user`` that differs from the
        credentials is recorded as claimed; the owner is the verified user.

        Raises
        ------
        PoolExhaustedError
            If no port of the pool is free.
        RegistryPermissionError
            If this client is not on the daemon's host.
        """
        entry = (await self.request(native.Allocate(service, user))).entry
        self._resumer.records[entry.port] = Record(entry.service, user)
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
            If this client is not on the daemon's host.
        """
        entry = (await self.request(native.Register(service, port, user, host=host))).entry
        self._resumer.records[entry.port] = Record(entry.service, user, host)
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
            await self.request(native.Release(port))
        finally:  # whatever the outcome, a reconnection does not register it again
            self._resumer.records.pop(port, None)

    async def terminate(self) -> None:
        """Ask the daemon to shut down (only its own user or root may).

        Returns once the daemon has accepted; it then closes every connection,
        this one included.
        """
        await self.request(native.Terminate())

    # ---- lookups (`watch` and `wait_for` accept only trusted owners: see `watch`) ----

    async def list_ports(self) -> list[PortEntry]:
        """Return every entry, sorted by port."""
        return list((await self.request(native.ListPorts())).entries)

    async def find(
        self,
        service: str | None = None,
        beginswith: str | None = None,
        user: str | None = None,
    ) -> list[PortEntry]:
        """Return the entries matching every given criterion, sorted by port."""
        reply = await self.request(native.Find(service, beginswith, user))
        return list(reply.entries)

    def watch(
        self,
        service: str | None = None,
        beginswith: str | None = None,
        user: str | None = None,
        *,
        initial: bool = True,
        max_queue: int = 10_000,
        trusted_users: Iterable[str] | str | None = None,
    ) -> PortWatch:
        """Return a `PortWatch` of the entries matching every given criterion.

        ``async with registry.watch(service="x") as events: async for e in events``.
        The watch starts on entering the context (or on the first iteration);
        with ``initial`` the existing entries come first as ``added`` events
        flagged ``initial``. There is no gap: every change after the snapshot
        is reported, in order.

        A watch is a lookup made in order to connect: it sees only entries
        whose verified owner is this process's user, root, or one of
        ``trusted_users`` (default: the client's ``trusted_users``;
        `ANY_USER`: every owner). An entry of an untrusted user is never
        reported, even when it holds the name on a lower port.

        Raises
        ------
        TypeError
            If ``trusted_users`` is a single string other than `ANY_USER`.
        """
        trusted = self.trusted_users if trusted_users is None else trust(trusted_users)
        return PortWatch(
            self.watches, Query(service, beginswith, user), initial, max_queue, trusted
        )

    async def wait_for(
        self,
        service: str,
        timeout: float | None = None,
        *,
        user: str | None = None,
        trusted_users: Iterable[str] | str | None = None,
    ) -> int:
        """Return the port of ``service`` as soon as it is advertised.

        Only entries of trusted owners count (see `watch`): where several
        users hold the name, the trusted entry is chosen, an untrusted one
        never is.

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
        trusted_users : collection of `str`, `ANY_USER` or `None`
            As for `watch`.

        Raises
        ------
        TimeoutError
            If it is not advertised within ``timeout``.
        ConnectionClosedError
            If the connection is lost meanwhile.
        """
        try:
            async with asyncio.timeout(timeout):
                watch = self.watch(service=service, user=user, trusted_users=trusted_users)
                async with watch as events:
                    async for event in events:
                        if event.kind is EventKind.ADDED:
                            return event.port
        except TimeoutError:
            raise TimeoutError(
                f"service {service!r} was not advertised within {timeout} s"
            ) from None
        raise ConnectionClosedError("the watch ended before the service was advertised")
