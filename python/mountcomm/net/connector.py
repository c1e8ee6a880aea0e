"""`ClientConnector`: the outbound (client) connection of a `ClientServerPair`.

It makes the connection (retrying, paced by `RetryDelays`, through the
registry when a service name is given), takes it with `Link.adopt`, notices
its end through the link's loss funnel, and reconnects with
``auto_reconnect``. Its state is a `ConnectorMachine` (the only writer of
the state); what a loss means and what is logged are the pure decisions of
`mountcomm.net.pair_policy`. Each change is reported to the owner as a
`ConnectionChange` carrying the first cause of the end.
"""

from __future__ import annotations

__all__ = [
    "LOCALHOST",
    "ClientConnector",
    "ClientTarget",
    "LinkOptions",
    "cancel_and_wait",
    "link_options",
]

import asyncio
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..exceptions import ConnectionClosedError, SelfConnectionError
from ..sockets import TcpKeepalive
from .changes import Change, ConnectionChange, describe_cause
from .client_state import ConnectorEvent, ConnectorMachine, ConnectorState
from .discovery import ServiceRegistry, connect_service, registry_host
from .pair_policy import loss_event, should_log_attempt
from .retry import RetryDelays
from .streams import Link, open_link

LOCALHOST = "localhost"


@dataclass(frozen=True, slots=True)
class LinkOptions:
    """Options of every link the connector opens (see `open_link`)."""

    limit: int
    keepalive: TcpKeepalive | None
    user_timeout: float | None


@functools.lru_cache(maxsize=16)
def link_options(
    limit: int, keepalive: TcpKeepalive | None, user_timeout: float | None
) -> LinkOptions:
    """The `LinkOptions` of these values, one object shared by every connector that uses them."""
    return LinkOptions(limit, keepalive, user_timeout)


class ClientTarget(Protocol):
    """Where a `ClientConnector` connects: public attributes its owner keeps.

    The owner (`ClientServerPair`) may change them between connections; the
    connector reads them at each attempt and sets ``client_port`` to the port
    found through ``client_service``.
    """

    client_host: str | None
    client_port: int
    client_service: str | None
    registry: ServiceRegistry | None
    auto_reconnect: bool


class ClientConnector:
    """The client connection of a pair: making it, noticing its end, remaking it.

    Parameters
    ----------
    name : `str`
        Name for messages.
    log : structlog logger
        Where to log.
    report : callable
        ``report(change)``: the owner's funnel for `ConnectionChange` (called
        for ``CLIENT_UP`` and ``CLIENT_LOST``).
    make_delays : callable
        Returns a fresh iterator of retry delays [s] (see `backoff`).
    stable_time : `float`
        See `RetryDelays`.
    options : `LinkOptions`
        Options of each link.
    target : `ClientTarget`
        Where to connect, read at each attempt.

    Attributes
    ----------
    retry_delays : `RetryDelays`
        The delays owed by failed attempts and short-lived connections.
    connected_task : `asyncio.Future`
        Done when the client first connects (made when first asked for, done
        at once if the client has connected; never replaced).
    reconnect_task : `asyncio.Task` or `None`
        The reconnection under way after a loss (``auto_reconnect``).
    cause : `BaseException` or `None`
        The first cause of the last end of the connection (`None` if it was
        closed here or never ended).

    Notes
    -----
    Must be constructed with a running event loop. All methods run on it.
    """

    # One per pair, thousands in one process.
    __slots__ = (
        "_attempt_task",
        "_connected_at",
        "_connected_task",
        "_link",
        "_loop",
        "_machine",
        "_report",
        "_self_connections",
        "_state_changed",
        "cause",
        "log",
        "name",
        "options",
        "reconnect_task",
        "retry_delays",
        "target",
    )

    def __init__(
        self,
        name: str,
        log: Any,
        report: Callable[[ConnectionChange], None],
        *,
        make_delays: Callable[[], Iterator[float]],
        stable_time: float,
        options: LinkOptions,
        target: ClientTarget,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.name = name
        self.log = log
        self._report = report
        self.retry_delays = RetryDelays(make_delays, stable_time)
        self.options = options
        self.target = target
        self.cause: BaseException | None = None
        self._connected_task: asyncio.Future[None] | None = None  # made when asked for
        self.reconnect_task: asyncio.Task[None] | None = None
        self._attempt_task: asyncio.Task[None] | None = None
        self._link: Link | None = None
        self._connected_at = 0.0
        self._self_connections = 0  # refused since the last connection
        self._machine = ConnectorMachine()
        self._state_changed: asyncio.Future[None] | None = None  # made by a waiter

    # --- state -------------------------------------------------------------------

    @property
    def state(self) -> ConnectorState:
        """The state of the client connection."""
        return self._machine.state

    @property
    def connected_task(self) -> asyncio.Future[None]:
        """Done when the client first connects (never replaced)."""
        task = self._connected_task
        if task is None:
            task = self._connected_task = self._loop.create_future()
            if self._link is not None:  # a link is kept once it has been adopted
                task.set_result(None)
        return task

    @property
    def link(self) -> Link | None:
        """The current (or last) client connection, or `None`."""
        return self._link

    @property
    def connected(self) -> bool:
        """True while the client connection is up."""
        link = self._link
        return self._machine.state is ConnectorState.CONNECTED and link is not None and link.is_open

    def _handle(self, event: ConnectorEvent) -> ConnectorState:
        """Send ``event`` to the state machine; wake `wait_connected`; return the state."""
        state = self._machine.handle(event)
        changed = self._state_changed
        if changed is not None:
            self._state_changed = None
            changed.set_result(None)
        return state

    def _in_state(self, state: ConnectorState) -> bool:
        return self._machine.state is state

    def _raise_if_closed(self) -> None:
        if self._machine.state is ConnectorState.CLOSED:
            raise ConnectionClosedError(f"{self.name} is closed") from self.cause

    # --- connecting ----------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, retrying until it succeeds (`ClientServerPair.connect_client`).

        Raises
        ------
        ConnectionClosedError
            If closed meanwhile (chained to `cause`), or (with ``service``) the
            registry connection is lost.
        RuntimeError
            If another `connect` is under way.
        """
        self._check_can_connect()
        await self.close_client()
        self._check_can_connect()
        self._handle(ConnectorEvent.CONNECT)
        task = self._loop.create_task(self._attempts())
        self._attempt_task = task
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and (current is None or not current.cancelling()):
                # Stopped by close() or close_client(), not by our caller.
                raise ConnectionClosedError(
                    f"{self.name}: connection attempt stopped by close"
                ) from self.cause
            raise

    def _check_can_connect(self) -> None:
        self._raise_if_closed()
        if self._machine.state is ConnectorState.CONNECTING:
            raise RuntimeError(f"{self.name}: connect_client() is already under way")

    async def _attempts(self) -> None:
        """Attempt until a connection is adopted (the body of each connecting task)."""
        try:
            attempt = 0
            while True:
                attempt += 1
                link = await self._open(attempt)
                if link is not None and self._adopt(link, attempt):
                    return
                self.retry_delays.attempt_failed(self.target.client_port)
        except BaseException:
            if self._machine.attempting:
                self._handle(ConnectorEvent.GAVE_UP)
            raise
        finally:
            if self._attempt_task is asyncio.current_task():
                self._attempt_task = None

    async def _open(self, attempt: int) -> Link | None:
        """One connection attempt: the new link, or `None` if it failed (logged).

        Raises
        ------
        ConnectionClosedError
            With ``service``, if the registry connection is lost.
        """
        options = self.options
        target = self.target
        service, registry = target.client_service, target.registry
        if service:
            if registry is None:  # checked by the owner's constructor
                raise RuntimeError(f"{self.name}: client_service needs a registry")
            host = target.client_host or registry_host(registry) or LOCALHOST
            self.log.debug("client_waiting_for_service", service=service)
            # Refused and self-connected advertised ports are skipped inside.
            link, target.client_port = await connect_service(
                registry,
                service,
                host,
                log=self.log,
                pace=self._pace,
                limit=options.limit,
                keepalive=options.keepalive,
                user_timeout=options.user_timeout,
            )
            return link
        host = target.client_host or LOCALHOST
        port = target.client_port
        try:
            await self._pace(port)
            # The options one by one: no dictionary kept for the whole attempt.
            return await open_link(
                host,
                port,
                limit=options.limit,
                keepalive=options.keepalive,
                user_timeout=options.user_timeout,
            )
        except SelfConnectionError as e:
            self._self_connections += 1
            if self._self_connections == 1:
                self.log.warning("self_connection_refused", error=str(e))
            elif should_log_attempt(self._self_connections):
                self.log.debug("self_connection_refused", count=self._self_connections)
        except OSError as e:
            if should_log_attempt(attempt):
                self.log.debug("connect_retry", host=host, port=port, attempt=attempt, error=str(e))
        return None

    async def _pace(self, port: int) -> None:
        """Wait the retry delay owed by ``port``, if any (see `RetryDelays`)."""
        delay = self.retry_delays.next_delay(port)
        if delay:
            await asyncio.sleep(delay)

    def _adopt(self, link: Link, attempts: int) -> bool:
        """Make ``link`` the client connection if it is still open (one step, no await)."""
        if self._machine.state is ConnectorState.CLOSED:
            link.close()
            self._raise_if_closed()
        if not link.adopt(self._lost):
            if should_log_attempt(attempts):
                self.log.info(
                    "client_lost_at_once",
                    port=self.target.client_port,
                    attempt=attempts,
                    error=describe_cause(link.cause),
                )
            link.close()
            return False
        self._link = link
        self._connected_at = self._loop.time()
        self.retry_delays.connected()
        self._self_connections = 0
        self._handle(ConnectorEvent.ADOPTED)
        target = self.target
        self.log.info(
            "client_connected",
            host=target.client_host or LOCALHOST,
            port=target.client_port,
            attempts=attempts,
        )
        connected_task = self._connected_task
        if connected_task is not None and not connected_task.done():
            connected_task.set_result(None)
        self._report(ConnectionChange(Change.CLIENT_UP))
        return True

    async def wait_connected(self) -> None:
        """Wait until the client is connected (through CONNECTING and RECONNECTING).

        Raises
        ------
        RuntimeError
            If the client was never connected and nothing is connecting it.
        ConnectionClosedError
            If the connection was lost and nothing will reconnect it, or the
            connector is closed; chained to `cause`.
        """
        while self._machine.state is not ConnectorState.CONNECTED:
            state = self._machine.state
            if state is ConnectorState.CLOSED:
                raise ConnectionClosedError(f"{self.name} is closed") from self.cause
            if state is ConnectorState.IDLE:
                if self._link is None:
                    raise RuntimeError(
                        f"{self.name}: the client was never connected; call connect()"
                    )
                raise ConnectionClosedError(
                    f"{self.name}: the client connection was lost; call connect()"
                ) from self.cause
            changed = self._state_changed
            if changed is None:
                changed = self._state_changed = self._loop.create_future()
            await asyncio.shield(changed)

    # --- the end of a connection -------------------------------------------------------

    def _lost(self, link: Link) -> None:
        """The link's loss funnel: the peer ended it, it failed, or it was aborted."""
        if link is not self._link or self._machine.state is not ConnectorState.CONNECTED:
            return
        cause = link.cause
        self.cause = cause
        lifetime = self._ended(link)
        self.log.info(
            "client_disconnected", error=describe_cause(cause), lifetime=round(lifetime, 3)
        )
        state = self._handle(loss_event(self.target.auto_reconnect))
        self._report(ConnectionChange(Change.CLIENT_LOST, cause))
        # A listener may have closed the pair meanwhile: reconnect only if it did not.
        if state is ConnectorState.RECONNECTING and self._in_state(state):
            task = self._loop.create_task(self._reconnect())
            self.reconnect_task = self._attempt_task = task

    def _ended(self, link: Link) -> float:
        """Close ``link`` and record its lifetime for the retry delays; return it [s]."""
        lifetime = self._loop.time() - self._connected_at
        self.retry_delays.connection_ended(self.target.client_port, lifetime)
        link.on_lost = None
        link.close()
        return lifetime

    async def _reconnect(self) -> None:
        """Reconnect after a loss (the body of `reconnect_task`)."""
        target = self.target
        self.log.info("client_reconnecting", port=target.client_port, service=target.client_service)
        try:
            await self._attempts()
        except Exception as e:
            if self._machine.state is not ConnectorState.CLOSED:  # e.g. registry lost
                self.log.error("reconnect_failed", error=repr(e))
        finally:
            if self.reconnect_task is asyncio.current_task():
                self.reconnect_task = None

    async def stop_attempts(self) -> None:
        """Cancel a connection attempt or reconnection under way, and wait for it."""
        current = asyncio.current_task()
        for task in (self._attempt_task, self.reconnect_task):
            if task is not None and task is not current:
                await cancel_and_wait(task)
        if self.reconnect_task is not current:
            self.reconnect_task = None

    async def close_client(self) -> None:
        """Close the client connection (stopping attempts first). Idempotent.

        Reports ``CLIENT_LOST`` (local, no cause) if the client was connected.
        """
        await self.stop_attempts()
        link = self._link
        if link is None:
            return
        if self._machine.state is ConnectorState.CONNECTED:
            self._ended(link)
            self._handle(ConnectorEvent.STOP)
            self._report(ConnectionChange(Change.CLIENT_LOST, None, local=True))
        else:
            link.on_lost = None
            link.close()
        await link.wait_closed()

    def abort(self, cause: BaseException) -> bool:
        """Reset the client connection with ``cause``; False if it was not connected."""
        link = self._link
        if link is None or not link.is_open:
            return False
        port = self.target.client_port
        self.log.warning("client_aborted", port=port, reason=describe_cause(cause))
        link.abort(cause)
        return True

    def begin_close(self) -> bool:
        """Enter CLOSED (attempts will adopt nothing); return True if the client was up.

        Raises
        ------
        RuntimeError
            If already closed.
        """
        was_up = self._machine.state is ConnectorState.CONNECTED
        self._handle(ConnectorEvent.CLOSE)
        return was_up

    async def finish_close(self, was_up: bool) -> None:
        """After `begin_close`: stop attempts, close the link, report its loss if it was up."""
        await self.stop_attempts()
        link = self._link
        if link is None:
            return
        if was_up:
            self._ended(link)
            self._report(ConnectionChange(Change.CLIENT_LOST, None, local=True))
        link.on_lost = None
        link.close()
        await link.wait_closed()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` (if not done) and wait for it; its outcome is ignored."""
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved: the outcome is ignored
        return
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
