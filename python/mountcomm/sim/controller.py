"""`MockController`: the simulated mount controller (the PXI role), in-process.

Thin asyncio glue: the answering core (`ControllerCore`: `Mount`,
`CommandAuthority`, `FaultPlan`) decides every reply; one `ConsolePort` per
console role moves frames between its sockets and the core; this class owns
the ports, the simulated clock, telemetry and the shutdown order. Fault
injection methods come from `FaultInjection`. A controller made by
`MockController.from_recording` hands its answers and its telemetry to a
`Replayer` instead of the core's devices.
"""

from __future__ import annotations

__all__ = ["SHUTDOWN_EXPLANATION", "TAI_MINUS_UTC", "MockController", "tai_now"]

import asyncio
import contextlib
import dataclasses
import os
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .._lifecycle import AsyncResource
from ..config import Config
from ..exceptions import ProtocolError
from ..log import get_logger
from ..net.changes import ConnectionChange
from ..net.discovery import DEFAULT_SERVICE_PREFIX, ServiceRegistry
from ..protocol.commands import Command
from ..protocol.enums import Source
from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    DEFAULT_TCP_USER_TIMEOUT,
    TcpKeepalive,
    coerce_keepalive,
    validate_user_timeout,
)
from .authority import DEFAULT_AUTHORITY_GRACE, CommandAuthority
from .clock import TAI_MINUS_UTC, SimClock, tai_now
from .console_port import ConsolePort, role_of
from .core import SHUTDOWN_EXPLANATION, ControllerCore, Executed, Output
from .devices import Mount, Timings
from .fault_injection import FaultInjection
from .faults import FaultPlan
from .registry_link import ControllerServices
from .replay import ReplayScript
from .replayer import Replayer
from .telemetry import TelemetryServer


class MockController(FaultInjection, AsyncResource):
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
    time_scale : `float`
        Simulated seconds per wall second (default 1: real time). Motions
        and device durations take ``1 / time_scale`` of their simulated time
        on the wall clock, and ACKs carry that wall time as ``timeout_ms``,
        so clients wait the right time. The tracking timeout
        (``Timings.track_timeout_s``) is a tolerance of the client's pace and
        stays in wall seconds. TRACK targets' ``tai`` and telemetry
        timestamps are on the simulated clock (`now`). See `SimClock`.
    tcp_keepalive : `TcpKeepalive`, `float` or `None`
        TCP keepalive of every console connection (a number: the idle time
        [s]); `None`: off. With it, a console that vanished without a word
        (host crash, cable pulled) is noticed and its connections closed.
    tcp_user_timeout : `float` or `None`
        ``TCP_USER_TIMEOUT`` of every console connection [s]: written data
        unacknowledged for this long ends the connection. `None`: kernel default.
    authority_grace : `float`
        How long a console that held command and vanished keeps it [s]
        (default 30); if it does not reconnect in time, command is released.
        ``math.inf``: for ever.
    max_command_age : `float` or `None`
        Refuse (NOACK ``"stale: ..."``) commands whose ``timestamp`` is older
        than this [s]; `None` (the default) turns the check off, as the
        consoles' clocks may differ from the controller's.
    replay : `ReplayScript` or `None`
        Answer from this recording instead of the simulated devices, and
        serve its telemetry (see `from_recording`, which reads one from a file).

    Attributes
    ----------
    mount : `Mount`
        The simulated devices (pure; inspect it in tests).
    authority : `CommandAuthority`
    faults : `FaultPlan`
        The fault-injection settings (set them through the methods below).
    received : `collections.deque` [(`Source`, `Command`)]
        The last 1000 commands received, with the role they arrived on.
    executed : `collections.deque` [`Executed`]
        Every command acted upon (ACK sent): ``(role, sequence_id, command_code)``.
    clock : `SimClock`
        The simulated clock (``clock.now()``: simulated TAI).
    bad_frames : `int`
        Frames that could not be parsed. Their log lines are throttled per
        console (`LogThrottle`): a few per period, then a count.
    replies_dropped : `int`
        Replies dropped because a console let `MAX_QUEUED_REPLIES` pile up
        (it sends commands but does not read its replies).
    services : `ControllerServices` or `None`
        The service names used with ``registry`` (`None` without one).
    script : `ReplayScript` or `None`
        The recording answered from (``replay``); its ``matched`` and
        ``mismatched`` counts tell how the replay went. `None`: simulating.

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
    console's reply server is back. If the console held command, it keeps it
    for ``authority_grace`` seconds, then command is released. Garbage from
    one console is logged (throttled) and answered with NOACK when a sequence
    id can be read, without disturbing it or the others; so is a command whose
    handling fails unexpectedly.

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
        time_scale: float = 1.0,
        tcp_keepalive: TcpKeepalive | float | None = DEFAULT_TCP_KEEPALIVE,
        tcp_user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
        authority_grace: float = DEFAULT_AUTHORITY_GRACE,
        max_command_age: float | None = None,
        replay: ReplayScript | None = None,
    ) -> None:
        config = config or Config()
        self.roles = tuple(dict.fromkeys(role_of(r) for r in roles))
        if not self.roles:
            raise ValueError("a MockController needs at least one console role")
        self.host = host
        self.console_host = console_host
        self._command_ports = {role_of(r): p for r, p in (command_ports or {}).items()}
        self._reply_ports = {role_of(r): p for r, p in (reply_ports or {}).items()}
        self.services = None
        if registry is not None:
            self.services = ControllerServices(registry, service_prefix, self._reply_ports.keys())
        self.telemetry_port = telemetry_port
        self.telemetry_rate_hz = telemetry_rate_hz or config.telemetry_rate_hz
        if not self.telemetry_rate_hz > 0:
            raise ValueError(f"telemetry_rate_hz must be positive, got {telemetry_rate_hz}")
        self.tcp_keepalive = coerce_keepalive(tcp_keepalive)
        self.tcp_user_timeout = validate_user_timeout(tcp_user_timeout)
        self.log = get_logger(log, "MockController")
        self._log_arg = log
        self.shutdown_timeout = shutdown_timeout
        self.clock = SimClock(time_scale)
        self.mount = Mount(config, _wall_track_timeout(timings, time_scale), enabled=enabled)
        self.authority = CommandAuthority(self.roles, commander, grace=authority_grace)
        self.faults = FaultPlan(self.roles)
        self.core = ControllerCore(
            self.mount,
            self.authority,
            self.faults,
            self.clock,
            max_command_age=max_command_age,
            log=self.log,
        )
        self.bad_frames = 0
        self.closing = False
        self._consoles: dict[Source, ConsolePort] = {}
        self._telemetry = TelemetryServer(host, telemetry_port, log)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._release_timer: asyncio.TimerHandle | None = None
        self._started = False
        self._done: asyncio.Future[None] | None = None
        self._replayer = None if replay is None else Replayer(replay, self)
        self.script = replay

    @classmethod
    def from_config(
        cls, config: Config, roles: Iterable[Source | str] | None = None, **kwargs: Any
    ) -> MockController:
        """A controller on the configured ports (``config.roles``, telemetry, host)."""
        roles = tuple(role_of(r) for r in (roles or [r.upper() for r in config.roles]))
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

    @classmethod
    def from_recording(
        cls,
        path: str | os.PathLike[str],
        roles: Iterable[Source | str] | None = None,
        **kwargs: Any,
    ) -> MockController:
        """A controller that answers consoles as the recorded controller did.

        ``path`` is a recording of ``mountcomm proxy --record``; the matching
        rules are in `mountcomm.sim.replay` (and ``doc/proxy.md``). ``roles``
        defaults to the roles of the recording; any other argument is as for
        `MockController` (ports, hosts, ``time_scale``: the recorded delays
        are divided by it).

        Raises
        ------
        OSError
            If the file cannot be read.
        ValueError
            If it holds no frame records.
        """
        script = ReplayScript.from_file(os.fspath(path))
        if roles is None:
            roles = script.roles or (Source.CSC,)
        return cls(roles, replay=script, **kwargs)

    @property
    def received(self) -> deque[tuple[Source, Command]]:
        """The last 1000 commands received, with the role they arrived on."""
        return self.core.received

    @property
    def executed(self) -> deque[Executed]:
        """Every command acted upon (ACK sent): ``(role, sequence_id, command_code)``."""
        return self.core.executed

    @property
    def replies_dropped(self) -> int:
        """Replies dropped because a console's reply queue was full."""
        return sum(port.replies_dropped for port in self._consoles.values())

    def now(self) -> float:
        """The simulated time [TAI unix s] (see ``time_scale``)."""
        return self.clock.now()

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
        self.running = asyncio.Event()
        self.running.set()
        self._done = asyncio.get_running_loop().create_future()
        try:
            for role in self.roles:
                self._consoles[role] = self._make_port(role)
            for port in self._consoles.values():
                await port.comm.wait_server_port()
                if port.comm.advertise_task is not None:
                    await port.comm.advertise_task
            self.telemetry_port = await self._telemetry.start()
            if self.services is not None:
                await self.services.advertise_telemetry(self.telemetry_port, self.log)
        except BaseException:
            await self.close()
            raise
        for port in self._consoles.values():
            port.start(self._spawn)
        if self._replayer is not None:
            self._replayer.start()  # the recording says what happens: no clock to run
        else:
            self._tasks += [
                self._spawn(self._clock_loop(), "clock"),
                self._spawn(self._telemetry_loop(), "telemetry"),
            ]
        self.log.info(
            "controller_started",
            command_ports={r.name: self.command_port(r) for r in self.roles},
            telemetry_port=self.telemetry_port,
            time_scale=self.clock.time_scale,
        )

    def _make_port(self, role: Source) -> ConsolePort:
        return ConsolePort(
            self,
            role,
            self.reply_port(role),
            self.faults.replies[role],
            keepalive=self.tcp_keepalive,
            user_timeout=self.tcp_user_timeout,
            log=self.log,
            client_host=self.console_host,
            client_port=self.reply_port(role),
            server_host=self.host,
            server_port=self.command_port(role),
            comm_log=self._log_arg,
            **(self.services.communicator_options(role) if self.services else {}),
        )

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=f"MockController.{name}")
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.closing:
            self.log.error("task_failed", task=task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        """Shut down in order (see the class notes). Idempotent; safe at any moment."""
        if self.closing:
            if self._done is not None:
                await asyncio.shield(self._done)
            return
        self.closing = True
        try:
            await self._shut_down()
        finally:
            if self._done is not None and not self._done.done():
                self._done.set_result(None)

    async def _shut_down(self) -> None:
        ports = list(self._consoles.values())
        # 1. Stop reading commands, the clock and telemetry.
        if self._replayer is not None:
            self._replayer.stop()
        if self._release_timer is not None:
            self._release_timer.cancel()
        await _cancel([*self._tasks, *(p.tasks[0] for p in ports if p.tasks)])
        if self._started:
            self.running.set()  # a stalled controller still says goodbye
        # 2. Tell the consoles about the operations still running.
        self._route(self.core.shutdown())
        for port in ports:
            port.log_suppressed()
        # 3. Let the queued replies go out, within a bound.
        queues = [p.queue.join() for p in ports if p.tasks]
        if queues:
            try:
                async with asyncio.timeout(self.shutdown_timeout):
                    await asyncio.gather(*queues)
            except TimeoutError:
                self.log.warning("replies_unsent_at_shutdown")
        # 4. Cancel the remaining helpers.
        await _cancel([t for p in ports for t in p.tasks])
        # 5. Release the sockets in reverse order of creation.
        if self.services is not None:
            await self.services.withdraw_telemetry()
        await self._telemetry.close()
        for port in reversed(ports):
            await port.comm.close()
        self.log.info("controller_closed")

    @property
    def done_task(self) -> asyncio.Future[None] | None:
        """Done when `close` has finished (`None` before `start`)."""
        return self._done

    def console_changed(self, port: ConsolePort, change: ConnectionChange) -> None:
        """A console's command connection was lost or came up: authority grace."""
        if self.closing:
            return
        loop = asyncio.get_running_loop()
        if change.is_loss:
            self.log.info("console_lost", role=port.role.name)
            self.authority.console_lost(port.role, loop.time())
        else:
            self.authority.console_back(port.role)
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        if self.authority.release_at is not None:
            self._release_timer = loop.call_at(self.authority.release_at, self._release_authority)

    def _release_authority(self) -> None:
        self._release_timer = None
        self._route(self.core.release_authority(asyncio.get_running_loop().time()))

    # --- commands and replies -------------------------------------------------------

    def handle_command(self, port: ConsolePort, command: Command) -> None:
        """Answer one command from ``port``'s console (and announce what changed)."""
        if self._replayer is not None:
            self.core.received.append((port.role, command))
            self._replayer.command(port.role, command)
            return
        self._route(self.core.command(port.role, command, self.clock.now(), time.time()))
        self._wake_clock()

    def command_failed(self, port: ConsolePort, command: Command, error: Exception) -> None:
        """Answer NOACK to a command whose handling raised ``error``."""
        self._route([self.core.internal_error(port.role, command, error)])

    def bad_frame(self, port: ConsolePort, error: ProtocolError) -> int | None:
        """Count, log (throttled) and answer a frame that is not a valid command."""
        self.bad_frames += 1
        sequence_id, outputs = self.core.bad_frame(port.role, error)
        port.log_bad_frame(error, sequence_id)
        if self._replayer is not None:
            self._replayer.bad_frame(port.role, error, sequence_id)
        else:
            self._route(outputs)
        return sequence_id

    def send_frame(self, role: Source, data: bytes, *, answer: bool = True) -> None:
        """Queue ``data`` (whole frames, sent as they are) to ``role``'s console.

        Unless ``answer``, only while its reply connection is up, as for the
        notices sent to every console. Nothing is sent to a role not served.
        """
        port = self._consoles.get(role)
        if port is not None and (answer or port.comm.client_connected):
            port.reply(data)

    def publish_telemetry(self, data: bytes) -> None:
        """Send ``data`` (whole lines, as they are) to every telemetry client."""
        self._telemetry.publish_bytes(data)

    def _route(self, outputs: list[Output]) -> None:
        """Queue each reply to its console, or to every connected one (role `None`)."""
        for output in outputs:
            if output.role is None:
                for port in self._consoles.values():
                    if port.comm.client_connected:
                        port.reply(output.reply)
            elif (target := self._consoles.get(output.role)) is not None:
                target.reply(output.reply)

    def _wake_clock(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _clock_loop(self) -> None:
        """Advance the devices when their next change is due."""
        wake = self._wake
        if wake is None:
            raise RuntimeError("the clock loop runs only after start()")
        while True:
            wake.clear()
            due = self.mount.next_event_time()
            if due is None:
                await wake.wait()
            elif (delay := self.clock.wall_seconds(due - self.clock.now())) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await wake.wait()
            try:
                self._route(self.core.advance(self.clock.now()))
            except Exception as e:  # a device bug must not stop the clock
                self.log.error("advance_failed", exc_info=e)

    # --- telemetry ------------------------------------------------------------------

    async def _telemetry_loop(self) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.telemetry_rate_hz
        due = loop.time()
        while True:
            due = max(due + period, loop.time())
            await asyncio.sleep(due - loop.time())
            if self.running.is_set() and self._telemetry.client_count:
                self._telemetry.publish(self.mount.telemetry(self.clock.now()))

    @property
    def telemetry_client_count(self) -> int:
        """Number of connected telemetry clients."""
        return self._telemetry.client_count

    async def wait_telemetry_clients(self, count: int) -> None:
        """Wait until at least ``count`` telemetry clients are connected. Cancel-safe."""
        await self._telemetry.wait_client_count(lambda n: n >= count)

    def __repr__(self) -> str:
        return (
            f"MockController(roles={[r.name for r in self.roles]}, "
            f"commander={self.authority.holder.name})"
        )


def _wall_track_timeout(timings: Timings | None, time_scale: float) -> Timings:
    """``timings`` with the tracking timeout in wall time (it is the client's pace)."""
    timings = timings or Timings()
    return dataclasses.replace(timings, track_timeout_s=timings.track_timeout_s * time_scale)


async def _cancel(tasks: Iterable[asyncio.Task[None]]) -> None:
    tasks = [t for t in tasks if not t.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
