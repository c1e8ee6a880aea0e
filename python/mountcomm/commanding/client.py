"""`MountClient`: the facade observatory (CSC) code uses to command the mount."""

from __future__ import annotations

__all__ = ["MountClient"]

import asyncio
from collections import deque
from typing import Any, NoReturn

from .._lifecycle import AsyncResource
from ..exceptions import CommandTimeout, ConnectionClosedError, ProtocolError
from ..log import get_logger
from ..net.communicator import Communicator
from ..net.discovery import ServiceRegistry, mount_service_name
from ..protocol.commands import Command
from ..protocol.enums import Source
from ..protocol.replies import Reply
from .ids import IdRange
from .lifecycle import ClientEvent, ClientState, Lifecycle
from .policy import DEFAULT_ACK_TIMEOUT, DEFAULT_DONE_MARGIN, should_log_occurrence
from .tracker import CommandFutures, CommandTracker
from .unsolicited import (
    DEFAULT_UNSOLICITED_QUEUE,
    UnsolicitedCallback,
    UnsolicitedDispatcher,
    UnsolicitedReplies,
)

_MANAGED_OPTIONS = frozenset(
    {
        "connect",
        "connect_callback",
        "read_replies",
        "server_service",
        "client_service",
        "auto_reconnect",
    }
)

RETIRED_CONNECTIONS = 16
"""A new connection never reuses the sequence ids of this many earlier ones."""


class MountClient(AsyncResource):
    """Command the mount controller as one console (CSC, EUI or HHD).

    Owns a `Communicator` in the console role (it writes commands to the
    controller's command port and reads replies on its own reply port), a read
    loop task that feeds a `CommandTracker`, one timer for the tracker's
    deadlines, and the delivery of unsolicited replies. Use it as an async
    context manager::

        async with MountClient(host, 50005) as mount:
            await mount.run(commands.AskForCommand(commander=Source.CSC))
            await mount.run(commands.ElevationAxisMove(position=60))  # returns on DONE
            futures = await mount.send(cmd)  # CommandFutures: .ack, .done
            async for reply in mount.unsolicited(): ...

    Parameters
    ----------
    host : `str` or `None`
        Host of the controller; `None`: localhost.
    command_port : `int`
        Port where the controller reads commands; 0 with a ``registry``: find
        it by ``command_service``.
    reply_port : `int` or `None`, keyword-only
        Port this client listens on for replies; `None`: ``command_port + 1``
        (0 when ``command_port`` is 0); 0: the OS picks (see `wait_reply_port`).
    reply_host : `str` or `None`, keyword-only
        Address to listen on for replies; `None`: all interfaces.
    role : `Source`, keyword-only
        Who this client is; written into the ``source`` of every command sent.
    log : `logging.Logger`, structlog logger or `None`, keyword-only
        Where to log.
    ack_timeout : `float`, keyword-only
        How long to wait for the ACK or NOACK of a command [s]. When it
        expires the command connection is reset (see the notes).
    done_margin : `float`, keyword-only
        How long to wait for DONE beyond the ACK's ``timeout_ms`` [s].
    unsolicited_callback : callable or `None`, keyword-only
        ``callback(reply)`` for every unsolicited reply (see
        `add_unsolicited_callback`).
    registry : `PortRegistry` or `None`, keyword-only
        A connected port registry client (not closed by this client). With it,
        the controller is found and this client's reply port advertised by
        service name, so no fixed port is needed.
    command_service : `str` or `None`, keyword-only
        Find the controller's command port by this name (waiting until it is
        advertised). Default with a ``registry`` and ``command_port`` 0:
        ``mount.<role>.command`` (see `mount_service_name`).
    reply_service : `str` or `None`, keyword-only
        Advertise the reply port under this name once it listens (released on
        `close`). Default with a ``registry``: ``mount.<role>.reply``.
    auto_reconnect : `bool`, keyword-only
        Survive a lost connection (see the notes). Default False: one
        connection, one life.
    tcp_keepalive : `float` or `None`, keyword-only
        TCP keepalive of both connections, as `Communicator`'s option of that
        name; `None`: the `Communicator` default.
    tcp_user_timeout : `float` or `None`, keyword-only
        ``TCP_USER_TIMEOUT`` of both connections [s], as `Communicator`'s
        option of that name; `None`: the `Communicator` default.
    **communicator_options
        Keyword-only options of `Communicator` (``connect_timeout``,
        ``max_frame_bytes``, retry settings, ...). ``connect``,
        ``connect_callback`` and ``read_replies`` are managed by the client.

    Attributes
    ----------
    host, command_port, role, log, registry, auto_reconnect
        As given.
    command_service, reply_service : `str` or `None`
        The service names in use (defaults filled in).
    start_task : `asyncio.Task`
        Connects the client (started at construction): done when both
        connections are up, or failed (e.g. `TimeoutError` after
        ``connect_timeout``, naming the host and ports).
    protocol_errors : `int`
        Bad frames received and skipped.

    Raises
    ------
    TypeError
        If ``communicator_options`` holds an option the client manages.
    RuntimeError
        If constructed with no running event loop.

    Notes
    -----
    Any number of commands may be in flight at once; each resolves from its own
    replies, in whatever order they come. No task is created per command.

    The life cycle is explicit (`state`, a `ClientState`; the transition table
    is `mountcomm.commanding.lifecycle.TRANSITIONS`): CONNECTING → CONNECTED,
    then RECONNECTING (``auto_reconnect``) and back, or LOST; CLOSED after
    `close`.

    One connection, one life (the default): when either connection is lost (or
    `close` is called) every command in flight fails at once with
    `ConnectionClosedError` (a `ConnectionError`, chained to the cause),
    unsolicited iterations end, and `send` raises `ConnectionClosedError`. To
    reconnect, make a new client (with a ``registry`` it finds a restarted
    controller by name).

    With ``auto_reconnect=True`` a lost connection fails every command in flight
    at once with `ConnectionClosedError`, as above, but the client lives on: the
    command connection is made again in the background (through the registry
    when ``command_service`` is set, so a controller that restarts on another
    port is found), the reply server keeps listening for the controller to come
    back, unsolicited subscriptions carry on, and `wait_connected` returns once
    both are up. Meanwhile `send` raises `ConnectionClosedError`; nothing is
    queued or resent (the controller, and who holds command, may be new).
    Each connection gets a fresh `tracker`, whose sequence ids start at a
    random value and skip those of the client's recent connections, so a late
    reply to an earlier connection is counted in `unknown_replies` and never
    resolves a command of the new one.

    ACK timeout: a command with no ACK within ``ack_timeout`` may or may not
    have reached the controller. So that it cannot execute later, the client
    resets the command connection (TCP RST, discarding whatever the kernel
    still holds) and fails every command in flight with `CommandTimeout`
    (``delivered="unknown"``; ``"yes"`` for those already acknowledged). The
    connection is then lost as above (``auto_reconnect`` makes it again). A
    DONE timeout (ACK seen, no DONE) fails only that command, with
    ``delivered="yes"``, and keeps the connection.

    Shutdown (`close`, idempotent): (1) fail every command in flight and end the
    unsolicited iterations, (2) cancel connecting if still under way, (3) stop
    the read loop and the timer, (4) close both connections.
    """

    def __init__(
        self,
        host: str | None,
        command_port: int,
        *,
        reply_port: int | None = None,
        reply_host: str | None = None,
        role: Source = Source.CSC,
        log: Any = None,
        ack_timeout: float = DEFAULT_ACK_TIMEOUT,
        done_margin: float = DEFAULT_DONE_MARGIN,
        unsolicited_callback: UnsolicitedCallback | None = None,
        registry: ServiceRegistry | None = None,
        command_service: str | None = None,
        reply_service: str | None = None,
        auto_reconnect: bool = False,
        tcp_keepalive: float | None = None,
        tcp_user_timeout: float | None = None,
        **communicator_options: Any,
    ) -> None:
        managed = _MANAGED_OPTIONS & communicator_options.keys()
        if managed:
            raise TypeError(f"MountClient manages these Communicator options: {sorted(managed)}")
        self.role = Source(role)
        if registry is not None:
            if command_service is None and not command_port:
                command_service = mount_service_name(self.role, "command")
            if reply_service is None:
                reply_service = mount_service_name(self.role, "reply")
        elif command_service or reply_service:
            raise ValueError("command_service and reply_service need a registry")
        if not command_port and not command_service:
            raise ValueError(f"command_port must be a real port, got {command_port!r}")
        if reply_port is None:
            reply_port = command_port + 1 if command_port else 0
        # None: leave the Communicator's default.
        if tcp_keepalive is not None:
            communicator_options["tcp_keepalive"] = tcp_keepalive
        if tcp_user_timeout is not None:
            communicator_options["tcp_user_timeout"] = tcp_user_timeout
        self._loop = loop = asyncio.get_running_loop()
        self.host = host
        self.command_port = command_port
        self.registry = registry
        self.command_service = command_service
        self.reply_service = reply_service
        self.auto_reconnect = auto_reconnect
        self.log = get_logger(log, f"MountClient({self.role.name})")
        self.protocol_errors = 0
        self._tracker_options: dict[str, Any] = {
            "ack_timeout": ack_timeout,
            "done_margin": done_margin,
            "log": self.log,
        }
        self._lifecycle = Lifecycle()
        self._cause: BaseException | None = None  # why the client ended (first cause)
        self._interruption: BaseException | None = None  # why it is reconnecting
        self._retired_ids: deque[IdRange] = deque(maxlen=RETIRED_CONNECTIONS)
        self._retired_unknown = 0
        self._tracker = CommandTracker(**self._tracker_options)
        self._timer: asyncio.TimerHandle | None = None
        self._change: asyncio.Future[None] = loop.create_future()
        self._dispatcher = UnsolicitedDispatcher(self.log)
        if unsolicited_callback is not None:
            self._dispatcher.add_callback(unsolicited_callback)
        self._read_task: asyncio.Task[None] | None = None
        self._done: asyncio.Future[None] = loop.create_future()  # set when close() finished
        self._communicator = Communicator(
            name=self.role.name.lower(),
            client_host=host,
            client_port=command_port,
            server_host=reply_host,
            server_port=reply_port,
            log=log,
            read_replies=True,
            connect=False,
            connect_callback=self._connection_changed,
            registry=registry,
            client_service=command_service,
            server_service=reply_service,
            auto_reconnect=auto_reconnect,
            **communicator_options,
        )
        self.start_task: asyncio.Task[None] = loop.create_task(self._start())
        self.start_task.add_done_callback(self._start_done)

    # --- state -------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """Where the client is in its life (see `ClientState`)."""
        return self._lifecycle.state

    @property
    def connected(self) -> bool:
        """True from the end of `start` until the connection is lost or closed."""
        return self._lifecycle.state is ClientState.CONNECTED and self._communicator.connected

    @property
    def reply_port(self) -> int:
        """Port this client listens on for replies (0 until known, if 0 was asked)."""
        return self._communicator.server_port

    @property
    def communicator(self) -> Communicator:
        """The underlying `Communicator` (do not read from it)."""
        return self._communicator

    @property
    def tracker(self) -> CommandTracker:
        """The `CommandTracker` of this connection (a new one after a reconnection)."""
        return self._tracker

    @property
    def in_flight(self) -> int:
        """Number of commands sent and not yet finished."""
        return self._tracker.in_flight

    @property
    def unknown_replies(self) -> int:
        """ACK/NOACK/DONE replies that matched no command in flight (all connections)."""
        return self._retired_unknown + self._tracker.unknown_replies

    # --- life cycle -------------------------------------------------------------------

    async def wait_reply_port(self) -> int:
        """Wait until the reply server listens; return its port.

        Raises
        ------
        OSError
            If the reply port cannot be bound.
        """
        return await self._communicator.wait_server_port()

    async def wait_connected(self) -> None:
        """Wait until both connections are up (return at once if they are).

        For ``auto_reconnect``: the next connection after a loss. Cancel-safe.

        Raises
        ------
        ConnectionClosedError
            If the client is closed, or its connection ended for good, first.
        """
        while not self.connected:
            if self._lifecycle.ended:
                raise ConnectionClosedError(
                    f"MountClient is {self._lifecycle.state.value}"
                ) from self._cause
            await asyncio.shield(self._change)

    def _notify_change(self) -> None:
        change = self._change
        self._change = self._loop.create_future()
        change.set_result(None)

    async def start(self) -> None:
        """Wait until both connections are up (`start_task`). Idempotent.

        Cancelling `start` does not cancel `start_task`.

        Raises
        ------
        TimeoutError
            If ``connect_timeout`` was given and expired (the message names
            the host and the ports).
        ConnectionError
            If the client was closed (`ConnectionClosedError`) or the connection
            lost before it was up.
        OSError
            If the reply port cannot be bound.
        """
        try:
            await asyncio.shield(self.start_task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.start_task.cancelled() and (current is None or not current.cancelling()):
                # close() cancelled the connecting, not our caller.
                raise ConnectionClosedError("MountClient was closed before it connected") from None
            raise

    async def _start(self) -> None:
        comm = self._communicator
        await comm.wait_server_port()  # raises OSError if the reply port cannot be bound
        try:
            await comm.connect()
        except TimeoutError as e:
            raise TimeoutError(self._connect_timeout_message()) from e
        if self._lifecycle.state is not ClientState.CONNECTING or not comm.connected:
            raise ConnectionClosedError(f"{comm.name}: connection lost while connecting")
        self._lifecycle.handle(ClientEvent.CONNECTED)
        self._read_task = self._loop.create_task(self._read_loop())
        self.log.info(
            "mount_client_connected",
            host=self.host,
            command_port=comm.client_port,
            reply_port=self.reply_port,
        )
        self._notify_change()

    def _connect_timeout_message(self) -> str:
        comm = self._communicator
        where = f"{comm.client_host or 'localhost'}:{comm.client_port or '?'}"
        if comm.client_service:
            where += f" (service {comm.client_service!r})"
        within = f"within connect_timeout={comm.connect_timeout} s"
        if not comm.client_connected:
            return f"MountClient({self.role.name}): no connection to {where} {within}"
        return (
            f"MountClient({self.role.name}): connected to {where}, but the controller "
            f"did not connect back to reply port {self.reply_port} {within}"
        )

    def _start_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.log.error("mount_client_start_failed", error=repr(error))
            self._teardown(error)

    async def close(self) -> None:
        """Close the client (see the class notes for the steps). Idempotent.

        Every command still in flight fails with `ConnectionClosedError`. Safe
        to call at any moment, also concurrently.
        """
        if self._lifecycle.state is ClientState.CLOSED:
            await asyncio.shield(self._done)
            return
        try:
            self._teardown(None)
            tasks = [t for t in (self.start_task, self._read_task) if t is not None]
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._communicator.close()
        finally:
            if not self._done.done():
                self._done.set_result(None)

    # --- the one teardown funnel, and interruptions ---------------------------------------

    def _teardown(self, cause: BaseException | None) -> None:
        """End the client: ``cause`` `None` means `close`, else a failure.

        Records the first cause, fails every command in flight with
        `ConnectionClosedError` chained to it, ends the unsolicited iterations,
        stops the timer and cancels the helper tasks (except the caller).
        Idempotent: later calls only turn LOST into CLOSED on `close`.
        """
        lifecycle = self._lifecycle
        if lifecycle.ended:
            if cause is None and lifecycle.state is ClientState.LOST:
                lifecycle.handle(ClientEvent.CLOSE)
            return
        lifecycle.handle(ClientEvent.CLOSE if cause is None else ClientEvent.LOST)
        self._cause = cause
        if cause is not None:
            self.log.warning(
                "connection_lost", error=repr(cause), in_flight=self._tracker.in_flight
            )
        self._tracker.connection_lost(cause)
        self._dispatcher.end(lost=cause is not None, cause=cause)
        self._cancel_timer()
        current = asyncio.current_task()
        for task in (self.start_task, self._read_task):
            if task is not None and not task.done() and task is not current:
                task.cancel()
        self._notify_change()

    def _connection_lost(self, cause: BaseException) -> None:
        """A connection of the connected client was lost (or reset by us).

        Without ``auto_reconnect`` this ends the client (`_teardown`); with it,
        the commands in flight fail and the client waits to be connected again.
        """
        if self._lifecycle.state is not ClientState.CONNECTED:
            return  # connecting (start fails), reconnecting or ended: nothing in flight
        if not self.auto_reconnect:
            self._teardown(cause)
            return
        self._lifecycle.handle(ClientEvent.INTERRUPTED)
        self._interruption = cause
        tracker = self._tracker
        self.log.warning(
            "connection_lost_reconnecting", error=repr(cause), in_flight=tracker.in_flight
        )
        tracker.connection_lost(cause)
        self._cancel_timer()
        self._notify_change()

    def _reconnected(self) -> None:
        """Both connections are up again: a new connection gets a new tracker."""
        old = self._tracker
        self._retired_ids.append(old.issued_ids)
        self._retired_unknown += old.unknown_replies
        self._tracker = CommandTracker(**self._tracker_options, retired_ids=self._retired_ids)
        self._interruption = None
        self._lifecycle.handle(ClientEvent.CONNECTED)
        self.log.info(
            "mount_client_reconnected",
            command_port=self._communicator.client_port,
            reply_port=self.reply_port,
        )

    def _connection_changed(self, communicator: Communicator) -> None:
        # The read loop notices a lost reply connection (with the read's error
        # as cause); this notices a lost command connection, which nothing reads.
        state = self._lifecycle.state
        if state is ClientState.CONNECTED and not communicator.client_connected:
            self._connection_lost(
                ConnectionClosedError(f"{communicator.name}: command connection lost")
            )
        elif state is ClientState.RECONNECTING and communicator.connected:
            self._reconnected()
        self._notify_change()

    async def _read_loop(self) -> None:
        comm = self._communicator
        read = comm.read
        dispatch = self._dispatcher.dispatch
        try:
            while True:
                try:
                    # read_replies=True: the Communicator parses replies only.
                    reply: Reply = await read()  # type: ignore[assignment]
                except ConnectionError as e:
                    if not self.auto_reconnect:
                        raise
                    self._connection_lost(e)
                    # The controller connects to our reply server again when it is back.
                    await comm.server.wait_connected()
                    continue
                except ProtocolError as e:
                    self.protocol_errors += 1
                    if should_log_occurrence(self.protocol_errors):
                        self.log.warning(
                            "bad_frame_skipped", error=str(e), protocol_errors=self.protocol_errors
                        )
                    continue
                tracker = self._tracker
                if tracker.handle_reply(reply):
                    self._arm(tracker.next_deadline())  # an ACK sets a DONE deadline
                else:
                    dispatch(reply)
        except ConnectionError as e:
            self._teardown(e)
        except Exception as e:  # a bug: end cleanly rather than hang every caller
            self.log.exception("read_loop_failed")
            self._teardown(e)

    # --- the deadline timer ------------------------------------------------------------

    def _arm(self, when: float | None) -> None:
        """Make the one timer fire at ``when`` if that is earlier than it is set for."""
        if when is None:
            return
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = self._loop.call_at(when, self._deadline_passed)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline_passed(self) -> None:
        self._timer = None
        errors = self._tracker.expire(self._loop.time())
        unacknowledged = next((e for e in errors if e.delivered == "unknown"), None)
        if unacknowledged is not None and self._lifecycle.state is ClientState.CONNECTED:
            self._reset_command_connection(unacknowledged)
        self._arm(self._tracker.next_deadline())

    def _reset_command_connection(self, cause: CommandTimeout) -> None:
        """No ACK in time: reset the command connection so the command cannot run later."""
        self.log.warning(
            "command_connection_reset", reason=str(cause), in_flight=self._tracker.in_flight
        )
        self._tracker.connection_aborted(cause)
        self._connection_lost(cause)
        self._communicator.abort_client()

    # --- commanding -------------------------------------------------------------------

    def _refuse_send(self, command: Command) -> NoReturn:
        state = self._lifecycle.state
        if state is ClientState.CONNECTING:
            raise RuntimeError("MountClient is not started: use `async with` or await start()")
        cause = self._interruption if state is ClientState.RECONNECTING else self._cause
        raise ConnectionClosedError(
            f"cannot send {type(command).__name__}: MountClient is {state.value}"
        ) from cause

    async def send(self, command: Command) -> CommandFutures:
        """Send a command; return its futures at once, without waiting for replies.

        Sets ``command.sequence_id`` (from this connection's ids) and
        ``command.source`` (`role`).

        Parameters
        ----------
        command : `Command`
            The command to send.

        Returns
        -------
        futures : `CommandFutures`
            ``ack`` resolves to the ACK's timeout [s], ``done`` to `None` when
            the command is done; see `CommandFutures` for the errors.

        Raises
        ------
        ConnectionClosedError
            If the connection is lost, being made again, or closed (chained to
            the cause).
        RuntimeError
            If the client has not finished `start`.

        Notes
        -----
        Returns without awaiting unless the socket's write buffer is above its
        high-water mark. Cancelling ``send`` while it waits for the buffer to
        drain forgets the command (its replies, if any, count as unknown).
        """
        if self._lifecycle.state is not ClientState.CONNECTED:
            self._refuse_send(command)
        command.source = self.role  # type: ignore[misc]  # slot made by MessageMeta
        tracker = self._tracker
        futures = tracker.start(command)
        self._arm(futures.deadline)
        try:
            await self._communicator.write(command)
        except BaseException:
            tracker.abandon(futures)
            raise
        return futures

    async def run(
        self,
        command: Command,
        timeout: float | None = None,
    ) -> None:
        """Send a command and wait until it is done (on ACK for ack-only commands).

        Parameters
        ----------
        command : `Command`
            The command to run; its ``sequence_id`` and ``source`` are set.
        timeout : `float` or `None`, optional
            Overall limit, sending included [s]; `None`: rely on the ack
            timeout and the ACK's ``timeout_ms`` plus the done margin.

        Raises
        ------
        CommandRejected
            The controller answered NOACK.
        CommandSuperseded
            A newer command replaced this one (a `CommandRejected`).
        CommandTimeout
            No ACK within the ack timeout, no DONE within the ACK's
            ``timeout_ms`` plus the done margin, or ``timeout`` expired;
            ``delivered`` tells whether the ACK was seen.
        ConnectionClosedError
            The connection was lost or closed before the command was done.
        RuntimeError
            If the client has not finished `start`.

        Notes
        -----
        Cancelling ``run`` (or ``timeout`` expiring) abandons the command's
        futures; the command is not withdrawn from the controller. If its ACK
        does not come within the ack timeout, the command connection is still
        reset, as for any command.
        """
        if timeout is None:
            futures = await self.send(command)
            await futures.wait()
            return
        deadline = asyncio.timeout(timeout)
        sent: CommandFutures | None = None
        try:
            async with deadline:
                sent = await self.send(command)
                await sent.wait()
        except TimeoutError as e:
            if not deadline.expired():
                raise  # a CommandTimeout from the tracker
            raise CommandTimeout(
                f"{type(command).__name__} (sequence_id={command.sequence_id}) "
                f"not done within {timeout:.3g} s",
                delivered="yes" if sent is not None and sent.acked else "unknown",
            ) from e

    # --- unsolicited replies --------------------------------------------------------------

    def unsolicited(self, maxsize: int = DEFAULT_UNSOLICITED_QUEUE) -> UnsolicitedReplies:
        """Subscribe to unsolicited replies (ERROR, WARNING, IN_POSITION, ON_STATE_INFO).

        Every reply that arrives after this call is queued for the returned
        subscription; any number of subscriptions may exist at once.

        Parameters
        ----------
        maxsize : `int`, optional
            Replies the consumer may fall behind before the oldest are dropped.

        Returns
        -------
        replies : `UnsolicitedReplies`
            An async iterator; it ends after `close` and raises
            `ConnectionClosedError` after a connection loss. Use it as an async
            context manager (or call its ``close``) to unsubscribe.
        """
        return self._dispatcher.subscribe(maxsize)

    def add_unsolicited_callback(self, callback: UnsolicitedCallback) -> None:
        """Call ``callback(reply)`` for each unsolicited reply (a plain function).

        It runs in the read loop, so it must be quick; exceptions are logged.
        """
        self._dispatcher.add_callback(callback)

    def remove_unsolicited_callback(self, callback: UnsolicitedCallback) -> None:
        """Stop calling ``callback``; does nothing if it is not registered."""
        self._dispatcher.remove_callback(callback)

    def __repr__(self) -> str:
        return (
            f"MountClient(role={self.role.name}, host={self.host!r}, "
            f"command_port={self.command_port}, reply_port={self.reply_port}, "
            f"connected={self.connected}, in_flight={self.in_flight})"
        )
