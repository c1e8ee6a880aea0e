"""`ConsoleConnection`: the two connections of one console and their life cycle.

The base of `MountClient`: it owns the `Communicator` (commands out on the
client socket, replies in on the server socket), the reply handler (called
by the `Communicator` for each reply as it arrives: no read task), the explicit
life cycle (`ClientState`, see `lifecycle`) and the one teardown funnel. What
to do with each reply, and with the commands in flight when a connection ends,
is left to the subclass through four hooks.
"""

from __future__ import annotations

__all__ = ["ConsoleConnection"]

import asyncio
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError, ProtocolError
from ..log import get_logger
from ..net.changes import Change, ConnectionChange
from ..net.communicator import Communicator
from ..net.discovery import ServiceRegistry, mount_service_name
from ..protocol import Message
from ..protocol.enums import Source
from ..protocol.replies import Reply
from .lifecycle import ClientEvent, ClientState, Lifecycle
from .policy import connect_timeout_message, should_log_occurrence

MANAGED_OPTIONS = frozenset(
    {
        "connect",
        "connect_callback",
        "read_replies",
        "server_service",
        "client_service",
        "auto_reconnect",
    }
)
"""`Communicator` options that the console connection sets itself."""


def _service_names(
    role: Source,
    registry: ServiceRegistry | None,
    command_port: int,
    command_service: str | None,
    reply_service: str | None,
) -> tuple[str | None, str | None]:
    """Validate the addressing options; return the service names with defaults filled in."""
    if registry is not None:
        if command_service is None and not command_port:
            command_service = mount_service_name(role, "command")
        if reply_service is None:
            reply_service = mount_service_name(role, "reply")
    elif command_service or reply_service:
        raise ValueError("command_service and reply_service need a registry")
    if not command_port and not command_service:
        raise ValueError(f"command_port must be a real port, got {command_port!r}")
    return command_service, reply_service


class ConsoleConnection(AsyncResource):
    """The command and reply connections of one console, with an explicit life cycle.

    Not used on its own: `MountClient` is the public class, and documents the
    parameters. Subclasses implement the hooks `_handle_reply`, `_ended`,
    `_interrupted` and `_resumed`; they must set up what the hooks use right
    after ``super().__init__`` (nothing runs before the next loop iteration).

    Parameters
    ----------
    host, command_port, reply_port, reply_host, role, log, registry,
    command_service, reply_service, auto_reconnect
        See `MountClient`.
    communicator_options : `dict`
        Further keyword options of `Communicator`.

    Raises
    ------
    TypeError
        If ``communicator_options`` holds an option the connection manages.
    ValueError
        If the addressing options are inconsistent.
    RuntimeError
        If constructed with no running event loop.
    """

    def __init__(
        self,
        host: str | None,
        command_port: int,
        *,
        reply_port: int | None,
        reply_host: str | None,
        role: Source,
        log: Any,
        registry: ServiceRegistry | None,
        command_service: str | None,
        reply_service: str | None,
        auto_reconnect: bool,
        communicator_options: dict[str, Any],
    ) -> None:
        managed = MANAGED_OPTIONS & communicator_options.keys()
        if managed:
            raise TypeError(f"MountClient manages these Communicator options: {sorted(managed)}")
        self.role = Source(role)
        command_service, reply_service = _service_names(
            self.role, registry, command_port, command_service, reply_service
        )
        if reply_port is None:
            reply_port = command_port + 1 if command_port else 0
        self._loop = loop = asyncio.get_running_loop()
        self.host = host
        self.command_port = command_port
        self.registry = registry
        self.command_service = command_service
        self.reply_service = reply_service
        self.auto_reconnect = auto_reconnect
        self.log = get_logger(log, f"MountClient({self.role.name})")
        self.protocol_errors = 0
        self._lifecycle = Lifecycle()
        self._cause: BaseException | None = None  # why the client ended (first cause)
        self._interruption: BaseException | None = None  # why it is reconnecting
        self._change: asyncio.Future[None] = loop.create_future()
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
            registry=registry,
            client_service=command_service,
            server_service=reply_service,
            auto_reconnect=auto_reconnect,
            **communicator_options,
        )
        self._communicator.add_change_listener(self._connection_changed)
        self.start_task: asyncio.Task[None] = loop.create_task(self._start())
        self.start_task.add_done_callback(self._start_done)

    # --- hooks ---------------------------------------------------------------------------

    def _handle_reply(self, reply: Reply) -> None:
        """Handle one reply of the reply connection (from the transport's callback)."""
        raise NotImplementedError

    def _ended(self, cause: BaseException | None) -> None:
        """The client ended (``cause`` `None`: `close`): fail everything pending."""
        raise NotImplementedError

    def _interrupted(self, cause: BaseException) -> None:
        """A connection was lost and will be made again: fail what is in flight."""
        raise NotImplementedError

    def _resumed(self) -> None:
        """Both connections are up again (a new connection: new sequence ids)."""
        raise NotImplementedError

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
                raise ConnectionClosedError(
                    "MountClient was closed before it connected"
                ) from self._cause
            raise

    async def _start(self) -> None:
        comm = self._communicator
        await comm.wait_server_port()  # raises OSError if the reply port cannot be bound
        try:
            await comm.connect()
        except TimeoutError as e:
            message = connect_timeout_message(
                f"MountClient({self.role.name})",
                comm.client_host or "localhost",
                comm.client_port,
                comm.client_service,
                self.reply_port,
                comm.connect_timeout,
                comm.client_connected,
            )
            raise TimeoutError(message) from e
        if self._lifecycle.state is not ClientState.CONNECTING or not comm.connected:
            raise ConnectionClosedError(
                f"{comm.name}: connection lost while connecting"
            ) from comm.cause
        self._lifecycle.handle(ClientEvent.CONNECTED)
        # Replies are handled as they arrive, in the transport's callback: no read task.
        comm.consume(self._take_frame)
        self.log.info(
            "mount_client_connected",
            host=self.host,
            command_port=comm.client_port,
            reply_port=self.reply_port,
        )
        self._notify_change()

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
            await asyncio.gather(self.start_task, return_exceptions=True)
            await self._communicator.close()
        finally:
            if not self._done.done():
                self._done.set_result(None)

    # --- the one teardown funnel, and interruptions ---------------------------------------

    def _teardown(self, cause: BaseException | None) -> None:
        """End the client: ``cause`` `None` means `close`, else a failure.

        Records the first cause, lets the subclass fail every command in flight
        with `ConnectionClosedError` chained to it and end the unsolicited
        iterations (`_ended`), and cancels the helper tasks (except the caller).
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
            self.log.warning("connection_lost", error=repr(cause))
        self._ended(cause)
        if not self.start_task.done() and self.start_task is not asyncio.current_task():
            self.start_task.cancel()
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
        self.log.warning("connection_lost_reconnecting", error=repr(cause))
        self._interrupted(cause)
        self._notify_change()

    def _reconnected(self) -> None:
        """Both connections are up again."""
        self._resumed()
        self._interruption = None
        self._lifecycle.handle(ClientEvent.CONNECTED)
        self.log.info(
            "mount_client_reconnected",
            command_port=self._communicator.client_port,
            reply_port=self.reply_port,
        )

    def _connection_changed(self, change: ConnectionChange) -> None:
        """React to one change of the `Communicator` (a change listener).

        A lost connection is noticed here, with the cause its end recorded.
        The replies that arrived on the reply connection before its end have
        already been handled (`_take_frame`), in order.
        """
        state = self._lifecycle.state
        if change.is_loss and state is ClientState.CONNECTED:
            cause = change.cause
            if cause is None:  # closed on this side, e.g. communicator.close_client()
                which = "command" if change.kind is Change.CLIENT_LOST else "reply"
                cause = ConnectionClosedError(
                    f"{self._communicator.name}: {which} connection closed by this client"
                )
            self._connection_lost(cause)
        elif state is ClientState.RECONNECTING and self._communicator.connected:
            self._reconnected()
        self._notify_change()

    def _take_frame(self, item: Message | ProtocolError) -> None:
        """Handle one frame of the reply connection (the `Communicator`'s consumer)."""
        if isinstance(item, ProtocolError):
            self.protocol_errors += 1
            if should_log_occurrence(self.protocol_errors):
                self.log.warning(
                    "bad_frame_skipped", error=str(item), protocol_errors=self.protocol_errors
                )
            return
        try:
            # read_replies=True: the Communicator parses replies only.
            self._handle_reply(item)  # type: ignore[arg-type]
        except Exception as e:  # a bug: end cleanly rather than hang every caller
            self.log.exception("reply_handling_failed")
            self._teardown(e)
