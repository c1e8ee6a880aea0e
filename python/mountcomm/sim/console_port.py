"""`ConsolePort`: one console role's port pair on the controller side (asyncio glue).

A server on the role's command port reads commands; a client connected to the
console's reply port writes replies. Three tasks per console: the read loop
(frames in, handed to the controller one at a time), the send loop (replies
out, in order, honouring the fault-injection delay) and the connect loop
(keeps the reply client connected whenever the reply port is known).

Each loop survives anything one frame or one reply can do: a frame that is
not a command, or whose handling raises, is answered (NOACK) and logged, and
the loop reads the next one. Bad frames are logged through a `LogThrottle`,
so a flood of garbage costs a bounded number of log lines plus a count.
"""

from __future__ import annotations

__all__ = [
    "MAX_QUEUED_REPLIES",
    "REPLY_CONNECT_WAIT",
    "ConsolePort",
    "ConsolePorts",
    "PortOwner",
    "role_of",
]

import asyncio
import contextlib
import time
from typing import Any, Protocol

from ..exceptions import ProtocolError
from ..net.changes import Change, ConnectionChange, describe_cause
from ..net.communicator import Communicator
from ..net.retry import RetryPolicy
from ..protocol import Message
from ..protocol.commands import Command
from ..protocol.enums import Source
from ..protocol.replies import Reply
from ..sockets import TcpKeepalive
from ..throttle import LogThrottle, should_log_occurrence
from .faults import ReplyFaults

MAX_QUEUED_REPLIES = 10_000
"""Replies waiting for one console beyond which new ones are dropped (memory bound)."""

REPLY_CONNECT_WAIT = 2.0
"""How long a reply waits for its console's reply connection before it is dropped [s]."""

CONNECT_RETRY_DELAY = 0.1
"""Pause after an unexpected failure of the reply connection attempt [s]."""

CONNECT_RETRY = RetryPolicy(CONNECT_RETRY_DELAY, factor=2.0, maximum=2.0)
"""Pauses after unexpected failures of the reply connection attempt in a row [s]."""


def role_of(role: Source | str) -> Source:
    """A console role from a `Source` or its name (any case)."""
    return Source[role.upper()] if isinstance(role, str) else Source(role)


class PortOwner(Protocol):
    """What a `ConsolePort` needs from its controller."""

    closing: bool
    running: asyncio.Event

    def handle_command(self, port: ConsolePort, command: Command) -> None:
        """Answer one command (may raise: the port answers NOACK and logs)."""

    def command_failed(self, port: ConsolePort, command: Command, error: Exception) -> None:
        """Handling ``command`` raised ``error``: answer NOACK."""

    def bad_frame(self, port: ConsolePort, error: ProtocolError) -> int | None:
        """Answer a frame that is not a valid command; return its sequence id."""

    def console_changed(self, port: ConsolePort, change: ConnectionChange) -> None:
        """The command connection went up (``SERVER_UP``) or was lost (``SERVER_LOST``)."""


class ConsolePort:
    """One console role's port pair, its reply queue and its three loops.

    Parameters
    ----------
    owner : `PortOwner`
        The controller.
    role : `Source`
    reply_port : `int`
        The console's reply port (0: unknown until `set_reply_port`).
    faults : `ReplyFaults`
        Fault settings of the replies to this console.
    keepalive : `TcpKeepalive` or `None`
    user_timeout : `float` or `None`
        Socket options of both connections (the `Communicator`'s
        ``tcp_keepalive`` and ``tcp_user_timeout``; `None` turns one off).
    log : structlog logger
    comm_log : logger or `None`
        The ``log`` argument of the `Communicator`.
    **comm_args
        The `Communicator`'s hosts, ports and options.

    Attributes
    ----------
    comm : `Communicator`
    queue : `asyncio.Queue`
        ``(deliver_at, reply)`` waiting to be sent (loop time).
    bad_frames : `LogThrottle`
        Counts this console's bad frames and throttles their log lines.
    replies_dropped : `int`
    cause : `BaseException` or `None`
        Why the console's last connection ended (the first cause recorded by
        the `Communicator`'s `ConnectionChange`); `None` if it was closed here.
    """

    def __init__(
        self,
        owner: PortOwner,
        role: Source,
        reply_port: int,
        faults: ReplyFaults,
        *,
        keepalive: TcpKeepalive | None,
        user_timeout: float | None,
        log: Any,
        comm_log: Any = None,
        **comm_args: Any,
    ) -> None:
        self.owner = owner
        self.role = role
        self.reply_port = reply_port
        self.faults = faults
        self.log = log
        self.comm = Communicator(
            f"controller-{role.name.lower()}",
            read_replies=False,
            connect=False,
            log=comm_log,
            tcp_keepalive=keepalive,
            tcp_user_timeout=user_timeout,
            **comm_args,
        )
        self.queue: asyncio.Queue[tuple[float, Reply | bytes]] = asyncio.Queue(MAX_QUEUED_REPLIES)
        self.changed = asyncio.Event()
        self.client_up = asyncio.Event()
        self.bad_frames = LogThrottle()
        self.replies_dropped = 0
        self.tasks: list[asyncio.Task[None]] = []
        self.cause: BaseException | None = None
        self.comm.add_change_listener(self._connection_changed)

    def start(self, spawn: Any) -> None:
        """Start the loops with ``spawn(coro, name) -> Task``."""
        name = self.role.name
        self.tasks = [
            spawn(self._read_loop(), f"read-{name}"),
            spawn(self._send_loop(), f"send-{name}"),
            spawn(self._connect_loop(), f"connect-{name}"),
        ]

    # --- connections ----------------------------------------------------------------

    def _connection_changed(self, change: ConnectionChange) -> None:
        """Act on one typed change of the `Communicator` (its change listener)."""
        kind = change.kind
        if change.is_loss:
            self.cause = change.cause
            self.log.info(
                "console_connection_lost",
                role=self.role.name,
                connection="reply" if kind is Change.CLIENT_LOST else "command",
                cause=describe_cause(change.cause),
            )
        if kind is Change.CLIENT_UP:
            self.client_up.set()
        elif kind is Change.CLIENT_LOST:
            self.client_up.clear()
        elif kind is Change.SERVER_UP or kind is Change.SERVER_LOST:
            # The server reports each connection up once and lost once, in order.
            self.owner.console_changed(self, change)
        self.changed.set()

    async def _connect_loop(self) -> None:
        """Keep the reply client connected whenever the reply port is known."""
        comm = self.comm
        delays = CONNECT_RETRY.delays()
        while True:
            self.changed.clear()
            if (self.reply_port or comm.client_service) and not comm.client_connected:
                try:
                    await comm.connect_client()
                except Exception as e:  # one failed attempt must not end the loop
                    self.log.error("reply_connect_failed", role=self.role.name, exc_info=e)
                    await asyncio.sleep(next(delays))
                else:
                    delays = CONNECT_RETRY.delays()
                continue
            await self.changed.wait()

    def connection_lost_by_fault(self) -> None:
        """`drop_connection` closed both sockets: wake the connect loop.

        The connection state itself follows the `Communicator`'s changes, which
        report the closes made here too.
        """
        self.changed.set()

    # --- commands -------------------------------------------------------------------

    async def _read_loop(self) -> None:
        comm = self.comm
        while True:
            await comm.server.wait_connected()
            frame: Message | ProtocolError
            try:
                frame = await comm.read()
            except ProtocolError as e:
                frame = e
            except ConnectionError:
                continue
            except Exception as e:  # a read bug must not end the console
                self.log.error("read_failed", role=self.role.name, exc_info=e)
                await comm.server.close_client()
                continue
            await self.owner.running.wait()
            self._take(frame)

    def _take(self, frame: Message | ProtocolError) -> None:
        """Answer one frame; whatever goes wrong stays with this frame."""
        try:
            if isinstance(frame, Command):
                self.owner.handle_command(self, frame)
            elif isinstance(frame, ProtocolError):
                self.owner.bad_frame(self, frame)
            else:
                self.owner.bad_frame(self, ProtocolError(f"not a command: {frame!r}", None))
        except Exception as e:  # one frame must not end the loop
            command = frame if isinstance(frame, Command) else None
            self.log.error(
                "command_failed",
                role=self.role.name,
                command=command.command_code.name if command else None,
                sequence_id=command.sequence_id if command else None,
                exc_info=e,
            )
            if command is not None:
                self.owner.command_failed(self, command, e)

    def log_bad_frame(self, error: ProtocolError, sequence_id: int | None) -> None:
        """Log a bad frame, throttled (see `LogThrottle`)."""
        log, summary = self.bad_frames.event(time.monotonic())
        if summary:
            self.log_suppressed(summary)
        if log:
            self.log.warning(
                "bad_command", role=self.role.name, error=str(error), sequence_id=sequence_id
            )

    def log_suppressed(self, count: int | None = None) -> None:
        """Log how many bad frames were not logged one by one (if any)."""
        count = self.bad_frames.flush() if count is None else count
        if count:
            self.log.warning(
                "bad_commands_not_logged",
                role=self.role.name,
                count=count,
                total=self.bad_frames.total,
            )

    # --- replies --------------------------------------------------------------------

    def reply(self, reply: Reply | bytes) -> bool:
        """Queue one reply (dropped if withheld or the queue is full); True if queued."""
        if self.faults.withholds(reply):
            self.log.info("reply_withheld", role=self.role.name, reply=repr(reply))
            return False
        if self.queue.full():
            self.replies_dropped += 1
            if should_log_occurrence(self.replies_dropped, first=1):
                self.log.warning(
                    "reply_queue_full", role=self.role.name, dropped=self.replies_dropped
                )
            return False
        loop = asyncio.get_running_loop()
        self.queue.put_nowait((loop.time() + self.faults.delay_s, reply))
        return True

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deliver_at, reply = await self.queue.get()
            try:
                if (delay := deliver_at - loop.time()) > 0:
                    await asyncio.sleep(delay)
                await self.owner.running.wait()
                await self._send(reply)
            except Exception as e:  # one reply must not end the loop
                self.log.error("reply_failed", role=self.role.name, exc_info=e)
            finally:
                self.queue.task_done()

    async def _send(self, reply: Reply | bytes) -> None:
        comm = self.comm
        if not comm.client_connected and not self.owner.closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REPLY_CONNECT_WAIT):
                    await self.client_up.wait()
        if not comm.client_connected:
            self.log.warning("reply_dropped", role=self.role.name, reply=repr(reply))
            return
        try:
            await comm.write(reply)
        except ConnectionError as e:
            self.log.warning("reply_dropped", role=self.role.name, error=str(e))


class ConsolePorts:
    """The controller's console ports by role, and their public queries (a mixin).

    Attributes
    ----------
    roles : `tuple` [`Source`]
        The console roles served.
    """

    roles: tuple[Source, ...]
    _consoles: dict[Source, ConsolePort]
    _command_ports: dict[Source, int]
    _reply_ports: dict[Source, int]

    def _console(self, role: Source | str) -> ConsolePort:
        try:
            return self._consoles[role_of(role)]
        except KeyError:
            raise ValueError(
                f"{role!r} is not served (roles: {[r.name for r in self.roles]}), "
                "or the controller is not started"
            ) from None

    def command_port(self, role: Source | str) -> int:
        """The port where ``role``'s console sends commands.

        Before `start`, the configured port (0 if the OS is to pick).
        """
        role = self._served(role)
        if role in self._consoles:
            return self._consoles[role].comm.server_port
        return self._command_ports.get(role, 0)

    def reply_port(self, role: Source | str) -> int:
        """The console's reply port the controller connects to (0: not known yet)."""
        role = self._served(role)
        if role in self._consoles:
            return self._consoles[role].comm.client_port
        command_port = self._command_ports.get(role, 0)
        return self._reply_ports.get(role, command_port + 1 if command_port else 0)

    def _served(self, role: Source | str) -> Source:
        source = role_of(role)
        if source not in self.roles:
            raise ValueError(f"{role!r} is not served (roles: {[r.name for r in self.roles]})")
        return source

    def connect_console(self, role: Source | str, reply_port: int, host: str | None = None) -> None:
        """Tell the controller where ``role``'s console listens for replies.

        The controller connects (retrying) at once, and again whenever the
        connection is lost.
        """
        port = self._console(role)
        if not reply_port:
            raise ValueError(f"reply_port must be nonzero, got {reply_port!r}")
        port.reply_port = reply_port
        port.comm.client_port = reply_port
        port.comm.client_service = None  # an explicit port wins over the registry
        if host is not None:
            port.comm.client_host = host
        port.changed.set()

    def console_connected(self, role: Source | str) -> bool:
        """Are both connections of ``role``'s console up?"""
        return self._console(role).comm.connected

    def console_peer(self, role: Source | str) -> tuple[str, int] | None:
        """The address ``role``'s command connection comes from, or `None` when it is down.

        With it a test tells a console's new connection from a stale one that the
        controller has not yet seen end.
        """
        writer = self._console(role).comm.server_writer
        if writer is None or writer.is_closing():
            return None
        host, port = writer.get_extra_info("peername")[:2]
        return str(host), int(port)

    async def wait_console_connected(self, role: Source | str) -> None:
        """Wait until both connections of ``role``'s console are up. Cancel-safe."""
        port = self._console(role)
        while not port.comm.connected:
            await port.client_up.wait()
            await port.comm.server.wait_connected()
