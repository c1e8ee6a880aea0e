"""`MockController`: the simulated mount controller (the PXI role), in-process.

Thin asyncio glue around the pure core: `Mount` (devices),
`CommandAuthority` (who may command) and `FaultPlan` (fault injection). It
moves messages between sockets and the core, owns the tasks, and turns device
events into replies.
"""

from __future__ import annotations

__all__ = ["SHUTDOWN_EXPLANATION", "TAI_MINUS_UTC", "MockController", "tai_now"]

import asyncio
import contextlib
import dataclasses
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .._lifecycle import AsyncResource
from ..config import Config
from ..exceptions import ProtocolError
from ..log import get_logger
from ..net.communicator import Communicator
from ..net.discovery import DEFAULT_SERVICE_PREFIX, ServiceRegistry
from ..protocol import replies
from ..protocol.commands import AskForCommand, Command
from ..protocol.enums import ReplyCode, Source
from ..protocol.replies import Reply
from .authority import CommandAuthority
from .devices import (
    Accepted,
    AlarmChanged,
    Event,
    Failed,
    Finished,
    InPositionChanged,
    Mount,
    Rejected,
    Severity,
    Superseded,
    Timings,
)
from .faults import FaultPlan
from .notices import ControllerStatus, alarm_reply, in_position_reply, state_info_replies
from .registry_link import ControllerServices
from .telemetry import TelemetryServer

TAI_MINUS_UTC = 37.0
"""TAI - UTC [s] (leap seconds, constant since 2017)."""

SHUTDOWN_EXPLANATION = "Controller shutting down"
"""NOACK explanation of the operations still running when the controller closes."""

REPLY_CONNECT_WAIT = 2.0
MAX_QUEUED_REPLIES = 10_000
"""Replies waiting for one console beyond which new ones are dropped (memory bound)."""
"""How long a reply waits for its console's reply connection before it is dropped [s]."""


def tai_now() -> float:
    """The current time as TAI unix seconds (the simulator's clock)."""
    return time.time() + TAI_MINUS_UTC


def _role(role: Source | str) -> Source:
    return Source[role.upper()] if isinstance(role, str) else Source(role)


@dataclasses.dataclass
class _Operation:
    """An accepted command waiting for its DONE / NOACK."""

    role: Source
    sequence_id: int
    source: Source


@dataclasses.dataclass(eq=False)
class _Console:
    """One console role's port pair and its fault settings."""

    role: Source
    comm: Communicator
    reply_port: int
    queue: asyncio.Queue[tuple[float, Reply | bytes]]
    changed: asyncio.Event
    client_up: asyncio.Event
    tasks: list[asyncio.Task[None]] = dataclasses.field(default_factory=list)


class MockController(AsyncResource):
    """A simulated mount controller serving consoles and a telemetry stream.

    For each console role it is given (CSC, EUI, HHD; any subset) it holds one
    port pair, as the PXI role of PROTOCOL.md: a server on the role's command
    port reads commands, and a client connected to the console's reply port
    writes replies. One telemetry server streams axis and drive samples to any
    number of clients. Everything runs in-process on the running event loop.

    Parameters
    ----------
    roles : iterable of `Source` or `str`
        Console roles served, e.g. ``(Source.CSC, Source.EUI)`` or ``("csc",)``.
    host : `str` or `None`
        Address the command and telemetry servers listen on; `None`: all.
    command_ports : `Mapping` [role, `int`], optional
        Command port per role; missing: 0 (the OS picks; see `command_port`).
    reply_ports : `Mapping` [role, `int`], optional
        The console's reply port per role. Missing: command port + 1 when the
        command port is nonzero, else unknown until `connect_console`.
    console_host : `str` or `None`
        Host of the consoles' reply servers; `None`: localhost.
    telemetry_port : `int`
        0: the OS picks (see `telemetry_port` after `start`).
    telemetry_rate_hz : `float`, optional
        Samples per second per topic; default ``config.telemetry_rate_hz`` (10).
    config : `Config`, optional
        Axis limits (``sim_limits``) and the telemetry rate.
    timings : `Timings`, optional
        Device durations (`Timings.fast` for quick tests).
    enabled : `bool`
        Start with the mount enabled (no ENABLE needed).
    commander : `Source`
        Who holds command at start (default nobody: ASK_FOR_COMMAND first).
    log : logger or `None`
    shutdown_timeout : `float`
        Bound on waiting for queued replies during `close` [s].
    registry : `PortRegistry` or `None`
        A connected port registry client (not closed by the controller). With
        it, `start` advertises each role's command port as
        ``<prefix>.<role>.command`` and the telemetry port as
        ``<prefix>.telemetry``, and each console's reply port (unless given in
        ``reply_ports``) is found by the name ``<prefix>.<role>.reply``, again
        whenever the console comes back (see `registry_link`).
    service_prefix : `str`
        The ``<prefix>`` of those names (default ``mount``).

    Attributes
    ----------
    mount : `Mount`
        The simulated devices (pure; inspect it in tests).
    authority : `CommandAuthority`
    faults : `FaultPlan`
        The fault-injection settings (set them through the methods below).
    received : `collections.deque` [(`Source`, `Command`)]
        The last 1000 commands received, with the role they arrived on.
    bad_frames : `int`
        Frames that could not be parsed.
    replies_dropped : `int`
        Replies dropped because a console let `MAX_QUEUED_REPLIES` pile up
        (it sends commands but does not read its replies).
    services : `ControllerServices` or `None`
        The service names used with ``registry`` (`None` without one).

    Notes
    -----
    **Replies.** Each command gets NOACK (with the reason) or ACK (with the
    expected duration as ``timeout_ms``), then, unless it is ack-only, DONE or
    NOACK (a failure, or ``"Superseded"``). Replies go to the role the command
    arrived on; IN_POSITION, WARNING, ERROR and ON_STATE_INFO (see `notices`)
    go to every connected console.
    The role is the port pair: a forged ``source`` field grants nothing.

    **Consoles.** A console may disconnect and reconnect; the controller keeps
    listening, and reconnects its reply client (retrying) as soon as the
    console's reply server is back. Garbage from one console is logged (and
    answered with NOACK when a sequence id can be read) without disturbing it or
    the others.

    **Shutdown** (`close`, idempotent), in order:

    1. Stop reading commands, advancing the clock and publishing telemetry.
    2. Tell the consoles: every operation still running ends with NOACK
       ``"Controller shutting down"``.
    3. Wait up to ``shutdown_timeout`` for the queued replies to be sent.
    4. Cancel the remaining helper tasks (reply senders, reconnection loops).
    5. Close the telemetry server and its clients, then each console's
       port pair, in reverse order of creation; ``done_task`` is set.
    """

    def __init__(
        self,
        roles: Iterable[Source | str] = (Source.CSC,),
        *,
        host: str | None = "127.0.0.1",
        command_ports: Mapping[Source | str, int] | None = None,
        reply_ports: Mapping[Source | str, int] | None = None,
        console_host: str | None = None,
        telemetry_port: int = 0,
        telemetry_rate_hz: float | None = None,
        config: Config | None = None,
        timings: Timings | None = None,
        enabled: bool = True,
        commander: Source = Source.NONE,
        log: Any = None,
        shutdown_timeout: float = 1.0,
        registry: ServiceRegistry | None = None,
        service_prefix: str = DEFAULT_SERVICE_PREFIX,
    ) -> None:
        config = config or Config()
        self.roles = tuple(dict.fromkeys(_role(r) for r in roles))
        if not self.roles:
            raise ValueError("a MockController needs at least one console role")
        self.host = host
        self.console_host = console_host
        self._command_ports = {_role(r): p for r, p in (command_ports or {}).items()}
        self._reply_ports = {_role(r): p for r, p in (reply_ports or {}).items()}
        self.services = None
        if registry is not None:
            self.services = ControllerServices(registry, service_prefix, self._reply_ports.keys())
        self.telemetry_port = telemetry_port
        self.telemetry_rate_hz = telemetry_rate_hz or config.telemetry_rate_hz
        if not self.telemetry_rate_hz > 0:
            raise ValueError(f"telemetry_rate_hz must be positive, got {telemetry_rate_hz}")
        self.log = get_logger(log, "MockController")
        self._log_arg = log
        self.shutdown_timeout = shutdown_timeout
        self.mount = Mount(config, timings, enabled=enabled)
        self.authority = CommandAuthority(self.roles, commander)
        self.received: deque[tuple[Source, Command]] = deque(maxlen=1000)
        self.bad_frames = 0
        self.replies_dropped = 0
        self._consoles: dict[Source, _Console] = {}
        self._ops: dict[int, _Operation] = {}
        self._telemetry = TelemetryServer(host, telemetry_port, log)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._running: asyncio.Event | None = None
        self.faults = FaultPlan(self.roles)
        self._started = False
        self._closing = False
        self._done: asyncio.Future[None] | None = None

    @classmethod
    def from_config(
        cls, config: Config, roles: Iterable[Source | str] | None = None, **kwargs: Any
    ) -> MockController:
        """A controller on the configured ports (``config.roles``, telemetry, host)."""
        roles = tuple(_role(r) for r in (roles or [r.upper() for r in config.roles]))
        ports = {r: config.roles[r.name.lower()] for r in roles}
        kwargs.setdefault("host", config.host)
        kwargs.setdefault("telemetry_port", config.telemetry_port)
        return cls(
            roles,
            command_ports={r: p.command_port for r, p in ports.items()},
            reply_ports={r: p.reply_port for r, p in ports.items()},
            config=config,
            **kwargs,
        )

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Listen on every port and start serving. Idempotent.

        Raises
        ------
        OSError
            If a port cannot be bound.
        """
        if self._started:
            return
        self._started = True
        self._wake = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._done = asyncio.get_running_loop().create_future()
        try:
            for role in self.roles:
                self._consoles[role] = self._make_console(role)
            for console in self._consoles.values():
                await console.comm.wait_server_port()
                if console.comm.advertise_task is not None:
                    await console.comm.advertise_task
            self.telemetry_port = await self._telemetry.start()
            if self.services is not None:
                await self.services.advertise_telemetry(self.telemetry_port, self.log)
        except BaseException:
            await self.close()
            raise
        for console in self._consoles.values():
            console.tasks += [
                self._spawn(self._read_loop(console), f"read-{console.role.name}"),
                self._spawn(self._send_loop(console), f"send-{console.role.name}"),
                self._spawn(self._connect_loop(console), f"connect-{console.role.name}"),
            ]
        self._tasks += [
            self._spawn(self._clock_loop(), "clock"),
            self._spawn(self._telemetry_loop(), "telemetry"),
        ]
        self.log.info(
            "controller_started",
            command_ports={r.name: self.command_port(r) for r in self.roles},
            telemetry_port=self.telemetry_port,
        )

    def _make_console(self, role: Source) -> _Console:
        command_port = self.command_port(role)
        reply_port = self.reply_port(role)
        holder: list[_Console] = []
        comm = Communicator(
            f"controller-{role.name.lower()}",
            self.console_host,
            reply_port,
            self.host,
            command_port,
            self._log_arg,
            read_replies=False,
            connect=False,
            connect_callback=lambda _comm: self._on_connection_change(holder[0]),
            **(self.services.communicator_options(role) if self.services else {}),
        )
        console = _Console(
            role=role,
            comm=comm,
            reply_port=reply_port,
            queue=asyncio.Queue(MAX_QUEUED_REPLIES),
            changed=asyncio.Event(),
            client_up=asyncio.Event(),
        )
        holder.append(console)
        return console

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=f"MockController.{name}")
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._closing:
            self.log.error("task_failed", task=task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        """Shut down in order (see the class notes). Idempotent; safe at any moment."""
        if self._closing:
            if self._done is not None:
                await asyncio.shield(self._done)
            return
        self._closing = True
        try:
            # 1. Stop reading commands, the clock and telemetry.
            readers = [c.tasks[0] for c in self._consoles.values() if c.tasks]
            await _cancel([*self._tasks, *readers])
            if self._running is not None:
                self._running.set()  # a stalled controller still says goodbye
            # 2. Tell the consoles about the operations still running.
            for op_id in list(self._ops):
                self._end_operation(op_id, SHUTDOWN_EXPLANATION)
            # 3. Let the queued replies go out, within a bound.
            queues = [c.queue.join() for c in self._consoles.values() if c.tasks]
            if queues:
                try:
                    async with asyncio.timeout(self.shutdown_timeout):
                        await asyncio.gather(*queues)
                except TimeoutError:
                    self.log.warning("replies_unsent_at_shutdown")
            # 4. Cancel the remaining helpers.
            await _cancel([t for c in self._consoles.values() for t in c.tasks])
            # 5. Release the sockets in reverse order of creation.
            if self.services is not None:
                await self.services.withdraw_telemetry()
            await self._telemetry.close()
            for console in reversed(list(self._consoles.values())):
                await console.comm.close()
            self.log.info("controller_closed")
        finally:
            if self._done is not None and not self._done.done():
                self._done.set_result(None)

    @property
    def done_task(self) -> asyncio.Future[None] | None:
        """Done when `close` has finished (`None` before `start`)."""
        return self._done

    # --- ports and connections ------------------------------------------------------

    def _console(self, role: Source | str) -> _Console:
        try:
            return self._consoles[_role(role)]
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
        source = _role(role)
        if source not in self.roles:
            raise ValueError(f"{role!r} is not served (roles: {[r.name for r in self.roles]})")
        return source

    def connect_console(self, role: Source | str, reply_port: int, host: str | None = None) -> None:
        """Tell the controller where ``role``'s console listens for replies.

        The controller connects (retrying) at once, and again whenever the
        connection is lost.
        """
        console = self._console(role)
        if not reply_port:
            raise ValueError(f"reply_port must be nonzero, got {reply_port!r}")
        console.reply_port = reply_port
        console.comm.client_port = reply_port
        console.comm.client_service = None  # an explicit port wins over the registry
        if host is not None:
            console.comm.client_host = host
        console.changed.set()

    def console_connected(self, role: Source | str) -> bool:
        """Are both connections of ``role``'s console up?"""
        return self._console(role).comm.connected

    async def wait_console_connected(self, role: Source | str) -> None:
        """Wait until both connections of ``role``'s console are up. Cancel-safe."""
        console = self._console(role)
        while not console.comm.connected:
            await console.client_up.wait()
            await console.comm.server.wait_connected()

    def _on_connection_change(self, console: _Console) -> None:
        if console.comm.client_connected:
            console.client_up.set()
        else:
            console.client_up.clear()
        console.changed.set()

    async def _connect_loop(self, console: _Console) -> None:
        """Keep the reply client connected whenever the reply port is known."""
        comm = console.comm
        while True:
            console.changed.clear()
            if (console.reply_port or comm.client_service) and not comm.client_connected:
                await comm.connect_client()
                continue
            await console.changed.wait()

    # --- commands -------------------------------------------------------------------

    async def _read_loop(self, console: _Console) -> None:
        comm = console.comm
        running = self._running
        assert running is not None
        while True:
            await comm.server.wait_connected()
            try:
                message = await comm.read()
            except ProtocolError as e:
                self._bad_frame(console, e)
                continue
            except ConnectionError:
                continue
            await running.wait()
            assert isinstance(message, Command)
            self._handle(console, message)

    def _bad_frame(self, console: _Console, error: ProtocolError) -> None:
        self.bad_frames += 1
        frame = error.frame
        if isinstance(frame, bytes):
            fields = frame.decode("utf-8", "replace").split("\n")
        else:
            fields = frame or []
        sequence_id = None
        if fields:
            with contextlib.suppress(ValueError):
                sequence_id = int(fields[0])
        self.log.warning(
            "bad_command", role=console.role.name, error=str(error), sequence_id=sequence_id
        )
        if sequence_id is not None and sequence_id > 0:
            source = Source.CSC
            with contextlib.suppress(ValueError, IndexError):
                source = Source(int(fields[2]))
            self._reply(
                console,
                replies.NoAckReply(
                    sequence_id=sequence_id, source=source, explanation=f"Invalid command: {error}"
                ),
            )

    def _handle(self, console: _Console, command: Command) -> None:
        """Answer one command, then announce the state it changed (synchronously)."""
        before = self._status()
        self._answer(console, command)
        self._announce(before)

    def _answer(self, console: _Console, command: Command) -> None:
        """Answer one command: NOACK, or ACK and the replies it causes at once."""
        role = console.role
        self.received.append((role, command))
        self.log.debug(
            "command_received",
            role=role.name,
            command=command.command_code.name,
            sequence_id=command.sequence_id,
        )

        def noack(explanation: str) -> None:
            self._reply(
                console,
                replies.NoAckReply(
                    sequence_id=command.sequence_id,
                    source=command.source,
                    explanation=explanation,
                ),
            )

        def ack(timeout_ms: int = 0) -> None:
            self._reply(
                console,
                replies.AckReply(
                    sequence_id=command.sequence_id, source=command.source, timeout_ms=timeout_ms
                ),
            )

        rejection = self.faults.take_rejection()
        if rejection is not None:
            noack(rejection)
            return
        if isinstance(command, AskForCommand):
            rejected = self.authority.ask(role, command.commander)
            if rejected is not None:
                noack(rejected.reason)
                return
            self.log.info("commander_changed", commander=self.authority.holder.name, by=role.name)
            ack()
            self._reply(
                console, replies.DoneReply(sequence_id=command.sequence_id, source=command.source)
            )
            return
        rejected = self.authority.check(role)
        if rejected is not None:
            noack(rejected.reason)
            return
        now = tai_now()
        outcome = self.mount.handle(command, now)
        events = self.mount.advance(now)
        if isinstance(outcome, Rejected):
            noack(outcome.reason)
        else:
            assert isinstance(outcome, Accepted)
            if outcome.op_id is not None:
                self._ops[outcome.op_id] = _Operation(role, command.sequence_id, command.source)
            ack(math.ceil(outcome.duration_s * 1000))
        self._dispatch(events)
        self._wake_clock()

    # --- events and replies ---------------------------------------------------------

    def _wake_clock(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _clock_loop(self) -> None:
        """Advance the devices when their next change is due."""
        wake = self._wake
        assert wake is not None
        while True:
            wake.clear()
            due = self.mount.next_event_time()
            if due is None:
                await wake.wait()
            elif (delay := due - tai_now()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wake.wait()
            self._dispatch(self.mount.advance(tai_now()))

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Finished):
                self._end_operation(event.op_id, None)
            elif isinstance(event, Failed):
                self._end_operation(event.op_id, event.reason)
            elif isinstance(event, Superseded):
                self._end_operation(event.op_id, "Superseded")
            elif isinstance(event, InPositionChanged):
                if (reply := in_position_reply(event)) is not None:
                    self._broadcast(reply)
            elif isinstance(event, AlarmChanged):
                self._broadcast(alarm_reply(event))

    def _status(self) -> ControllerStatus:
        return ControllerStatus(self.authority.holder, self.mount.enabled, self.mount.interlock)

    def _announce(self, before: ControllerStatus) -> None:
        """Broadcast ON_STATE_INFO for what changed since ``before``."""
        for reply in state_info_replies(before, self._status()):
            self.log.info("state_info", description=reply.description)
            self._broadcast(reply)

    def _end_operation(self, op_id: int, failure: str | None) -> None:
        op = self._ops.pop(op_id, None)
        if op is None:
            return
        console = self._consoles[op.role]
        reply: Reply
        if failure is None:
            reply = replies.DoneReply(sequence_id=op.sequence_id, source=op.source)
        else:
            reply = replies.NoAckReply(
                sequence_id=op.sequence_id, source=op.source, explanation=failure
            )
        self._reply(console, reply)

    def _reply(self, console: _Console, reply: Reply | bytes) -> None:
        faults = self.faults.replies[console.role]
        if faults.withholds(reply):
            self.log.info("reply_withheld", role=console.role.name, reply=repr(reply))
            return
        if console.queue.full():
            self.replies_dropped += 1
            if self.replies_dropped == 1 or self.replies_dropped % 1000 == 0:
                self.log.warning(
                    "reply_queue_full", role=console.role.name, dropped=self.replies_dropped
                )
            return
        loop = asyncio.get_running_loop()
        console.queue.put_nowait((loop.time() + faults.delay_s, reply))

    def _broadcast(self, reply: Reply) -> None:
        for console in self._consoles.values():
            if console.comm.client_connected:
                self._reply(console, reply)

    async def _send_loop(self, console: _Console) -> None:
        loop = asyncio.get_running_loop()
        running = self._running
        assert running is not None
        while True:
            deliver_at, reply = await console.queue.get()
            try:
                if (delay := deliver_at - loop.time()) > 0:
                    await asyncio.sleep(delay)
                await running.wait()
                await self._send(console, reply)
            finally:
                console.queue.task_done()

    async def _send(self, console: _Console, reply: Reply | bytes) -> None:
        comm = console.comm
        if not comm.client_connected and not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REPLY_CONNECT_WAIT):
                    await console.client_up.wait()
        if not comm.client_connected or comm.client_writer is None:
            self.log.warning("reply_dropped", role=console.role.name, reply=repr(reply))
            return
        try:
            if isinstance(reply, bytes):
                comm.client_writer.write(reply)
            else:
                await comm.write(reply)
        except ConnectionError as e:
            self.log.warning("reply_dropped", role=console.role.name, error=str(e))

    # --- telemetry ------------------------------------------------------------------

    async def _telemetry_loop(self) -> None:
        loop = asyncio.get_running_loop()
        running = self._running
        assert running is not None
        period = 1.0 / self.telemetry_rate_hz
        due = loop.time()
        while True:
            due = max(due + period, loop.time())
            await asyncio.sleep(due - loop.time())
            if running.is_set() and self._telemetry.client_count:
                self._telemetry.publish(self.mount.telemetry(tai_now()))

    @property
    def telemetry_client_count(self) -> int:
        """Number of connected telemetry clients."""
        return self._telemetry.client_count

    async def wait_telemetry_clients(self, count: int) -> None:
        """Wait until at least ``count`` telemetry clients are connected. Cancel-safe."""
        await self._telemetry.wait_client_count(lambda n: n >= count)

    # --- fault injection ------------------------------------------------------------

    def reject_next(self, count: int = 1, explanation: str = "Rejected by fault injection") -> None:
        """Answer the next ``count`` commands (from any console) with NOACK ``explanation``."""
        self.faults.reject_next(count, explanation)

    def delay_replies(self, seconds: float, role: Source | str | None = None) -> None:
        """Delay every later reply to ``role`` (default: every role) by ``seconds``."""
        self.faults.delay(seconds, self._maybe_role(role))

    def withhold_replies(
        self, codes: Iterable[ReplyCode] | None = None, role: Source | str | None = None
    ) -> None:
        """Drop later replies with these codes (default: all) to ``role`` (default: all).

        E.g. ``withhold_replies([ReplyCode.DONE])`` makes every command time out
        after its ACK. `resume_replies` undoes it.
        """
        self.faults.withhold(codes, self._maybe_role(role))

    def resume_replies(self, role: Source | str | None = None) -> None:
        """Stop withholding and delaying replies to ``role`` (default: all)."""
        self.faults.resume(self._maybe_role(role))

    async def drop_connection(self, role: Source | str) -> None:
        """Close both connections of ``role``'s console, as if the network failed.

        The controller keeps listening and reconnects its reply client as soon as
        it can; the console must reconnect its command client.
        """
        console = self._console(role)
        self.log.info("fault_drop_connection", role=console.role.name)
        await console.comm.close_client()
        await console.comm.server.close_client()
        self._on_connection_change(console)

    def send_malformed(
        self, data: bytes = b"\xff\xfenot a reply\r\n", role: Source | str | None = None
    ) -> None:
        """Send raw bytes (a malformed frame by default) to ``role`` (default: all), in
        order with the replies."""
        for console in self._select(role):
            self._reply(console, data)

    def stall(self) -> None:
        """Freeze: stop handling commands, sending replies and telemetry (see `resume`).

        The devices keep moving; what happens meanwhile is sent on `resume`.
        """
        assert self._running is not None, "call start() first"
        self._running.clear()

    def resume(self) -> None:
        """Undo `stall`."""
        assert self._running is not None, "call start() first"
        self._running.set()

    def inject_alarm(self, device: str, text: str, severity: Severity = Severity.ERROR) -> None:
        """Raise an alarm on a device (see `Mount.device`); consoles get ERROR/WARNING."""
        self.mount.inject_alarm(device, tai_now(), text, severity)
        self._dispatch(self.mount.advance(tai_now()))
        self._wake_clock()

    def trip_interlock(self, text: str = "emergency stop") -> None:
        """Trip the safety interlock (everything off until SAFETY_RESET)."""
        before = self._status()
        self.mount.trip_interlock(tai_now(), text)
        self._dispatch(self.mount.advance(tai_now()))
        self._announce(before)
        self._wake_clock()

    def _maybe_role(self, role: Source | str | None) -> Source | None:
        return None if role is None else self._console(role).role

    def _select(self, role: Source | str | None) -> list[_Console]:
        if role is None:
            return list(self._consoles.values())
        return [self._console(role)]

    def __repr__(self) -> str:
        return (
            f"MockController(roles={[r.name for r in self.roles]}, "
            f"commander={self.authority.holder.name})"
        )


async def _cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
    tasks = [t for t in tasks if not t.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
