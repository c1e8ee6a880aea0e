"""`TelemetryRelay`: the controller's telemetry stream, passed on to the proxy's clients."""

from __future__ import annotations

__all__ = ["TelemetryRelay"]

import asyncio
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError
from ..net.retry import RetryPolicy
from ..net.streams import open_link
from ..protocol.framing import DEFAULT_MAX_FRAME_BYTES
from ..telemetry.frames import Direction
from ..telemetry.server import TelemetryServer
from .faults import ProxyFaults
from .recording import FrameLog
from .relay import Relay

RETRY_INITIAL = 0.1
"""First delay before reconnecting to the controller's telemetry port [s]."""
RETRY_MAX = 2.0
"""Longest delay between attempts [s]."""
RETRY = RetryPolicy(RETRY_INITIAL, factor=2, maximum=RETRY_MAX)
"""The relay's reconnect delays (the package's one retry policy, `mountcomm.net.retry`)."""


class _Publish:
    """A relay `Sink` that sends to every client of a `TelemetryServer`."""

    def __init__(self, server: TelemetryServer) -> None:
        self._server = server

    def write(self, data: bytes) -> bool:
        self._server.publish_bytes(data)
        return True

    async def drain(self) -> None:
        """Nothing to wait for: the server drops a client that falls too far behind."""


class TelemetryRelay(AsyncResource):
    """Read the controller's telemetry stream and serve it to any number of clients.

    The proxy stays connected to the controller's telemetry port whether or
    not anybody listens (every line is recorded), and reconnects with
    growing delays (up to `RETRY_MAX`) when the connection is refused or
    lost. Lines go to the clients exactly as received (faults aside).
    ``async with relay`` starts it and closes it on exit.

    Parameters
    ----------
    host : `str` or `None`
        Address to listen on; `None`: all.
    port : `int`
        Port to listen on; 0: the OS picks (see `port`).
    controller_host : `str` or `None`
    controller_port : `int`
        The controller's telemetry port.
    faults : `ProxyFaults`
    log : `FrameLog` or `None`
    logger : structlog logger

    Attributes
    ----------
    server : `TelemetryServer`
    relay : `Relay`
    """

    def __init__(
        self,
        host: str | None,
        port: int,
        controller_host: str | None,
        controller_port: int,
        faults: ProxyFaults,
        log: FrameLog | None,
        logger: Any,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.server = TelemetryServer(host, port, logger)
        self.controller_host = controller_host or "localhost"
        self.controller_port = controller_port
        self.relay = Relay(Direction.TELEMETRY, None, faults, log, max_frame_bytes)
        self.log = logger
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False

    @property
    def port(self) -> int:
        """The port clients connect to."""
        return self.server.port

    async def start(self) -> int:
        """Listen, start relaying; return the port. Idempotent.

        Raises
        ------
        OSError
            If the port cannot be bound.
        ConnectionClosedError
            If the relay is closed (before or while starting).
        """
        if self._closed:
            raise ConnectionClosedError("telemetry relay is closed")
        if self._started:
            return self.port
        self._started = True
        port = await self.server.start()
        if self._closed:
            raise ConnectionClosedError("telemetry relay was closed while starting")
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="MountProxy.telemetry"
        )
        self._task.add_done_callback(self._task_done)
        return port

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.log.error("telemetry_relay_failed", exc_info=task.exception())

    async def _run(self) -> None:
        delays = RETRY.delays()
        while True:
            try:
                link = await open_link(self.controller_host, self.controller_port)
            except OSError as e:
                self.log.debug("telemetry_connect_retry", port=self.controller_port, error=str(e))
                await asyncio.sleep(next(delays))
                continue
            delays = RETRY.delays()
            self.connected.set()
            self.log.info("telemetry_relay_connected", port=self.controller_port)
            try:
                ending = await self.relay.run(link, _Publish(self.server))
            finally:
                self.connected.clear()
                await link.wait_closed()
            self.log.info("telemetry_relay_lost", ending=ending.value)
            await asyncio.sleep(next(delays))

    async def close(self) -> None:
        """Stop relaying and close the server and its clients.

        Idempotent; safe at any moment (a `start` under way then raises).
        """
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.server.close()
