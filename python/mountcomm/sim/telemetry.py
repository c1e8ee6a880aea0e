"""The telemetry stream: JSON objects, one per line, terminated ``"\\r\\n"``.

Each object has ``topicID`` (`TelemetryTopicId`), ``timestamp`` (TAI unix
seconds) and the topic's fields (for an axis: ``angleActual``, ``angleSet``,
``velocityActual``, ``velocitySet``, ``accelerationActual``, ``torqueActual``;
for an axis's drives: ``current``, one value per drive).

`TelemetryServer` publishes samples to any number of clients (the simulator's
side); `TelemetryClient` reads the stream into dicts (the user's side).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_BUFFER_BYTES",
    "TelemetryClient",
    "TelemetryServer",
    "decode_sample",
    "encode_sample",
]

import asyncio
import json
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError, ProtocolError
from ..log import get_logger
from ..net.streams import Link, open_link, start_link_server

TERMINATOR = b"\r\n"
DEFAULT_MAX_BUFFER_BYTES = 1 << 20
"""A telemetry client further behind than this is disconnected [bytes]."""
MAX_LINE_BYTES = 1 << 16


def encode_sample(sample: Mapping[str, Any]) -> bytes:
    """Encode one sample as a JSON line (with its ``"\\r\\n"``)."""
    return json.dumps(sample, separators=(",", ":")).encode() + TERMINATOR


def decode_sample(line: bytes) -> dict[str, Any]:
    """Decode one JSON line (with or without its terminator).

    Raises
    ------
    ProtocolError
        Not a JSON object with an integer ``topicID``.
    """
    try:
        sample = json.loads(line)
    except ValueError as e:  # includes UnicodeDecodeError
        raise ProtocolError(f"telemetry line is not JSON: {e}", line[:200]) from None
    if not isinstance(sample, dict) or not isinstance(sample.get("topicID"), int):
        raise ProtocolError("telemetry line is not an object with an int topicID", line[:200])
    return sample


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
    ) -> None:
        self.host = host
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
        """
        self._server = await start_link_server(self._accept, self.host, self.port)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]
        self.log.info("telemetry_listening", host=self.host, port=self.port)
        return self.port

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
        data = b"".join(encode_sample(s) for s in samples)
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
        """Stop listening and disconnect every client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        links, self._links = self._links, set()
        await asyncio.gather(*(link.wait_closed() for link in links))
        if self._server is not None:
            await self._server.wait_closed()


class TelemetryClient(AsyncResource):
    """Read a telemetry stream into dicts.

    Parameters
    ----------
    host : `str` or `None`
        Telemetry server host; `None`: localhost.
    port : `int`
        Telemetry server port.
    log : logger or `None`
    queue_size : `int`
        Samples kept for the async iterator; when the consumer falls behind,
        the oldest are dropped (the latest values are always in `latest`).

    Attributes
    ----------
    latest : `dict` [`int`, `dict`]
        The most recent sample of each topic id.
    count : `int`
        Samples received.

    Examples
    --------
    >>> async with TelemetryClient("127.0.0.1", port) as telemetry:  # doctest: +SKIP
    ...     sample = await telemetry.next_sample(topic=15)
    ...     async for sample in telemetry: ...
    """

    def __init__(
        self, host: str | None, port: int, log: Any = None, *, queue_size: int = 1000
    ) -> None:
        self.host = host or "127.0.0.1"
        self.port = port
        self.log = get_logger(log, "TelemetryClient", port=port)
        self.latest: dict[int, dict[str, Any]] = {}
        self.count = 0
        self._queue: deque[dict[str, Any]] = deque(maxlen=queue_size)
        self._changed: asyncio.Event | None = None
        self._waiters: list[tuple[int | None, asyncio.Future[dict[str, Any]]]] = []
        self._link: Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed_error: ConnectionClosedError | None = None

    async def start(self) -> None:
        """Connect and start reading.

        Raises
        ------
        OSError
            If the connection cannot be made.
        """
        self._changed = asyncio.Event()
        self._link = await open_link(self.host, self.port, limit=MAX_LINE_BYTES)
        self._task = asyncio.create_task(self._read_loop(self._link))

    @property
    def connected(self) -> bool:
        """True while the stream is open."""
        return self._link is not None and self._closed_error is None

    async def _read_loop(self, link: Link) -> None:
        reader = link.reader
        try:
            while True:
                try:
                    line = await reader.readuntil(TERMINATOR)
                except asyncio.LimitOverrunError as e:
                    await reader.readexactly(e.consumed)  # skip the oversized line
                    self.log.warning("telemetry_line_too_long")
                    continue
                try:
                    sample = decode_sample(line)
                except ProtocolError as e:
                    self.log.warning("telemetry_bad_line", error=str(e))
                    continue
                self.count += 1
                self.latest[sample["topicID"]] = sample
                self._queue.append(sample)
                self._notify(sample)
        except (asyncio.IncompleteReadError, OSError) as e:
            self._closed_error = ConnectionClosedError(f"telemetry stream closed: {e!r}")
        finally:
            if self._closed_error is None:
                self._closed_error = ConnectionClosedError("telemetry client closed")
            self._notify(None)

    def _notify(self, sample: dict[str, Any] | None) -> None:
        if self._changed is not None:
            self._changed.set()
        waiting: list[tuple[int | None, asyncio.Future[dict[str, Any]]]] = []
        for topic, future in self._waiters:
            if future.done():
                continue
            if sample is None:
                assert self._closed_error is not None
                future.set_exception(self._closed_error)
            elif topic is None or sample["topicID"] == topic:
                future.set_result(sample)
            else:
                waiting.append((topic, future))
        self._waiters = waiting

    async def _wait_change(self) -> None:
        assert self._changed is not None, "call start() first"
        self._changed.clear()
        await self._changed.wait()

    async def next_sample(self, topic: int | None = None) -> dict[str, Any]:
        """Wait for the next sample (of ``topic`` if given) that arrives after this call.

        Independent of the async iterator. Cancel-safe.

        Raises
        ------
        ConnectionClosedError
            The stream is closed.
        """
        if self._closed_error is not None:
            raise self._closed_error
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((None if topic is None else int(topic), future))
        return await future

    def get(self, topic: int) -> dict[str, Any] | None:
        """The most recent sample of ``topic``, or `None`."""
        return self.latest.get(int(topic))

    async def __aiter__(self) -> AsyncGenerator[dict[str, Any], None]:
        """Yield samples in order until the stream closes (one consumer at a time)."""
        while True:
            while self._queue:
                yield self._queue.popleft()
            if self._closed_error is not None:
                return
            await self._wait_change()

    async def close(self) -> None:
        """Disconnect and stop reading. Idempotent."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._link is not None:
            await self._link.wait_closed()
