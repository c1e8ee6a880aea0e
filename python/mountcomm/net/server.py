"""`OneClientServer`: a TCP server that serves one client at a time."""

from __future__ import annotations

__all__ = [
    "CALLBACK_GRACE",
    "ConnectCallback",
    "OneClientServer",
    "call_connect_callback",
    "finish_callbacks",
]

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError
from ..log import Logger, get_logger
from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
    TcpKeepalive,
    coerce_keepalive,
    validate_user_timeout,
)
from .changes import Change, ChangeListener, ChangeListeners, ConnectionChange, describe_cause
from .link_server import start_link_server, stop_link_server
from .streams import DEFAULT_STREAM_LIMIT, Link

ConnectCallback = Callable[[Any], Any]
"""``callback(obj)``: a plain function or a coroutine function."""

CALLBACK_GRACE = 1.0
"""How long `close` lets running async connect callbacks finish before cancelling them [s]."""


def call_connect_callback(
    callback: ConnectCallback | None,
    obj: Any,
    log: Logger,
    tasks: set[asyncio.Future[Any]] | None = None,
) -> None:
    """Call a connect callback with ``obj``; never raise.

    A coroutine function is run as a task whose failure is logged; the task is
    kept in ``tasks`` (when given) until it ends, so that its owner can wait
    for it or cancel it (see `finish_callbacks`). Exceptions from a plain
    function are logged.
    """
    if callback is None:
        return
    try:
        result = callback(obj)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            task.add_done_callback(lambda t: _log_callback_failure(t, log))
            if tasks is not None:
                tasks.add(task)
                task.add_done_callback(tasks.discard)
    except Exception:
        log.exception("connect_callback_failed", callback=repr(callback))


async def finish_callbacks(tasks: set[asyncio.Future[Any]], grace: float = CALLBACK_GRACE) -> None:
    """Let callback ``tasks`` finish for up to ``grace`` [s], then cancel and await the rest.

    The calling task is skipped (a callback may close its owner).
    """
    current = asyncio.current_task()
    pending = {task for task in tasks if task is not current and not task.done()}
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=grace)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)


def _log_callback_failure(task: asyncio.Future[Any], log: Logger) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("connect_callback_failed", exc_info=task.exception())


class OneClientServer(AsyncResource):
    """A TCP server that accepts one client at a time.

    A second client that connects while one is connected is refused: its
    connection is closed at once and logged; the first is unaffected.

    Parameters
    ----------
    name : `str`
        Name for log messages.
    host : `str` or `None`
        Address to listen on; `None`: all interfaces.
    port : `int`
        Port to listen on; 0: the OS picks (see `port` once `start_task` is done).
    log : `logging.Logger`, structlog logger or `None`
        Where to log.
    connect_callback : callable or `None`
        Called with this server each time `connected` changes (sync or async;
        exceptions are logged, never raised): the compatibility adapter on top
        of the typed changes (see `add_change_listener`).
    limit : `int`, optional
        Buffer limit of the stream reader [bytes].
    tcp_keepalive : `TcpKeepalive`, `float` or `None`, keyword-only
        TCP keepalive timings of the accepted connections, so that a client
        that vanishes without closing is seen as lost; a number is the idle
        time [s] (probes every third of it, 3 probes); `None`: off. Default
        `DEFAULT_TCP_KEEPALIVE` (a silent peer is lost within 5 s).
    tcp_user_timeout : `float` or `None`, keyword-only
        ``TCP_USER_TIMEOUT`` [s] of the accepted connections: written data
        unacknowledged for this long ends the connection. `None`: the
        kernel's default (minutes). Default `DEFAULT_TCP_USER_TIMEOUT`.

    Attributes
    ----------
    name, host, port, log, connect_callback
        As given (``port`` is updated when the server starts).
    reader : `asyncio.StreamReader` or `None`
        The client's incoming data, or `None` before the first client.
    writer : `asyncio.StreamWriter` or `None`
        Outgoing data to the client, or `None` before the first client.
    start_task : `asyncio.Task`
        Done when the server is listening (raises `OSError` if it cannot bind).
    done_task : `asyncio.Future`
        Done when the server has been closed (made when first asked for).

    Notes
    -----
    Changes are reported as `ConnectionChange` (``SERVER_UP``, ``SERVER_LOST``
    with its cause, ``CLOSED``) to the listeners of `add_change_listener`,
    then to ``connect_callback``. A waiter that fails because the server
    closed gets a `ConnectionClosedError` chained to `cause`.

    Must be constructed with a running event loop. An async context manager:
    ``async with OneClientServer(...) as server:`` waits until it listens
    (raising `OSError` if it cannot bind) and closes it on exit.

    Shutdown (`close`): (1) refuse new clients and close the client
    connection (`begin_close`, no wait); let a bind in progress finish, then
    stop accepting; (2) wait (bounded) until the client connection is closed
    (the callback is called if one was connected); (3) wait (bounded) for
    refused connections to close;
    (4) fail `wait_connected` waiters with `ConnectionClosedError`; (5) let
    async callbacks finish (`CALLBACK_GRACE`), cancel the rest; (6) set
    `done_task`.
    """

    def __init__(
        self,
        name: str,
        host: str | None,
        port: int,
        log: Any,
        connect_callback: ConnectCallback | None = None,
        *,
        limit: int = DEFAULT_STREAM_LIMIT,
        tcp_keepalive: TcpKeepalive | float | None = DEFAULT_TCP_KEEPALIVE,
        tcp_user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
    ) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.name = name
        self.host = host
        self.port = port
        self.log = get_logger(log, f"OneClientServer({name})")
        self.connect_callback = connect_callback
        self._limit = limit
        self.tcp_keepalive = coerce_keepalive(tcp_keepalive)
        self.tcp_user_timeout = validate_user_timeout(tcp_user_timeout)
        # Async callbacks running (a set only when there is a callback).
        self._callback_tasks: set[asyncio.Future[Any]] | None = (
            None if connect_callback is None else set()
        )
        self._server: asyncio.Server | None = None
        self._link: Link | None = None
        self._refused: set[Link] | None = None  # refused connections still closing
        self._next: Link | None = None  # accepted while the previous client's end was pending
        self._closed = False  # close requested: clients are refused
        self._closing_link: tuple[Link, bool] | None = None  # closed by begin_close: (link, was up)
        self._close_started = False
        self._connected_waiters: list[asyncio.Future[None]] | None = None  # made by a waiter
        self._listeners = ChangeListeners(self.log)
        self._cause: BaseException | None = None
        self._done_task: asyncio.Future[None] | None = None  # made when asked for
        self._done = False  # close has finished
        self.start_task: asyncio.Task[None] = loop.create_task(self.start())
        self.start_task.add_done_callback(self._start_done)

    # --- state -------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a client is connected."""
        return self._link is not None and self._link.is_open

    @property
    def done_task(self) -> asyncio.Future[None]:
        """Done when the server has been closed (never replaced)."""
        task = self._done_task
        if task is None:
            task = self._done_task = self._loop.create_future()
            if self._done:
                task.set_result(None)
        return task

    @property
    def reader(self) -> asyncio.StreamReader | None:
        """The current (or last) client's reader, or `None`."""
        return self._link.reader if self._link is not None else None

    @property
    def writer(self) -> asyncio.StreamWriter | None:
        """The current (or last) client's writer, or `None`."""
        return self._link.writer if self._link is not None else None

    @property
    def link(self) -> Link | None:
        """The current (or last) client connection, or `None`."""
        return self._link

    @property
    def cause(self) -> BaseException | None:
        """Why the last client connection ended (its first cause); `None` if none failed."""
        return self._cause

    @property
    def closed(self) -> bool:
        """True once `close` has been called."""
        return self._closed

    # --- life cycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (called by the constructor as `start_task`)."""
        self._server = await start_link_server(
            self._accept,
            self.host,
            self.port,
            limit=self._limit,
            keepalive=self.tcp_keepalive,
            user_timeout=self.tcp_user_timeout,
        )
        if self._closed:  # close() ran while we were binding
            self._server.close()
            return
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        self.log.info("server_listening", host=self.host, port=self.port)

    def _start_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error(
                "server_start_failed", host=self.host, port=self.port, error=str(task.exception())
            )

    def _accept(self, link: Link) -> None:
        previous = self._link
        # The previous client's transport may be closing while asyncio has not yet
        # reported its end (connection_lost comes one callback later): its loss,
        # with its cause, is then still to be reported.
        ending = previous is not None and not previous.ended and not previous.is_open
        if self._closed or self.connected or (ending and self._next is not None):
            self._refuse(link)
            return
        if ending:
            # Take the new client once the old one's end is reported, so that every
            # listener sees the old connection lost before the new one up.
            self._next = link
            link.on_lost = self._next_lost
            return
        self._take(link)

    def _refuse(self, link: Link) -> None:
        self.log.warning(
            "second_client_refused" if not self._closed else "client_refused_closing",
            peer=_peer(link),
        )
        refused = self._refused
        if refused is None:
            refused = self._refused = set()
        refused.add(link)
        link.on_lost = refused.discard
        link.close()

    def _next_lost(self, link: Link) -> None:
        """A client waiting for the previous one's end was lost first."""
        if link is self._next:
            self._next = None

    def _take(self, link: Link) -> None:
        # From connection_made, before any data or EOF, the link is open; a link
        # that waited for the previous client's end may have received data since
        # (kept for the first read) but is open too, or it would not be waiting.
        link.adopt(self._lost)
        self._link = link
        self.log.info("client_connected", peer=_peer(link))
        waiters, self._connected_waiters = self._connected_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)
        self._report(ConnectionChange(Change.SERVER_UP))

    def _lost(self, link: Link) -> None:
        if link is not self._link:
            return
        cause = link.cause
        if cause is not None:
            self._cause = cause
        self.log.info("client_disconnected", error=describe_cause(cause))
        link.close()
        self._report(ConnectionChange(Change.SERVER_LOST, cause))
        following, self._next = self._next, None
        if following is not None:
            following.on_lost = None
            if self._closed or not following.is_open:
                self._refuse(following)
            else:
                self._take(following)

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(change)`` for every later `ConnectionChange` (plain function).

        Listeners run before ``connect_callback``, in the order added;
        exceptions are logged, never raised.
        """
        self._listeners.add(listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        """Stop calling ``listener``; nothing happens if it is not registered."""
        self._listeners.remove(listener)

    def _report(self, change: ConnectionChange) -> None:
        self._listeners.emit(change)
        if change.calls_back:
            self.call_connect_callback()

    def call_connect_callback(self) -> None:
        """Call `connect_callback` with this server (never raises)."""
        callback = self.connect_callback
        if callback is not None:
            if self._callback_tasks is None:
                self._callback_tasks = set()
            call_connect_callback(callback, self, self.log, self._callback_tasks)

    async def wait_connected(self) -> None:
        """Wait until a client is connected (return at once if one is).

        Cancel-safe.

        Raises
        ------
        ConnectionClosedError
            If the server is closed first (chained to `cause`).
        """
        if self.connected:
            return
        if self._closed:
            raise ConnectionClosedError(f"server {self.name} is closed") from self._cause
        waiter: asyncio.Future[None] = self._loop.create_future()
        waiters = self._connected_waiters
        if waiters is None:
            waiters = self._connected_waiters = []
        waiters.append(waiter)
        try:
            await waiter
        finally:
            waiters = self._connected_waiters
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)

    async def close_client(self) -> None:
        """Close the current client connection, if any. Idempotent.

        Calls `connect_callback` if a client was connected.
        """
        following, self._next = self._next, None
        if following is not None:
            self._refuse(following)
        link = self._link
        if link is None:
            return
        was_connected = self.connected
        link.on_lost = None
        await link.wait_closed()
        if was_connected:
            self._report(ConnectionChange(Change.SERVER_LOST, None, local=True))

    def begin_close(self) -> None:
        """Start `close` without waiting: refuse new clients, close the client's connection.

        Idempotent. `close` then finishes the shutdown (and reports the
        client's loss); an owner that closes several connections calls this
        first for each, so that all of them close in the same loop iteration.
        """
        if self._closed:
            return
        self._closed = True
        following, self._next = self._next, None
        if following is not None:
            self._refuse(following)
        link = self._link
        if link is not None:
            self._closing_link = (link, self.connected)
            link.on_lost = None
            link.close()

    async def close(self) -> None:
        """Stop listening and close the client. Idempotent; safe at any moment.

        See the numbered steps in the class notes.
        """
        if self._close_started:
            await self.done_task
            return
        self._close_started = True
        self.begin_close()
        try:
            start_task = self.start_task
            if not start_task.done():
                # Let a bind in progress finish (it is quick): cancelling it could
                # orphan a listening socket; start() closes it once it sees _closed.
                await asyncio.gather(start_task, return_exceptions=True)
            elif not start_task.cancelled():
                start_task.exception()  # retrieved (logged by _start_done)
            if self._server is not None:
                await stop_link_server(self._server)
            closing = self._closing_link
            if closing is not None:
                self._closing_link = None
                link, was_connected = closing
                await link.wait_closed()
                if was_connected:
                    self._report(ConnectionChange(Change.SERVER_LOST, None, local=True))
            else:
                await self.close_client()
            # Refused connections: wait (bounded) until their sockets are closed.
            if self._refused:
                await asyncio.gather(*(link.wait_closed() for link in list(self._refused)))
            waiters, self._connected_waiters = self._connected_waiters, None
            for waiter in waiters or ():
                if not waiter.done():
                    error = ConnectionClosedError(f"server {self.name} closed")
                    error.__cause__ = self._cause
                    waiter.set_exception(error)
            self._listeners.emit(ConnectionChange(Change.CLOSED, self._cause, local=True))
            if self._callback_tasks:
                await finish_callbacks(self._callback_tasks)
        finally:
            self._done = True
            done_task = self._done_task
            if done_task is not None and not done_task.done():
                done_task.set_result(None)

    async def _until_started(self) -> None:
        """``async with`` waits for the start the constructor began (`start_task`)."""
        await self.start_task


def _peer(link: Link) -> Any:
    return link.transport.get_extra_info("peername") if link.transport is not None else None
