"""`ClientServerPair`: one outbound client stream plus one inbound server stream."""

from __future__ import annotations

__all__ = ["ClientServerPair"]

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

from ..log import get_logger
from .discovery import Advertisement, ServiceRegistry, connect_service, registry_host
from .retry import backoff
from .server import ConnectCallback, OneClientServer, call_connect_callback
from .streams import DEFAULT_STREAM_LIMIT, Link, open_link, set_keepalive

LOCALHOST = "localhost"
_T = TypeVar("_T")


class ClientServerPair:
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
    connect_timeout : `float` or `None`, keyword-only
        Limit for `connect` [s]; `None`: wait forever, as the original did.
    connect_retry_max : `float` or `None`, keyword-only
        Cap on the retry interval [s] when ``connect_retry_factor`` > 1.
    connect_retry_factor : `float`, keyword-only
        Growth of the retry interval after each failed attempt (1: constant).
    connect_retry_jitter : `float`, keyword-only
        Random fraction [0, 1] taken off each retry interval.
    limit : `int`, keyword-only
        Buffer limit of the stream readers [bytes].
    tcp_keepalive : `float` or `None`, keyword-only
        Turn on TCP keepalive on both connections with this idle time [s]: a
        peer that vanishes without closing (power cut, cable pulled) is reported
        lost after about twice this time instead of never. `None`: off.
        Default 2 (a silent peer is lost within 5 s).
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

    Shutdown (`close`): (1) cancel `connect_task`, `reconnect_task` and
    `advertise_task`, (2) release the advertised port, so that peers see it
    go before the connections drop, (3) close the client, (4) close the server.
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
        limit: int = DEFAULT_STREAM_LIMIT,
        tcp_keepalive: float | None = 2.0,
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
        self._limit = limit
        self.tcp_keepalive = tcp_keepalive
        self.registry = registry
        self.server_service = server_service
        self.client_service = client_service
        self.auto_reconnect = auto_reconnect
        self.reconnect_task: asyncio.Task[None] | None = None
        self._client: Link | None = None
        self._closed = False
        self._closing: asyncio.Future[None] = loop.create_future()
        self.client_connected_task: asyncio.Future[None] = loop.create_future()
        self._server = OneClientServer(
            name=name,
            host=server_host,
            port=server_port,
            log=log,
            connect_callback=self._server_changed,
            limit=limit,
            tcp_keepalive=tcp_keepalive,
        )
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
    def client_connected(self) -> bool:
        """True while the client is connected."""
        return self._client is not None and self._client.is_open

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

    # --- callbacks -----------------------------------------------------------------

    def call_connect_callback(self, *args: Any, **kwargs: Any) -> None:
        """Call `connect_callback` with this pair; never raises. Arguments are ignored."""
        call_connect_callback(self.connect_callback, self, self.log)

    def _server_changed(self, server: OneClientServer) -> None:
        self._on_server_changed()
        self.call_connect_callback()

    def _on_server_changed(self) -> None:
        """Hook for subclasses: the server connection was made or lost."""

    def _client_lost(self, link: Link) -> None:
        if link is not self._client:
            return
        exc = link.lost.result()
        self.log.info("client_disconnected", error="eof" if exc is None else repr(exc))
        link.close()
        self.call_connect_callback()
        if self.auto_reconnect and not self._closed and self.reconnect_task is None:
            self.reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        """Reconnect the client after a loss (the body of `reconnect_task`)."""
        self.log.info("client_reconnecting", port=self.client_port, service=self.client_service)
        try:
            await self.connect_client()
        except ConnectionError as e:
            if not self._closed:  # e.g. the registry connection was lost
                self.log.error("reconnect_failed", error=repr(e))
        finally:
            if self.reconnect_task is asyncio.current_task():
                self.reconnect_task = None

    async def _advertise(self, advertisement: Advertisement) -> Any:
        await asyncio.shield(self.start_task)
        return await advertisement.register(self._server.port)

    def _advertise_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._closed:
            self.log.error(
                "advertise_failed", service=self.server_service, error=repr(task.exception())
            )

    def _connect_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("connect_failed", error=repr(task.exception()))

    # --- operations ------------------------------------------------------------------

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
        ConnectionError
            If the pair is closed meanwhile.

        Notes
        -----
        Without ``connect_timeout`` this waits forever, retrying every
        `connect_retry_interval` (refused connections, unresolvable hosts and
        hosts whose every address refuses are all retried). With
        ``client_service`` there is no retry interval: the connection is made
        the moment the registry reports the service.
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

        Raises
        ------
        ConnectionError
            If the pair is closed meanwhile, or (with ``client_service``) the
            registry connection is lost.
        """
        await self.close_client()
        self._raise_if_closed()
        if self.client_service:
            link = await self._unless_closed(
                self._connect_service(self.client_service), lambda link: link.close()
            )
            attempt = 1
        else:
            link, attempt = await self._connect_port()
        host = self.client_host or LOCALHOST
        if self._closed:  # close() ran while the connection was being made
            await link.wait_closed()
            self._raise_if_closed()
        self._client = link
        link.on_lost = self._client_lost
        if self.tcp_keepalive is not None:
            set_keepalive(link, self.tcp_keepalive)
        self.log.info("client_connected", host=host, port=self.client_port, attempts=attempt)
        if not self.client_connected_task.done():
            self.client_connected_task.set_result(None)
        self.call_connect_callback()

    async def _unless_closed(
        self, coro: Coroutine[Any, Any, _T], discard: Callable[[_T], None]
    ) -> _T:
        """Run ``coro`` until it ends or `close` is called (then raise ConnectionError).

        If our caller is cancelled just as ``coro`` produced its result, the
        result is passed to ``discard`` (so that no connection is left open).
        """
        task = asyncio.ensure_future(coro)
        waiting: set[asyncio.Future[Any]] = {task, self._closing}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            if task.done() and not task.cancelled() and task.exception() is None:
                discard(task.result())
            raise
        finally:
            if not task.done():
                await _cancel(task)
        if task.cancelled() or task.exception() is not None:
            self._raise_if_closed()
        return task.result()

    async def _connect_service(self, service: str) -> Link:
        assert self.registry is not None
        host = self.client_host or registry_host(self.registry) or LOCALHOST
        self.log.debug("client_waiting_for_service", service=service)
        link, port = await connect_service(
            self.registry, service, host, limit=self._limit, log=self.log
        )
        self.client_port = port
        return link

    async def _connect_port(self) -> tuple[Link, int]:
        host = self.client_host or LOCALHOST
        delays = self._retry_delays()
        attempt = 0
        while True:
            self._raise_if_closed()
            attempt += 1
            try:
                link = await open_link(host, self.client_port, limit=self._limit)
                break
            except OSError as e:
                if attempt == 1 or attempt % 50 == 0:
                    self.log.debug(
                        "connect_retry",
                        host=host,
                        port=self.client_port,
                        attempt=attempt,
                        error=str(e),
                    )
                await asyncio.sleep(next(delays))
        return link, attempt

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise ConnectionError(f"{self.name} is closed")

    async def wait_connected(self) -> None:
        """Wait until both the client and the server are connected.

        Returns at once if they are. Cancel-safe.

        Raises
        ------
        ConnectionError
            If the client is not connected (nothing would connect it) or the
            pair is closed while waiting.
        """
        if not self.client_connected:
            raise ConnectionError(f"{self.name}: client is not connected; call connect()")
        await self._server.wait_connected()

    async def close_client(self) -> None:
        """Close the client connection. Idempotent. Does **not** call the callback.

        Also stops a reconnection under way (``auto_reconnect``).
        """
        task = self.reconnect_task
        if task is not None and task is not asyncio.current_task():
            self.reconnect_task = None
            await _cancel(task)
        link = self._client
        if link is not None:
            link.on_lost = None
            await link.wait_closed()

    def abort_client(self) -> None:
        """Reset the client connection at once, discarding what is not yet delivered.

        Sets ``SO_LINGER`` to 0 and aborts the transport: the socket is closed
        with a TCP reset (RST) rather than a FIN, so bytes still queued in the
        transport or the kernel are dropped instead of sent. The loss then takes
        the ordinary path (callback; ``auto_reconnect`` reconnects). Does
        nothing if the client is not connected.
        """
        import contextlib
        import socket
        import struct

        link = self._client
        if link is None or link.writer is None or not link.is_open:
            return
        transport = link.writer.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.log.warning("client_aborted", port=self.client_port)
        transport.abort()

    async def close(self) -> None:
        """Close the client and the server. Idempotent and safe at any moment.

        Steps: (1) cancel `connect_task`, `reconnect_task` and
        `advertise_task` if running, (2) release the advertised server port
        (bounded by the registry's timeout; a lost registry is not an error),
        (3) close the client (no callback), (4) close the server (callback if
        it was connected), which sets the server's ``done_task``.
        """
        if self._closed:
            await self._server.done_task
            return
        self._closed = True
        self._closing.set_result(None)
        try:
            for task in (getattr(self, "connect_task", None), self.reconnect_task):
                if task is not None:
                    await _cancel(task)
            self.reconnect_task = None
            if self.advertise_task is not None:
                await _cancel(self.advertise_task)
            if self._advertisement is not None:
                await self._advertisement.withdraw()
        finally:
            await self.close_client()
            await self._server.close()

    @property
    def done_task(self) -> asyncio.Future[None]:
        """Done when the pair has been closed."""
        return self._server.done_task

    async def __aenter__(self) -> Self:
        try:
            await self.wait_server_port()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, client={self.client_host}:"
            f"{self.client_port}, server={self.server_host}:{self.server_port}, "
            f"client_connected={self.client_connected}, server_connected={self.server_connected})"
        )


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` (if not done) and wait for it; its outcome is ignored."""
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
