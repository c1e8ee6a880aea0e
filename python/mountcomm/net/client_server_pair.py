"""`ClientServerPair`: one outbound client stream plus one inbound server stream.

The pair composes a `ClientConnector` (the client connection: attempts,
retries, reconnection, its state machine) and a `OneClientServer` (the
server connection), funnels the typed changes of both to its listeners and
to ``connect_callback``, and keeps the attribute names of the original class.
"""

from __future__ import annotations

__all__ = ["ClientServerPair"]

import asyncio
from collections.abc import Iterator
from typing import Any

from .._lifecycle import AsyncResource
from ..log import get_logger
from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
    TcpKeepalive,
    coerce_keepalive,
    validate_user_timeout,
)
from .changes import Change, ChangeListener, ChangeListeners, ConnectionChange
from .client_state import ConnectorState
from .connector import ClientConnector, cancel_and_wait, link_options
from .discovery import Advertisement, ServiceRegistry
from .retry import DEFAULT_STABLE_CONNECTION_TIME, RetryPolicy
from .server import ConnectCallback, OneClientServer, call_connect_callback, finish_callbacks
from .streams import DEFAULT_STREAM_LIMIT


class ClientServerPair(AsyncResource):
    """A TCP client and a TCP server used together, as the mount protocol does.

    The mount controller talks to each peer over two sockets: a client socket
    that this side connects (and writes to) and a server socket the peer connects
    to (and this side reads from). This class owns both.

    Parameters
    ----------
    name : `str`
        Name for log messages.
    client_host : `str` or `None`
        Host the client connects to; `None`: localhost.
    client_port : `int`
        Port the client connects to; 0: not yet known (give it to `connect`).
    server_host : `str` or `None`
        Address the server listens on; `None`: all interfaces.
    server_port : `int`
        Port the server listens on; 0: the OS picks (see `wait_server_port`).
    log : `logging.Logger`, structlog logger or `None`
        Where to log.
    connect : `bool`, optional
        Start `connect` as `connect_task` at construction (needs a client port)?
    connect_callback : callable or `None`, optional
        ``connect_callback(pair)``, sync or async, called each time
        `client_connected` or `server_connected` changes. Exceptions are logged.
        Async callbacks run as tasks owned by the pair (see `close`).
    connect_timeout : `float` or `None`, keyword-only
        Limit for `connect` [s]; `None`: wait forever, as the original did.
    connect_retry_max : `float` or `None`, keyword-only
        Cap on the retry interval [s] when ``connect_retry_factor`` > 1.
    connect_retry_factor : `float`, keyword-only
        Growth of the retry interval after each failed attempt (1: constant).
    connect_retry_jitter : `float`, keyword-only
        Random fraction [0, 1] taken off each retry interval.
    stable_connection_time : `float`, keyword-only
        A client connection that lived at least this long [s] resets the retry
        delays; one that ended sooner (a peer that accepts and closes at once)
        counts as a failed attempt, so the next attempt waits the next delay.
        Default `DEFAULT_STABLE_CONNECTION_TIME` (1 s).
    limit : `int`, keyword-only
        Buffer limit of the stream readers [bytes].
    tcp_keepalive : `TcpKeepalive`, `float` or `None`, keyword-only
        TCP keepalive timings of both connections: a peer that vanishes without
        closing (power cut, cable pulled) is reported lost when the probes go
        unanswered, with or without traffic. A number is the idle time [s]
        (probes every third of it, 3 probes), as in older releases; `None`:
        off. Default `DEFAULT_TCP_KEEPALIVE` (a silent peer is lost within 5 s).
    tcp_user_timeout : `float` or `None`, keyword-only
        ``TCP_USER_TIMEOUT`` of both connections [s]: data written but not
        acknowledged for this long ends the connection (`read` and `write`
        then raise `ConnectionClosedError`; the callback runs). `None`: the
        kernel's default (about 15 minutes). Default `DEFAULT_TCP_USER_TIMEOUT`.
    registry : `PortRegistry` or `None`, keyword-only
        A connected port registry client (anything with the methods of
        `ServiceRegistry`), needed by ``server_service`` and ``client_service``.
        The pair does not close it.
    server_service : `str` or `None`, keyword-only
        Advertise the server's port under this name once it listens (see
        `advertise_task`); the pair releases it when it closes.
    client_service : `str` or `None`, keyword-only
        Find the client port by this name instead of ``client_port``: `connect`
        waits until the registry reports the service (driven by its watch: no
        polling), then connects; if the advertised port refuses, it waits for
        the next advertisement. ``client_port`` is set to the port found.
    auto_reconnect : `bool`, keyword-only
        When the client connection is lost (not by `close` or `close_client`),
        reconnect it in a background task (`reconnect_task`), through the
        registry when ``client_service`` is set (so a peer that restarts on
        another port is found again), else retrying ``client_port`` every
        `connect_retry_interval` (with the backoff settings). It runs until
        it succeeds or the pair is closed. Default False: stay disconnected.

    Attributes
    ----------
    name, client_host, client_port, log, connect_callback
        As given (``client_port`` is updated by ``connect(port=...)``).
    connect_retry_interval : `float`
        Interval between connection attempts [s] (class default 0.1).
    client_reader, client_writer : asyncio streams or `None`
        The client connection's streams (`None` before the first connection).
    server_reader, server_writer : asyncio streams or `None`
        The server connection's streams (`None` before the first connection).
    start_task : `asyncio.Task`
        Done when the server listens.
    client_connected_task : `asyncio.Future`
        Done when the client first connects (never replaced; see
        `wait_connected` for later connections).
    connect_task : `asyncio.Task`
        The `connect` started at construction (only if ``connect`` is true).
    registry, server_service, client_service, auto_reconnect
        As given.
    tcp_keepalive : `TcpKeepalive` or `None`
        The keepalive timings in use.
    tcp_user_timeout : `float` or `None`
        The ``TCP_USER_TIMEOUT`` in use [s].
    advertise_task : `asyncio.Task` or `None`
        With ``server_service``: done when the server's port is advertised; its
        result is the registry's `PortEntry` (whose service may carry a ``_N``
        suffix); it fails with `OSError` if the server cannot listen, or with
        the registry's error (logged). `None` without ``server_service``.
    reconnect_task : `asyncio.Task` or `None`
        The reconnection under way with ``auto_reconnect``, else `None`.

    Notes
    -----
    Must be constructed with a running event loop. Connection loss is noticed at
    once (no polling), whether or not anyone is reading.

    The pair is a `ClientConnector` (the client side, whose state is the
    machine of `mountcomm.net.client_state`, see `client_state`) and a
    `OneClientServer`, with the compatibility API on top. Every connection
    attempt, explicit or automatic, refuses a connection that is already
    lost when it is made (the peer accepted and closed at once) or that
    reached its own socket (`SelfConnectionError`): both count as failed
    attempts, logged, and are retried after the backoff delay. Every way a
    client connection ends goes through one funnel that logs it, updates the
    state and starts the reconnection.

    Changes of either side are reported as `ConnectionChange` (with the
    first cause of an end) to the listeners of `add_change_listener`, then
    to ``connect_callback`` (the compatibility adapter). Errors raised
    because a connection ended are chained to its cause.

    Shutdown (`close`): (1) cancel `connect_task`, any connection attempt,
    `reconnect_task` and `advertise_task`, (2) release the advertised port, so
    that peers see it go before the connections drop, (3) close the client
    and the server connection (both in one loop iteration), then (4) close
    the server, (5) let async callbacks finish (bounded by
    `CALLBACK_GRACE`), cancel the rest.
    """

    connect_retry_interval = 0.1
    """Interval between client connection attempts [s]."""

    def __init__(
        self,
        name: str,
        client_host: str | None,
        client_port: int,
        server_host: str | None,
        server_port: int,
        log: Any,
        connect: bool = True,
        connect_callback: ConnectCallback | None = None,
        *,
        connect_timeout: float | None = None,
        connect_retry_max: float | None = None,
        connect_retry_factor: float = 1.0,
        connect_retry_jitter: float = 0.0,
        stable_connection_time: float = DEFAULT_STABLE_CONNECTION_TIME,
        limit: int = DEFAULT_STREAM_LIMIT,
        tcp_keepalive: TcpKeepalive | float | None = DEFAULT_TCP_KEEPALIVE,
        tcp_user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
        registry: ServiceRegistry | None = None,
        server_service: str | None = None,
        client_service: str | None = None,
        auto_reconnect: bool = False,
    ) -> None:
        loop = asyncio.get_running_loop()
        # Validate before anything starts (the server binds at once).
        if registry is None and (server_service or client_service):
            raise ValueError(f"{name}: server_service and client_service need a registry")
        if connect and not client_port and not client_service:
            raise ValueError(
                f"{name}: connect=True needs a nonzero client_port or a client_service; "
                "use connect=False and call connect(port=...) later"
            )
        self.name = name
        self.client_host = client_host
        self.client_port = client_port
        self.client_service = client_service
        self.registry = registry
        self.auto_reconnect = auto_reconnect
        self.log = get_logger(log, f"{type(self).__name__}({name})")
        self.connect_callback = connect_callback
        self.connect_timeout = connect_timeout
        self.connect_retry_max = connect_retry_max
        self.connect_retry_factor = connect_retry_factor
        self.connect_retry_jitter = connect_retry_jitter
        # Validate the retry settings now rather than at the first failure.
        next(self._retry_delays())
        self.tcp_keepalive = coerce_keepalive(tcp_keepalive)
        self.tcp_user_timeout = validate_user_timeout(tcp_user_timeout)
        self.server_service = server_service
        # Async callbacks running (a set only when there is a callback).
        self._callback_tasks: set[asyncio.Future[Any]] | None = (
            None if connect_callback is None else set()
        )
        self._listeners = ChangeListeners(self.log)
        self._cause: BaseException | None = None  # why the last connection ended
        self._connector = ClientConnector(
            name,
            self.log,
            self._report,
            make_delays=self._retry_delays,
            stable_time=stable_connection_time,
            options=link_options(limit, self.tcp_keepalive, self.tcp_user_timeout),
            target=self,
        )
        self._server = OneClientServer(
            name=name,
            host=server_host,
            port=server_port,
            log=log,
            limit=limit,
            tcp_keepalive=self.tcp_keepalive,
            tcp_user_timeout=self.tcp_user_timeout,
        )
        self._server.add_change_listener(self._server_changed)
        self.start_task = self._server.start_task
        self._advertisement: Advertisement | None = None
        self.advertise_task: asyncio.Task[Any] | None = None
        if server_service and registry is not None:
            self._advertisement = Advertisement(registry, server_service, self.log)
            self.advertise_task = self._advertisement.start(self.start_task, self._server_port)
        if connect:
            self.connect_task: asyncio.Task[None] = loop.create_task(self.connect())
            self.connect_task.add_done_callback(self._connect_task_done)

    @property
    def reconnect_task(self) -> asyncio.Task[None] | None:
        """The reconnection under way with ``auto_reconnect``, else `None`."""
        return self._connector.reconnect_task

    @property
    def client_connected_task(self) -> asyncio.Future[None]:
        """Done when the client first connects (never replaced)."""
        return self._connector.connected_task

    @property
    def connector(self) -> ClientConnector:
        """The `ClientConnector` of the client connection."""
        return self._connector

    @property
    def client_state(self) -> ConnectorState:
        """The state of the client connection (see `ConnectorState`)."""
        return self._connector.state

    @property
    def client_connected(self) -> bool:
        """True while the client is connected."""
        return self._connector.connected

    @property
    def server_connected(self) -> bool:
        """True while a peer is connected to the server."""
        return self._server.connected

    @property
    def connected(self) -> bool:
        """True while both the client and the server are connected."""
        return self._connector.connected and self._server.connected

    @property
    def client_reader(self) -> asyncio.StreamReader | None:
        """The client connection's reader, or `None`."""
        link = self._connector.link
        return link.reader if link is not None else None

    @property
    def client_writer(self) -> asyncio.StreamWriter | None:
        """The client connection's writer, or `None`."""
        link = self._connector.link
        return link.writer if link is not None else None

    @property
    def server_reader(self) -> asyncio.StreamReader | None:
        """The server connection's reader, or `None`."""
        return self._server.reader

    @property
    def server_writer(self) -> asyncio.StreamWriter | None:
        """The server connection's writer, or `None`."""
        return self._server.writer

    @property
    def server_host(self) -> str | None:
        """Address the server listens on (`None`: all interfaces)."""
        return self._server.host

    @property
    def server_port(self) -> int:
        """Port the server listens on (0 until it has started, if 0 was asked)."""
        return self._server.port

    @property
    def server(self) -> OneClientServer:
        """The underlying server."""
        return self._server

    @property
    def cause(self) -> BaseException | None:
        """Why the last connection (client or server) ended: its first cause.

        `None` if no connection has ended by a failure or by the peer. Errors
        raised because a connection ended are chained to it.
        """
        return self._cause

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(change)`` for every later `ConnectionChange` (plain function).

        Listeners run in the order added, before ``connect_callback``;
        exceptions are logged, never raised.
        """
        self._listeners.add(listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        """Stop calling ``listener``; nothing happens if it is not registered."""
        self._listeners.remove(listener)

    def _report(self, change: ConnectionChange) -> None:
        """Tell the listeners, then (the compatibility adapter) ``connect_callback``."""
        if change.cause is not None:
            self._cause = change.cause
        self._connection_changed(change)
        self._listeners.emit(change)
        if change.calls_back:
            self.call_connect_callback()

    def _connection_changed(self, change: ConnectionChange) -> None:
        """A subclass's part of a connection going up or lost, before the listeners."""

    def _server_changed(self, change: ConnectionChange) -> None:
        if change.kind is not Change.CLOSED:  # the pair reports its own CLOSED
            self._report(change)

    def call_connect_callback(self, *args: Any, **kwargs: Any) -> None:
        """Call `connect_callback` with this pair; never raises. Arguments are ignored."""
        callback = self.connect_callback
        if callback is not None:
            if self._callback_tasks is None:
                self._callback_tasks = set()
            call_connect_callback(callback, self, self.log, self._callback_tasks)

    def _server_port(self) -> int:
        return self._server.port

    def _connect_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("connect_failed", error=repr(task.exception()))

    async def start(self) -> None:
        """Wait until the server listens (``async with`` calls it).

        Raises
        ------
        OSError
            If the server could not bind its address.
        """
        await self.wait_server_port()

    async def wait_server_port(self) -> int:
        """Wait until the server listens; return its port.

        Raises
        ------
        OSError
            If the server could not bind its address.
        """
        await asyncio.shield(self.start_task)
        return self._server.port

    def _retry_delays(self) -> Iterator[float]:
        return RetryPolicy(
            self.connect_retry_interval,
            factor=self.connect_retry_factor,
            maximum=self.connect_retry_max,
            jitter=self.connect_retry_jitter,
        ).delays()

    async def connect(self, port: int | None = None) -> None:
        """Connect the client (retrying), then wait for a peer on the server.

        Any previous client connection is closed first, so this may be called
        again after a disconnect to reconnect.

        Parameters
        ----------
        port : `int` or `None`, optional
            Client port; `None`: use `client_port`, or the registry when
            ``client_service`` is set.

        Raises
        ------
        ValueError
            If no client port is known, or ``port`` is given with a
            ``client_service``.
        TimeoutError
            If ``connect_timeout`` was given and expired.
        ConnectionClosedError
            If the pair is closed meanwhile (chained to `cause`).
        RuntimeError
            If another `connect` or `connect_client` is under way.

        Notes
        -----
        Without ``connect_timeout`` this waits forever, retrying every
        `connect_retry_interval` (refused connections, unresolvable hosts,
        hosts whose every address refuses, self-connections and connections
        closed by the peer at once are all retried). With ``client_service``
        the connection is made the moment the registry reports the service.
        """
        if port is not None:
            if self.client_service:
                raise ValueError(
                    f"{self.name}: connect(port={port}) conflicts with "
                    f"client_service={self.client_service!r}"
                )
            self.client_port = port
        if not self.client_port and not self.client_service:
            raise ValueError(f"{self.name}: client_port={self.client_port!r} must be nonzero")
        async with asyncio.timeout(self.connect_timeout):
            await self.connect_client()
            await self.wait_connected()

    async def connect_client(self) -> None:
        """Connect only the client, retrying until it succeeds (see `connect`).

        Cancel-safe: cancelling stops the attempts; a connection already made
        stays. Raises as `ClientConnector.connect`.
        """
        await self._connector.connect()

    async def wait_connected(self) -> None:
        """Wait until both the client and the server are connected.

        Returns at once if they are. While the client is being connected
        (`connect_client` or ``auto_reconnect`` under way) this waits for it.
        Cancel-safe.

        Raises
        ------
        RuntimeError
            If the client was never connected and nothing is connecting it
            (call `connect` first).
        ConnectionClosedError
            If the client connection was lost and nothing will reconnect it, or
            the pair is closed while waiting; chained to the first cause of the
            end.
        """
        await self._connector.wait_connected()
        await self._server.wait_connected()

    async def close_client(self) -> None:
        """Close the client connection. Idempotent. Does **not** call the callback.

        Also stops a connection attempt or reconnection under way (their
        callers get `ConnectionClosedError`). Listeners get a local
        ``CLIENT_LOST`` if the client was connected.
        """
        await self._connector.close_client()

    def abort_client(self, cause: BaseException | None = None) -> None:
        """Reset the client connection at once, discarding what is not yet delivered.

        The socket is closed with a TCP reset (RST) rather than a FIN (see
        `Link.abort`), so bytes still queued in the transport or the kernel are
        dropped instead of sent. The loss then takes the ordinary path
        (``CLIENT_LOST`` change and callback; ``auto_reconnect`` reconnects).
        Does nothing if the client is not connected.

        Parameters
        ----------
        cause : `BaseException` or `None`, optional
            Why the connection is reset: recorded as the cause of its end.
            `None`: a `ConnectionAbortedError` saying that `abort_client` reset it.
        """
        if cause is None:
            cause = ConnectionAbortedError(f"{self.name}: client reset by abort_client()")
        self._connector.abort(cause)

    async def close(self) -> None:
        """Close the client and the server. Idempotent and safe at any moment.

        See the numbered shutdown steps in the class notes; the server's
        ``done_task`` is set at the end.
        """
        connector = self._connector
        if connector.state is ConnectorState.CLOSED:
            await self._server.done_task
            return
        client_was_up = connector.begin_close()
        try:
            current = asyncio.current_task()
            connect_task = getattr(self, "connect_task", None)
            for task in (connect_task, self.advertise_task):
                if task is not None and task is not current:
                    await cancel_and_wait(task)
            await connector.stop_attempts()
            if self._advertisement is not None:
                await self._advertisement.withdraw()
        finally:
            # Both connections close in one step (the client's at the start of
            # finish_close, once no attempt is under way); the waits come after.
            self._server.begin_close()
            await connector.finish_close(client_was_up)
            await self._server.close()
            self._listeners.emit(ConnectionChange(Change.CLOSED, self._cause, local=True))
            if self._callback_tasks:
                await finish_callbacks(self._callback_tasks)

    @property
    def done_task(self) -> asyncio.Future[None]:
        """Done when the pair has been closed."""
        return self._server.done_task

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, client={self.client_host}:"
            f"{self.client_port}, server={self.server_host}:{self.server_port}, "
            f"client_state={self.client_state.name}, server_connected={self.server_connected})"
        )
