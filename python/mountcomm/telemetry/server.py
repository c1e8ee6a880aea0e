"""`TelemetryServer`: publish telemetry lines to every connected client.

The controller's side of the telemetry stream, used by the simulator
(`mountcomm.sim`) and by the recording proxy (`mountcomm.proxy`) to serve
what it relays.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_BUFFER_BYTES", "TelemetryServer"]

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError
from ..log import get_logger
from ..net.link_server import start_link_server
from ..net.streams import Link
from .codec import encode_sample

DEFAULT_MAX_BUFFER_BYTES = 1 << 20
"""A telemetry client further behind than this is disconnected [bytes]."""


class TelemetryServer(AsyncResource):
    """Publish telemetry samples to every connected client.

    An async context manager: ``async with TelemetryServer(...)`` starts it and
    closes it on exit.

    Parameters
    ----------
    host : `str` or `None`
        Address to listen on; `None`: all interfaces.
    port : `int`
        Port; 0: the OS picks (see `port` after `start`).
    log : logger or `None`
    max_buffer_bytes : `int`
        A client that lets more than this queue up unread is disconnected, so
        memory stays bounded [bytes].
    close_timeout : `float`
        Bound on each step of `close` that waits for the clients [s].

    Notes
    -----
    `publish` never blocks: it queues the bytes on each client's transport.
    """

    def __init__(
        self,
        host: str | None,
        port: int,
        log: Any = None,
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        close_timeout: float = 1.0,
    ) -> None:
        self.host = host
        self.close_timeout = close_timeout
        self.port = port
        self.log = get_logger(log, "TelemetryServer")
        self.max_buffer_bytes = max_buffer_bytes
        self._server: asyncio.Server | None = None
        self._links: set[Link] = set()
        self._closed = False
        self._changed: asyncio.Event | None = None

    @property
    def client_count(self) -> int:
        """Number of connected clients."""
        return len(self._links)

    async def wait_client_count(self, predicate: Callable[[int], bool]) -> int:
        """Wait until ``predicate(client_count)`` is true; return the count. Cancel-safe."""
        if self._changed is None:
            self._changed = asyncio.Event()
        while not predicate(len(self._links)):
            self._changed.clear()
            await self._changed.wait()
        return len(self._links)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def start(self) -> int:
        """Start listening; return the port.

        Raises
        ------
        OSError
            If the address cannot be bound.
        ConnectionClosedError
            If the server is closed (before or while starting: it then stops
            listening again).
        """
        self._raise_if_closed()
        server = await start_link_server(self._accept, self.host, self.port)
        if self.port == 0:
            self.port = server.sockets[0].getsockname()[1]
        try:
            self._raise_if_closed()
        except ConnectionClosedError:
            server.close()  # close() ran meanwhile and could not see this one
            await server.wait_closed()
            raise
        self._server = server
        self.log.info("telemetry_listening", host=self.host, port=self.port)
        return self.port

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise ConnectionClosedError(f"telemetry server on port {self.port} is closed")

    def _accept(self, link: Link) -> None:
        if self._closed:
            link.close()
            return
        self._links.add(link)
        link.on_lost = self._lost
        self._notify()
        self.log.info("telemetry_client_connected", clients=len(self._links))

    def _lost(self, link: Link) -> None:
        if link in self._links:
            self._links.discard(link)
            link.close()
            self._notify()
            self.log.info("telemetry_client_disconnected", clients=len(self._links))

    def publish(self, samples: Iterable[Mapping[str, Any]]) -> None:
        """Send samples to every client (a slow client is disconnected)."""
        self.publish_bytes(b"".join(encode_sample(s) for s in samples))

    def publish_bytes(self, data: bytes) -> None:
        """Send ``data`` (whole lines, as they are) to every client (a slow one is disconnected).

        For relays and replays, which pass on lines exactly as received.
        """
        if not data:
            return
        for link in list(self._links):
            writer = link.writer
            if writer is None or writer.is_closing():
                self._lost(link)
                continue
            if writer.transport.get_write_buffer_size() > self.max_buffer_bytes:
                self.log.warning("telemetry_client_too_slow", max_bytes=self.max_buffer_bytes)
                self._lost(link)
                continue
            writer.write(data)

    async def close(self) -> None:
        """Stop listening and disconnect every client, within ``close_timeout``. Idempotent.

        Steps: (1) stop accepting; (2) close every client connection and wait
        up to ``close_timeout`` for what is queued to go out; (3) abort the
        connections still open then (a client that does not read: its unsent
        samples are discarded); (4) wait up to ``close_timeout`` for the
        listening server to finish.
        """
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        links, self._links = self._links, set()
        await asyncio.gather(*(link.wait_closed(self.close_timeout) for link in links))
        stuck = [link.writer for link in links if link.writer is not None and not link.lost.done()]
        for writer in stuck:
            writer.transport.abort()
        if stuck:
            self.log.warning("telemetry_clients_aborted", clients=len(stuck))
        if self._server is not None:
            try:
                async with asyncio.timeout(self.close_timeout):
                    await self._server.wait_closed()
            except TimeoutError:
                self.log.warning("telemetry_server_close_timeout", timeout=self.close_timeout)
