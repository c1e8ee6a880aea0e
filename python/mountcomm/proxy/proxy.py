"""`MountProxy`: a recording relay between consoles and a mount controller."""

from __future__ import annotations

__all__ = ["MountProxy"]

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from .._lifecycle import AsyncResource
from ..log import get_logger
from ..protocol.enums import Source
from ..protocol.framing import DEFAULT_MAX_FRAME_BYTES
from ..sockets import DEFAULT_TCP_KEEPALIVE, DEFAULT_TCP_USER_TIMEOUT, TcpKeepalive
from .faults import ProxyFaults
from .recording import FrameLog
from .route import Route
from .telemetry import TelemetryRelay


def _role(role: Source | str) -> Source:
    return Source[role.upper()] if isinstance(role, str) else Source(role)


class MountProxy(AsyncResource):
    """Relay consoles' commands and a controller's replies and telemetry, frame by frame.

    For each console role it is given, the proxy is a controller to the
    console (it reads commands on its command port P and connects to the
    console's reply server, at P + 1 by default) and a console to the
    controller (it connects to the controller's command port Q and listens for
    the controller's reply connection, on Q + 1 by default). Frames are
    forwarded byte for byte as they arrive, malformed ones included; with
    ``record``, every frame is written to a recording (see
    `mountcomm.telemetry.frames`), and `faults` drops, delays, corrupts frames
    or cuts connections, per direction and role. See ``doc/proxy.md``.

    Parameters
    ----------
    controller_host : `str` or `None`
        Host of the controller; `None`: localhost.
    controller_ports : `Mapping` [role, `int`]
        The controller's command port per console role; its keys are the
        roles proxied (`Source` or names such as ``"csc"``).
    host : `str` or `None`, keyword-only
        Address the proxy listens on; `None`: all interfaces.
    command_ports : `Mapping` [role, `int`], optional
        The proxy's command port per role; missing: 0 (the OS picks).
    reply_ports : `Mapping` [role, `int`], optional
        The console's reply port per role; missing: command port + 1 when the
        command port is nonzero, else unknown until `connect_console`.
    console_host : `str` or `None`
        Host of the consoles' reply servers; `None`: localhost.
    controller_reply_ports : `Mapping` [role, `int`], optional
        Where the proxy listens for the controller's reply connection;
        missing: the controller's command port + 1. 0: the OS picks (see
        `controller_reply_port`; the controller must then be told).
    telemetry_port : `int` or `None`
        The proxy's telemetry port (0: the OS picks); `None`: no telemetry relay.
    controller_telemetry_port : `int` or `None`
        The controller's telemetry port; needed with ``telemetry_port``.
    record : `str`, `os.PathLike` or `None`
        Append a record of every frame to this file (JSON lines).
    max_frame_bytes : `int`
        A longer frame is forwarded (and recorded) in parts as it arrives.
    log : logger or `None`
    tcp_keepalive, tcp_user_timeout
        Socket options of every connection (see `ClientServerPair`).

    Attributes
    ----------
    roles : `tuple` [`Source`]
    faults : `ProxyFaults`
        The fault plan, empty at first (everything is forwarded).
    recording : `FrameLog` or `None`
        The recording, with ``record``.
    routes : `dict` [`Source`, `Route`]
        Each role's two port pairs and relays.

    Raises
    ------
    ValueError
        If no role is given, a controller port is 0, or ``telemetry_port``
        is given without ``controller_telemetry_port``.
    OSError
        If ``record`` cannot be opened.

    Notes
    -----
    Shutdown (`close`, idempotent): (1) stop relaying telemetry and close the
    telemetry server and its clients; (2) for each role, stop both relays,
    then close the connections and servers facing the console, then those
    facing the controller; (3) flush and close the recording, so that it
    holds every frame that went through.
    """

    def __init__(
        self,
        controller_host: str | None,
        controller_ports: Mapping[Source | str, int],
        *,
        host: str | None = "127.0.0.1",
        command_ports: Mapping[Source | str, int] | None = None,
        reply_ports: Mapping[Source | str, int] | None = None,
        console_host: str | None = None,
        controller_reply_ports: Mapping[Source | str, int] | None = None,
        telemetry_port: int | None = None,
        controller_telemetry_port: int | None = None,
        record: str | os.PathLike[str] | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        log: Any = None,
        tcp_keepalive: TcpKeepalive | float | None = DEFAULT_TCP_KEEPALIVE,
        tcp_user_timeout: float | None = DEFAULT_TCP_USER_TIMEOUT,
    ) -> None:
        targets = {_role(r): p for r, p in controller_ports.items()}
        if not targets:
            raise ValueError("a MountProxy needs at least one console role")
        if not all(targets.values()):
            raise ValueError(f"every controller port must be nonzero, got {controller_ports!r}")
        if telemetry_port is not None and not controller_telemetry_port:
            raise ValueError("telemetry_port needs a nonzero controller_telemetry_port")
        asyncio.get_running_loop()  # fail early, before the file is opened
        self.roles = tuple(targets)
        self.host = host
        self.controller_host = controller_host
        self.log = get_logger(log, "MountProxy")
        self.faults = ProxyFaults()
        self.recording = FrameLog(record) if record is not None else None
        commands = {_role(r): p for r, p in (command_ports or {}).items()}
        replies = {_role(r): p for r, p in (reply_ports or {}).items()}
        back = {_role(r): p for r, p in (controller_reply_ports or {}).items()}
        self.routes: dict[Source, Route] = {}
        for role, port in targets.items():
            command_port = commands.get(role, 0)
            self.routes[role] = Route(
                role,
                host=host,
                command_port=command_port,
                console_host=console_host,
                console_reply_port=replies.get(role, command_port + 1 if command_port else 0),
                controller_host=controller_host,
                controller_port=port,
                controller_reply_port=back.get(role, port + 1),
                faults=self.faults,
                log=self.recording,
                logger=self.log,
                max_frame_bytes=max_frame_bytes,
                tcp_keepalive=tcp_keepalive,
                tcp_user_timeout=tcp_user_timeout,
            )
        self.telemetry: TelemetryRelay | None = None
        if telemetry_port is not None and controller_telemetry_port:
            self.telemetry = TelemetryRelay(
                host,
                telemetry_port,
                controller_host,
                controller_telemetry_port,
                self.faults,
                self.recording,
                self.log,
                max_frame_bytes,
            )
        self._started = False
        self._closed = False
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Listen on every port and start relaying. Idempotent.

        Raises
        ------
        OSError
            If a port cannot be bound (everything is closed again).
        """
        if self._started:
            return
        self._started = True
        try:
            for route in self.routes.values():
                await route.start()
            if self.telemetry is not None:
                await self.telemetry.start()
        except BaseException:
            await self.close()
            raise
        self.log.info(
            "proxy_started",
            command_ports={r.name: self.command_port(r) for r in self.roles},
            telemetry_port=self.telemetry_port,
        )

    async def close(self) -> None:
        """Shut down in order (see the class notes). Idempotent; safe at any moment."""
        if self._closed:
            await asyncio.shield(self._done)
            return
        self._closed = True
        try:
            if self.telemetry is not None:
                await self.telemetry.close()
            for route in self.routes.values():
                await route.close()
        finally:
            if self.recording is not None:
                self.recording.close()
            self._done.set_result(None)
            self.log.info("proxy_closed")

    @property
    def done_task(self) -> asyncio.Future[None]:
        """Done when `close` has finished."""
        return self._done

    # --- ports ----------------------------------------------------------------------

    def _route(self, role: Source | str) -> Route:
        try:
            return self.routes[_role(role)]
        except KeyError:
            raise ValueError(
                f"{role!r} is not proxied (roles: {[r.name for r in self.roles]})"
            ) from None

    def command_port(self, role: Source | str) -> int:
        """The proxy's command port for ``role`` (the console connects here)."""
        return self._route(role).console.server_port

    def reply_port(self, role: Source | str) -> int:
        """The console's reply port the proxy connects to (0: not known yet)."""
        return self._route(role).console.client_port

    def controller_reply_port(self, role: Source | str) -> int:
        """The port where the proxy waits for the controller's reply connection."""
        return self._route(role).controller.server_port

    @property
    def telemetry_port(self) -> int | None:
        """The proxy's telemetry port (`None` without a telemetry relay)."""
        return None if self.telemetry is None else self.telemetry.port

    def connect_console(self, role: Source | str, reply_port: int, host: str | None = None) -> None:
        """Tell the proxy where ``role``'s console listens for replies.

        Raises
        ------
        ValueError
            If ``role`` is not proxied or ``reply_port`` is 0.
        """
        self._route(role).set_console_reply_port(reply_port, host)

    def connected(self, role: Source | str) -> bool:
        """Are the four connections of ``role`` up (console and controller, both ways)?"""
        return self._route(role).connected

    async def wait_connected(self, role: Source | str) -> None:
        """Wait until the four connections of ``role`` are up. Cancel-safe.

        Raises
        ------
        ConnectionClosedError
            If the proxy is closed meanwhile.
        """
        await self._route(role).wait_connected()

    def __repr__(self) -> str:
        ports = {r.name: route.controller.client_port for r, route in self.routes.items()}
        return f"MountProxy(controller={self.controller_host}, ports={ports})"
