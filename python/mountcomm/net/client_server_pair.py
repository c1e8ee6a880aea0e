"""`ClientServerPair`: one outbound client stream plus one inbound server stream."""

from __future__ import annotations

__all__ = ["ClientServerPair"]

import asyncio
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError, SelfConnectionError
from ..log import get_logger
from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
    TcpKeepalive,
    coerce_keepalive,
    validate_user_timeout,
)
from .changes import Change, ChangeListener, ChangeListeners, ConnectionChange, describe_cause
from .client_state import ConnectorEvent, ConnectorMachine, ConnectorState
from .discovery import (
    Advertisement,
    ServiceRegistry,
    connect_service,
    registry_host,
)
from .pair_policy import loss_event, should_log_attempt
from .retry import DEFAULT_STABLE_CONNECTION_TIME, RetryDelays, backoff
from .server import ConnectCallback, OneClientServer, call_connect_callback, finish_callbacks
from .streams import DEFAULT_STREAM_LIMIT, Link, open_link

LOCALHOST = "localhost"


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

    The client side is a state machine (`client_state`, see
    `ConnectorState`, `mountcomm.net.client_state`). Every connection attempt, explicit or
    automatic, refuses a connection that is already lost when it is made (the
    peer accepted and closed at once) or that reached its own socket
    (`SelfConnectionError`): both count as failed attempts, logged, and are
    retried after the backoff delay. Every way a client connection ends goes
    through one funnel that logs it, updates the state and starts the
    reconnection.

    Shutdown (`close`): (1) cancel `connect_task`, any connection attempt,
    `reconnect_task` and `advertise_task`, (2) release the advertised port, so
    that peers see it go before the connections drop, (3) close the client,
    (4) close the server, (5) let async callbacks finish (bounded by
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
        self.log = get_logger(log, f"{type(self).__name__}({name})")
        self.connect_callback = connect_callback
        self.connect_timeout = connect_timeout
        self.connect_retry_max = connect_retry_max
        self.connect_retry_factor = connect_retry_factor
        self.connect_retry_jitter = connect_retry_jitter
        # Validate the retry settings now rather than at the first failure.
        next(self._retry_delays())
        self._delays = RetryDelays(self._retry_delays, stable_connection_time)
        self._limit = limit
        self.tcp_keepalive = coerce_keepalive(tcp_keepalive)
        self.tcp_user_timeout = validate_user_timeout(tcp_user_timeout)
        self.registry = registry
        self.server_service = server_service
        self.client_service = client_service
        self.auto_reconnect = auto_reconnect
        self.reconnect_task: asyncio.Task[None] | None = None
        self._attempt_task: asyncio.Task[None] | None = None  # the connection attempts
        self._client: Link | None = None
        self._connected_at = 0.0
        self._self_connections = 0  # self-connections refused since the last connection
        self._machine = ConnectorMachine()  # the only writer of the client state
        self._state_changed: asyncio.Future[None] = loop.create_future()
        self._callback_tasks: set[asyncio.Future[Any]] = set()
        self._listeners = ChangeListeners(self.log)
        self._cause: BaseException | None = None  # why the last connection ended
        self.client_connected_task: asyncio.Future[None] = loop.create_future()
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
            self.advertise_task = loop.create_task(self._advertise(self._advertisement))
            self.advertise_task.add_done_callback(self._advertise_done)
        if connect:
            self.connect_task: asyncio.Task[None] = loop.create_task(self.connect())
            self.connect_task.add_done_callback(self._connect_task_done)

    # --- state -------------------------------------------------------------------

    @property
    def client_state(self) -> ConnectorState:
        """The state of the client connection (see `ConnectorState`)."""
        return self._machine.state

    @property
    def client_connected(self) -> bool:
        """True while the client is connected."""
        return (
            self._state is ConnectorState.CONNECTED
            and self._client is not None
            and self._client.is_open
        )

    @property
    def server_connected(self) -> bool:
        """True while a peer is connected to the server."""
        return self._server.connected

    @property
    def connected(self) -> bool:
        """True while both the client and the server are connected."""
        return self.client_connected and self._server.connected

    @property
    def client_reader(self) -> asyncio.StreamReader | None:
        """The client connection's reader, or `None`."""
        return self._client.reader if self._client is not None else None

    @property
    def client_writer(self) -> asyncio.StreamWriter | None:
        """The client connection's writer, or `None`."""
        return self._client.writer if self._client is not None else None

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

    @property
    def _state(self) -> ConnectorState:
        return self._machine.state

    def _handle(self, event: ConnectorEvent) -> ConnectorState:
        """Send ``event`` to the state machine; wake `wait_connected`; return the state."""
        state = self._machine.handle(event)
        changed = self._state_changed
        self._state_changed = asyncio.get_running_loop().create_future()
        changed.set_result(None)
        return state

    # --- callbacks -----------------------------------------------------------------

    def call_connect_callback(self, *args: Any, **kwargs: Any) -> None:
        """Call `connect_callback` with this pair; never raises. Arguments are ignored."""
        call_connect_callback(self.connect_callback, self, self.log, self._callback_tasks)

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(change)`` for every later `ConnectionChange` (plain function).

        Changes: ``CLIENT_UP``, ``CLIENT_LOST`` and ``SERVER_UP``,
        ``SERVER_LOST`` (with the first cause of the end), ``CLOSED``.
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
        self._listeners.emit(change)
        if change.calls_back:
            self.call_connect_callback()

    def _server_changed(self, change: ConnectionChange) -> None:
        if change.kind is Change.CLOSED:
            return  # the pair reports its own CLOSED when it is closed
        self._on_server_changed()
        self._report(change)

    def _on_server_changed(self) -> None:
        """Hook for subclasses: the server connection was made or lost."""

    def _on_client_connected(self) -> None:
        """Hook for subclasses: a new client connection is up (before the callback)."""

    def _client_lost(self, link: Link) -> None:
        if link is self._client and self._state is ConnectorState.CONNECTED:
            self._teardown(link.cause, by_peer=True)

    def _teardown(self, cause: BaseException | None, *, by_peer: bool) -> None:
        """End the client connection: the one way it ends (peer, `close_client`, `close`).

        Records the connection's lifetime for the retry delays, closes the
        link, moves to the next state and, when the peer ended it, logs, calls
        the callback and (``auto_reconnect``) starts `reconnect_task`.
        """
        link = self._client
        if link is None:
            return
        was_connected = self._state is ConnectorState.CONNECTED
        loop = asyncio.get_running_loop()
        lifetime = loop.time() - self._connected_at
        if was_connected:
            self._delays.connection_ended(self.client_port, lifetime)
        link.on_lost = None
        link.close()
        if not by_peer:
            if was_connected:
                self._handle(ConnectorEvent.STOP)
                self._report(ConnectionChange(Change.CLIENT_LOST, None, local=True))
            return
        self.log.info(
            "client_disconnected", error=describe_cause(cause), lifetime=round(lifetime, 3)
        )
        state = self._handle(loss_event(self.auto_reconnect))
        self._report(ConnectionChange(Change.CLIENT_LOST, cause))
        if state is ConnectorState.RECONNECTING and self._state is ConnectorState.RECONNECTING:
            task = loop.create_task(self._reconnect())
            self.reconnect_task = self._attempt_task = task

    async def _reconnect(self) -> None:
        """Reconnect the client after a loss (the body of `reconnect_task`)."""
        self.log.info("client_reconnecting", port=self.client_port, service=self.client_service)
        try:
            await self._attempts()
        except Exception as e:
            if self._state is not ConnectorState.CLOSED:  # e.g. the registry connection was lost
                self.log.error("reconnect_failed", error=repr(e))
        finally:
            if self.reconnect_task is asyncio.current_task():
                self.reconnect_task = None

    async def _advertise(self, advertisement: Advertisement) -> Any:
        await asyncio.shield(self.start_task)
        return await advertisement.register(self._server.port)

    def _advertise_done(self, task: asyncio.Task[Any]) -> None:
        if (
            not task.cancelled()
            and task.exception() is not None
            and self._state is not ConnectorState.CLOSED
        ):
            self.log.error(
                "advertise_failed", service=self.server_service, error=repr(task.exception())
            )

    def _connect_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("connect_failed", error=repr(task.exception()))

    # --- operations ------------------------------------------------------------------

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

    def _retry_delays(self) -> Any:
        return backoff(
            self.connect_retry_interval,
            factor=self.connect_retry_factor,
            maximum=self.connect_retry_max,
            jitter=self.connect_retry_jitter,
        )

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
            If the pair is closed meanwhile.
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
        stays (see `client_connected`).

        Raises
        ------
        ConnectionClosedError
            If the pair is closed meanwhile, or (with ``client_service``) the
            registry connection is lost.
        RuntimeError
            If another `connect_client` is under way.
        """
        self._check_can_connect()
        await self.close_client()
        self._check_can_connect()
        self._handle(ConnectorEvent.CONNECT)
        task = asyncio.get_running_loop().create_task(self._attempts())
        self._attempt_task = task
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                # Stopped by close() or close_client(), not by our caller.
                raise ConnectionClosedError(
                    f"{self.name}: connection attempt stopped by close"
                ) from self._cause
            raise

    def _check_can_connect(self) -> None:
        self._raise_if_closed()
        if self._state is ConnectorState.CONNECTING:
            raise RuntimeError(f"{self.name}: connect_client() is already under way")

    async def _attempts(self) -> None:
        """Attempt until a connection is adopted (the body of each connecting task)."""
        try:
            attempt = 0
            while True:
                attempt += 1
                link = await self._open_client_link(attempt)
                if link is not None and self._adopt(link, attempt):
                    return
                self._delays.attempt_failed(self.client_port)
        except BaseException:
            if self._machine.attempting:
                self._handle(ConnectorEvent.GAVE_UP)
            raise
        finally:
            if self._attempt_task is asyncio.current_task():
                self._attempt_task = None

    async def _open_client_link(self, attempt: int) -> Link | None:
        """One connection attempt: the new link, or `None` if it failed (logged).

        Raises
        ------
        ConnectionClosedError
            With ``client_service``, if the registry connection is lost.
        """
        options: dict[str, Any] = {
            "limit": self._limit,
            "keepalive": self.tcp_keepalive,
            "user_timeout": self.tcp_user_timeout,
        }
        if self.client_service:
            if self.registry is None:  # checked by the constructor
                raise RuntimeError(f"{self.name}: client_service needs a registry")
            host = self.client_host or registry_host(self.registry) or LOCALHOST
            self.log.debug("client_waiting_for_service", service=self.client_service)
            # Refused and self-connected advertised ports are skipped inside.
            link, self.client_port = await connect_service(
                self.registry, self.client_service, host, log=self.log, pace=self._pace, **options
            )
            return link
        host = self.client_host or LOCALHOST
        try:
            await self._pace(self.client_port)
            return await open_link(host, self.client_port, **options)
        except SelfConnectionError as e:
            self._self_connections += 1
            if self._self_connections == 1:
                self.log.warning("self_connection_refused", error=str(e))
            elif should_log_attempt(self._self_connections):
                self.log.debug("self_connection_refused", count=self._self_connections)
        except OSError as e:
            if should_log_attempt(attempt):
                self.log.debug(
                    "connect_retry", host=host, port=self.client_port, attempt=attempt, error=str(e)
                )
        return None

    async def _pace(self, port: int) -> None:
        """Wait the retry delay owed by ``port``, if any (see `RetryDelays`)."""
        delay = self._delays.next_delay(port)
        if delay:
            await asyncio.sleep(delay)

    def _adopt(self, link: Link, attempts: int) -> bool:
        """Make ``link`` the client connection if it is still open (one step, no await)."""
        if self._state is ConnectorState.CLOSED:
            link.close()
            self._raise_if_closed()
        if not link.adopt(self._client_lost):
            if should_log_attempt(attempts):
                self.log.info(
                    "client_lost_at_once",
                    port=self.client_port,
                    attempt=attempts,
                    error=describe_cause(link.cause),
                )
            link.close()
            return False
        self._client = link
        self._connected_at = asyncio.get_running_loop().time()
        self._delays.connected()
        self._self_connections = 0
        self._handle(ConnectorEvent.ADOPTED)
        self.log.info(
            "client_connected",
            host=self.client_host or LOCALHOST,
            port=self.client_port,
            attempts=attempts,
        )
        if not self.client_connected_task.done():
            self.client_connected_task.set_result(None)
        self._on_client_connected()
        self._report(ConnectionChange(Change.CLIENT_UP))
        return True

    def _raise_if_closed(self) -> None:
        if self._state is ConnectorState.CLOSED:
            raise ConnectionClosedError(f"{self.name} is closed") from self._cause

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
            end (`cause`).
        """
        while self._state is not ConnectorState.CONNECTED:
            state = self._state
            if state is ConnectorState.CLOSED:
                raise ConnectionClosedError(f"{self.name} is closed") from self._cause
            if state is ConnectorState.IDLE:
                if self._client is None:
                    raise RuntimeError(
                        f"{self.name}: the client was never connected; call connect()"
                    )
                raise ConnectionClosedError(
                    f"{self.name}: the client connection was lost; call connect()"
                ) from self._cause
            await asyncio.shield(self._state_changed)
        await self._server.wait_connected()

    async def close_client(self) -> None:
        """Close the client connection. Idempotent. Does **not** call the callback.

        Also stops a connection attempt or reconnection under way (their
        callers get `ConnectionClosedError`).
        """
        current = asyncio.current_task()
        for task in (self._attempt_task, self.reconnect_task):
            if task is not None and task is not current:
                await _cancel(task)
        if self.reconnect_task is not current:
            self.reconnect_task = None
        link = self._client
        if link is not None:
            self._teardown(None, by_peer=False)
            await link.wait_closed()

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
        link = self._client
        if link is None or not link.is_open:
            return
        if cause is None:
            cause = ConnectionAbortedError(f"{self.name}: client reset by abort_client()")
        self.log.warning("client_aborted", port=self.client_port, reason=describe_cause(cause))
        link.abort(cause)

    async def close(self) -> None:
        """Close the client and the server. Idempotent and safe at any moment.

        See the numbered shutdown steps in the class notes; the server's
        ``done_task`` is set at the end.
        """
        if self._state is ConnectorState.CLOSED:
            await self._server.done_task
            return
        client_was_up = self._state is ConnectorState.CONNECTED
        self._handle(ConnectorEvent.CLOSE)
        try:
            current = asyncio.current_task()
            for task in (
                getattr(self, "connect_task", None),
                self._attempt_task,
                self.reconnect_task,
                self.advertise_task,
            ):
                if task is not None and task is not current:
                    await _cancel(task)
            self.reconnect_task = None
            if self._advertisement is not None:
                await self._advertisement.withdraw()
        finally:
            await self.close_client()
            if client_was_up:
                self._report(ConnectionChange(Change.CLIENT_LOST, None, local=True))
            await self._server.close()
            self._listeners.emit(ConnectionChange(Change.CLOSED, self._cause, local=True))
            await finish_callbacks(self._callback_tasks)

    @property
    def done_task(self) -> asyncio.Future[None]:
        """Done when the pair has been closed."""
        return self._server.done_task

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, client={self.client_host}:"
            f"{self.client_port}, server={self.server_host}:{self.server_port}, "
            f"client_state={self._state.name}, server_connected={self.server_connected})"
        )


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` (if not done) and wait for it; its outcome is ignored."""
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
