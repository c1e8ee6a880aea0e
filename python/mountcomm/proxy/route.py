"""`Route`: one console role through the proxy, two `ClientServerPair` objects.

To the console the route is a controller: the *console pair* reads commands
on the proxy's command port and connects a client to the console's reply
server. To the controller it is a console: the *controller pair* connects a
client to the controller's command port and reads replies on the port the
controller connects to. Two relays join them: commands (console pair's server
→ controller pair's client) and replies (controller pair's server → console
pair's client).

**Each outgoing connection mirrors the incoming one it carries.** The proxy
connects to the controller's command port when a console connects to its
command port, and closes that connection when the console's ends; it connects
to the console's reply server when the controller connects for its replies,
and closes it when the controller's ends. The other way round, when an
outgoing connection is lost (the peer went away), the incoming one it feeds
is closed. So either side sees what it would see if it were connected to the
other directly: a peer that goes, comes back, and is connected to again
(retrying, as `ClientServerPair` does).
"""

from __future__ import annotations

__all__ = ["Route"]

import asyncio
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError
from ..net.client_server_pair import ClientServerPair
from ..net.streams import Link
from ..protocol.enums import Source
from ..sockets import TcpKeepalive
from ..telemetry.frames import Direction
from .faults import ProxyFaults
from .recording import FrameLog
from .relay import Relay, WriterSink


class Route(AsyncResource):
    """One console role's pair of port pairs and the two relays between them.

    Parameters
    ----------
    role : `Source`
    host : `str` or `None`
        Address the proxy listens on (both servers); `None`: all.
    command_port : `int`
        The proxy's command port for this role (0: the OS picks).
    console_host : `str` or `None`
        Host of the console's reply server; `None`: localhost.
    console_reply_port : `int`
        Its port; 0: unknown until `set_console_reply_port`.
    controller_host : `str` or `None`
    controller_port : `int`
        The controller's command port for this role.
    controller_reply_port : `int`
        Where the proxy listens for the controller's reply connection (0: the
        OS picks; the controller must then be told).
    faults : `ProxyFaults`
    log : `FrameLog` or `None`
    logger : structlog logger
    max_frame_bytes : `int`
    tcp_keepalive, tcp_user_timeout
        Socket options of every connection (see `ClientServerPair`).

    Attributes
    ----------
    console : `ClientServerPair`
        Faces the console.
    controller : `ClientServerPair`
        Faces the controller.
    commands, replies : `Relay`

    Notes
    -----
    ``async with route`` starts it and closes it on exit.
    """

    def __init__(
        self,
        role: Source,
        *,
        host: str | None,
        command_port: int,
        console_host: str | None,
        console_reply_port: int,
        controller_host: str | None,
        controller_port: int,
        controller_reply_port: int,
        faults: ProxyFaults,
        log: FrameLog | None,
        logger: Any,
        max_frame_bytes: int,
        tcp_keepalive: TcpKeepalive | float | None,
        tcp_user_timeout: float | None,
    ) -> None:
        name = role.name.lower()
        self.role = role
        self.log = logger
        options: dict[str, Any] = {
            "connect": False,
            "tcp_keepalive": tcp_keepalive,
            "tcp_user_timeout": tcp_user_timeout,
        }
        self._client_up = {"console": False, "controller": False}
        self._changes = asyncio.Event()
        self.console = ClientServerPair(
            f"proxy-{name}-console",
            console_host,
            console_reply_port,
            host,
            command_port,
            logger,
            connect_callback=lambda pair: self._changed("console", pair),
            **options,
        )
        self.controller = ClientServerPair(
            f"proxy-{name}-controller",
            controller_host,
            controller_port,
            host,
            controller_reply_port,
            logger,
            connect_callback=lambda pair: self._changed("controller", pair),
            **options,
        )
        self.commands = Relay(Direction.TO_CONTROLLER, role, faults, log, max_frame_bytes)
        self.replies = Relay(Direction.TO_CONSOLE, role, faults, log, max_frame_bytes)
        self._reply_port_known = asyncio.Event()
        if console_reply_port:
            self._reply_port_known.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._mirrors: set[asyncio.Task[None]] = set()
        self._started = False
        self._closed = False

    # --- life cycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Listen on both servers and start relaying. Idempotent.

        Raises
        ------
        OSError
            If a server cannot listen.
        ConnectionClosedError
            If the route is closed (before or while starting).
        """
        if self._closed:
            raise ConnectionClosedError(f"proxy route {self.role.name} is closed")
        if self._started:
            return
        self._started = True
        await self.console.wait_server_port()
        await self.controller.wait_server_port()
        if self._closed:
            raise ConnectionClosedError(f"proxy route {self.role.name} was closed while starting")
        name = self.role.name
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(
                self._path(self.commands, self.console, self.controller, "controller"),
                name=f"MountProxy.commands-{name}",
            ),
            loop.create_task(
                self._path(self.replies, self.controller, self.console, "console"),
                name=f"MountProxy.replies-{name}",
            ),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._closed:
            self.log.error("proxy_relay_failed", task=task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        """Stop relaying and close both pairs (the console's first).

        Idempotent; safe at any moment (a `start` under way then raises).
        """
        self._closed = True
        self._changes.set()
        tasks = [*self._tasks, *self._mirrors]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.console.close()
        await self.controller.close()

    # --- ports ----------------------------------------------------------------------

    def set_console_reply_port(self, port: int, host: str | None = None) -> None:
        """Tell the route where the console's reply server listens."""
        if not port:
            raise ValueError(f"reply_port must be nonzero, got {port!r}")
        self.console.client_port = port
        if host is not None:
            self.console.client_host = host
        self._reply_port_known.set()

    @property
    def connected(self) -> bool:
        """Are all four connections up?"""
        return self.console.connected and self.controller.connected

    async def wait_connected(self) -> None:
        """Wait until all four connections are up. Cancel-safe.

        Raises
        ------
        ConnectionClosedError
            If the route is closed meanwhile.
        """
        while not self.connected:
            if self._closed:
                raise ConnectionClosedError(f"proxy route {self.role.name} is closed")
            self._changes.clear()
            await self._changes.wait()

    # --- relaying -------------------------------------------------------------------

    async def _path(
        self, relay: Relay, source: ClientServerPair, target: ClientServerPair, target_name: str
    ) -> None:
        """Relay each connection made to ``source``'s server to ``target``'s client."""
        while True:
            try:
                await source.server.wait_connected()
            except ConnectionClosedError:
                return
            link = source.server.link
            if link is None or not link.is_open:
                await asyncio.sleep(0)  # lost already: the server sees it at once
                continue
            if await self._connect(target, target_name, link):
                ending = await relay.run(link, WriterSink(target.client_writer))
                self.log.info(
                    "proxy_connection_ended",
                    role=self.role.name,
                    direction=relay.direction.value,
                    ending=ending.value,
                )
            await link.wait_closed()
            await self._close_client(target, target_name)

    async def _connect(self, target: ClientServerPair, target_name: str, source: Link) -> bool:
        """Connect ``target``'s client unless it is; False if ``source`` ended first."""
        if target.client_connected:
            return True
        attempt = asyncio.get_running_loop().create_task(self._connect_client(target, target_name))
        try:
            waits: set[asyncio.Future[Any]] = {attempt, source.lost}
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not attempt.done():
                attempt.cancel()
            await asyncio.gather(attempt, return_exceptions=True)
        if attempt.cancelled():
            return False
        error = attempt.exception()
        if error is not None:
            if source.lost.done():
                return False
            raise error
        return True

    async def _connect_client(self, target: ClientServerPair, target_name: str) -> None:
        if target is self.console:
            await self._reply_port_known.wait()
        await target.connect_client()

    async def _close_client(self, pair: ClientServerPair, name: str) -> None:
        self._client_up[name] = False
        await pair.close_client()

    def _changed(self, name: str, pair: ClientServerPair) -> None:
        """Connect callback: an outgoing connection lost by its peer ends the one it carries."""
        self._changes.set()
        up = pair.client_connected
        was_up, self._client_up[name] = self._client_up[name], up
        if not was_up or up or self._closed:
            return
        # The peer of the outgoing connection went away: so does the incoming one.
        feeding = self.controller if pair is self.console else self.console
        link = feeding.server.link
        if link is not None and link.is_open:
            self.log.info("proxy_peer_lost", role=self.role.name, side=name)
            task = asyncio.get_running_loop().create_task(link.wait_closed())
            self._mirrors.add(task)
            task.add_done_callback(self._mirrors.discard)
