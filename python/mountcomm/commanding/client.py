"""`MountClient`: the facade observatory (CSC) code uses to command the mount."""

from __future__ import annotations

__all__ = ["MountClient"]

import asyncio
from collections import deque
from typing import Any, NoReturn

from ..exceptions import CommandTimeout, ConnectionClosedError
from ..net.discovery import ServiceRegistry
from ..protocol.commands import Command
from ..protocol.enums import Source
from ..protocol.replies import Reply
from ..sockets import DEFAULT_TCP_KEEPALIVE, DEFAULT_TCP_USER_TIMEOUT, TcpKeepalive
from .connection import ConsoleConnection
from .futures import CommandFutures
from .ids import IdRange
from .lifecycle import ClientState
from .policy import DEFAULT_ACK_TIMEOUT, DEFAULT_DONE_MARGIN
from .timer import DeadlineTimer
from .tracker import CommandTracker
from .unsolicited import (
    DEFAULT_UNSOLICITED_QUEUE,
    UnsolicitedCallback,
    UnsolicitedDispatcher,
    UnsolicitedReplies,
)

RETIRED_CONNECTIONS = 16
"""A new connection never reuses the sequence ids of this many earlier ones."""


class MountClient(ConsoleConnection):
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
    tcp_keepalive : `TcpKeepalive`, `float` or `None`, keyword-only
        TCP keepalive of both connections, as `Communicator`'s option of that
        name (default: a silent controller is noticed within 5 s); `None`: off.
    tcp_user_timeout : `float` or `None`, keyword-only
        ``TCP_USER_TIMEOUT`` of both connections [s], as `Communicator`'s
        option of that name (default 5 s); `None`: the kernel's default.
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
    replies, in whatever order they come. No task is created per command. The
    details are in doc/commanding.md; in short:

    * Life cycle: `state` (a `ClientState`) follows the table
      `mountcomm.commanding.lifecycle.TRANSITIONS`: CONNECTING, CONNECTED,
      RECONNECTING (``auto_reconnect`` only), LOST, CLOSED.
    * Connection lost: every command in flight fails at once with
      `ConnectionClosedError` (chained to the cause). By default the client
      then ends (LOST: `send` raises; make a new client). With
      ``auto_reconnect`` it connects again in the background (through the
      registry when ``command_service`` is set), keeps its unsolicited
      subscriptions, and `wait_connected` returns once both connections are
      up; nothing is queued or resent meanwhile.
    * Sequence ids: each connection has a fresh `tracker` whose ids start at
      a random value and skip those of the client's recent connections, so a
      late reply to an earlier connection (or process) is counted in
      `unknown_replies` and never resolves a newer command.
    * ACK timeout: a command may or may not have reached the controller. The
      client resets the command connection (TCP RST: what the kernel still
      holds is discarded, so it cannot execute later) and fails every command
      in flight with `CommandTimeout` (``delivered="unknown"``, or ``"yes"``
      for those already acknowledged); the connection is then lost as above.
      A DONE timeout fails only its command (``delivered="yes"``) and keeps
      the connection.

    Shutdown (`close`, idempotent): (1) fail every command in flight and end the
    unsolicited iterations, (2) cancel connecting if still under way, (3) stop
    the timer, (4) close both connections (replies stop being handled).
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
        tcp_keepalive: TcpKeepalive | float | None = DEFAULT_TCP_KEEPALIVE,
        tcp_user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
        **communicator_options: Any,
    ) -> None:
        communicator_options["tcp_keepalive"] = tcp_keepalive
        communicator_options["tcp_user_timeout"] = tcp_user_timeout
        super().__init__(
            host,
            command_port,
            reply_port=reply_port,
            reply_host=reply_host,
            role=role,
            log=log,
            registry=registry,
            command_service=command_service,
            reply_service=reply_service,
            auto_reconnect=auto_reconnect,
            communicator_options=communicator_options,
        )
        # The start task runs from the next loop iteration: the hooks' state is ready.
        self._tracker_options: dict[str, Any] = {
            "ack_timeout": ack_timeout,
            "done_margin": done_margin,
            "log": self.log,
        }
        self._retired_ids: deque[IdRange] = deque(maxlen=RETIRED_CONNECTIONS)
        self._retired_unknown = 0
        self._tracker = CommandTracker(**self._tracker_options)
        self._timer = DeadlineTimer(self._deadline_passed)  # the tracker's one timer
        self._dispatcher = UnsolicitedDispatcher(self.log)
        if unsolicited_callback is not None:
            self._dispatcher.add_callback(unsolicited_callback)

    # --- state -------------------------------------------------------------------

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

    # --- the hooks of ConsoleConnection --------------------------------------------------

    def _handle_reply(self, reply: Reply) -> None:
        tracker = self._tracker
        if tracker.handle_reply(reply):
            self._timer.arm(tracker.next_deadline())  # an ACK sets a DONE deadline
        else:
            self._dispatcher.dispatch(reply)

    def _ended(self, cause: BaseException | None) -> None:
        self._tracker.connection_lost(cause)
        self._dispatcher.end(lost=cause is not None, cause=cause)
        self._timer.cancel()

    def _interrupted(self, cause: BaseException) -> None:
        self._tracker.connection_lost(cause)
        self._timer.cancel()

    def _resumed(self) -> None:
        # A new connection: a new tracker, whose ids skip those of the recent ones.
        old = self._tracker
        self._retired_ids.append(old.issued_ids)
        self._retired_unknown += old.unknown_replies
        self._tracker = CommandTracker(**self._tracker_options, retired_ids=self._retired_ids)

    # --- deadlines ---------------------------------------------------------------------

    def _deadline_passed(self) -> None:
        errors = self._tracker.expire(self._loop.time())
        unacknowledged = next((e for e in errors if e.delivered == "unknown"), None)
        if unacknowledged is not None and self._lifecycle.state is ClientState.CONNECTED:
            self._reset_command_connection(unacknowledged)
        self._timer.arm(self._tracker.next_deadline())

    def _reset_command_connection(self, cause: CommandTimeout) -> None:
        """No ACK in time: reset the command connection so the command cannot run later."""
        self.log.warning(
            "command_connection_reset", reason=str(cause), in_flight=self._tracker.in_flight
        )
        self._tracker.connection_aborted(cause)
        self._connection_lost(cause)
        self._communicator.abort_client(cause)

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
        self._timer.arm(futures.deadline)
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

        It runs as each reply arrives (in the transport's callback), so it must
        be quick; exceptions are logged.
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
