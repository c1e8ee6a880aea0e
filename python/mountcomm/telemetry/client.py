"""`TelemetryClient`: read a controller's telemetry stream (the CSC's side)."""

from __future__ import annotations

__all__ = ["DEFAULT_QUEUE_SIZE", "MAX_SELF_CONNECTIONS", "TelemetryClient"]

import asyncio
import math
import os
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import Any

from .._lifecycle import AsyncResource
from ..exceptions import ConnectionClosedError, ProtocolError, SelfConnectionError
from ..log import get_logger
from ..net.retry import RetryPolicy
from ..net.streams import Link, open_link
from ..sockets import (
    DEFAULT_TCP_KEEPALIVE,
    SelfConnectionLog,
    TcpKeepalive,
    coerce_keepalive,
)
from .codec import MAX_LINE_BYTES, TERMINATOR, decode_sample

DEFAULT_QUEUE_SIZE = 1000
"""Samples kept for the iterator with ``keep_backlog=True``."""

MAX_SELF_CONNECTIONS = 10
"""Without a ``connect_timeout``, `TelemetryClient.start` gives up after this many
self-connections in a row (each means that nobody listens)."""

Sample = dict[str, Any]
SampleCallback = Callable[[Sample], object]


class TelemetryClient(AsyncResource):
    """Read a telemetry stream into dicts.

    Parameters
    ----------
    host : `str` or `None`
        Telemetry server host; `None`: localhost.
    port : `int`
        Telemetry server port.
    log : logger or `None`
        A stdlib or structlog logger; `None`: the ``mountcomm`` logger.
    keep_backlog : `bool`, keyword-only
        False (default): the async iterator yields *current* samples: of the
        samples that arrived since it last yielded, only the newest of each
        topic, so a consumer that starts late or falls behind never sees stale
        data. True: every sample in arrival order, up to ``queue_size`` of
        them (the oldest are dropped beyond that).
    queue_size : `int`, keyword-only
        Bound on the samples kept for the iterator with ``keep_backlog=True``.
    connect_timeout : `float` or `None`, keyword-only
        `None` (default): `start` makes one attempt, and a refused connection
        raises `OSError` at once. A number [s]: refused attempts are retried
        with backoff for that long, then `TimeoutError` is raised.
    connect_retry_interval, connect_retry_max : `float`, keyword-only
        First and longest delay between attempts [s]; each delay doubles.
    tcp_keepalive : `TcpKeepalive`, `float` or `None`, keyword-only
        TCP keepalive, so that a vanished controller ends the stream (see
        `mountcomm.sockets`); `None`: off.
    sample_callback : callable or `None`, keyword-only
        ``callback(sample)`` for every sample received (see
        `add_sample_callback`).

    Attributes
    ----------
    latest : `dict` [`int`, `dict`]
        The most recent sample of each topic id.
    count : `int`
        Samples received.
    dropped : `int`
        Samples the iterator skipped (superseded by a newer sample of their
        topic, or beyond ``queue_size``).
    self_connections : `int`
        Connect attempts that reached the client's own socket (see
        `SelfConnectionError`); each was closed and retried.

    Notes
    -----
    Connection attempts that end connected to themselves (possible when nobody
    listens on a port of the kernel's ephemeral range) are reset, logged (a
    warning the first time, then at debug level: `mountcomm.sockets.SelfConnectionLog`)
    and retried with backoff like a refused attempt.

    Several ``async for`` loops over one client share its buffer: each sample
    goes to one of them. `next_sample` and `latest` are independent of it.

    Examples
    --------
    >>> async with TelemetryClient("127.0.0.1", port) as telemetry:  # doctest: +SKIP
    ...     sample = await telemetry.next_sample(topic=TelemetryTopicId.ELEVATION)
    ...     async for sample in telemetry: ...
    """

    def __init__(
        self,
        host: str | None,
        port: int,
        log: Any = None,
        *,
        keep_backlog: bool = False,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        connect_timeout: float | None = None,
        connect_retry_interval: float = 0.1,
        connect_retry_max: float = 2.0,
        tcp_keepalive: TcpKeepalive | float | None = DEFAULT_TCP_KEEPALIVE,
        sample_callback: SampleCallback | None = None,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an integer in 0…65535, got {port!r}")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be an integer >= 1, got {queue_size!r}")
        if connect_timeout is not None and not (
            math.isfinite(connect_timeout) and connect_timeout > 0
        ):
            raise ValueError(f"connect_timeout must be positive or None, got {connect_timeout!r}")
        self.host = host or "127.0.0.1"
        self.port = port
        self.log = get_logger(log, "TelemetryClient", port=port)
        self.keep_backlog = keep_backlog
        self.connect_timeout = connect_timeout
        self._retry = RetryPolicy(  # the package's one retry policy; checks the settings
            connect_retry_interval, factor=2, maximum=connect_retry_max, jitter=0.1
        )
        self._keepalive = coerce_keepalive(tcp_keepalive)
        self.latest: dict[int, Sample] = {}
        self.count = 0
        self.dropped = 0
        self._self_connected = SelfConnectionLog(self.log, "telemetry_self_connection")
        self._queue: deque[Sample] = deque(maxlen=queue_size)
        self._pending: dict[int, Sample] = {}
        self._changed: asyncio.Event | None = None
        self._waiters: list[tuple[int | None, asyncio.Future[Sample]]] = []
        self._link: Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed_error: ConnectionClosedError | None = None
        self._callbacks: list[SampleCallback] = []
        if sample_callback is not None:
            self.add_sample_callback(sample_callback)

    def add_sample_callback(self, callback: SampleCallback) -> None:
        """Call ``callback(sample)`` for every sample received, as it arrives.

        Independent of the iterator and of ``keep_backlog``: a recorder sees
        every sample. ``callback`` is a plain function, called in the read loop,
        so it must be quick; an exception in it is logged, never raised.
        """
        self._callbacks.append(callback)

    def remove_sample_callback(self, callback: SampleCallback) -> None:
        """Stop calling ``callback``; does nothing if it is not registered."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    async def start(self) -> None:
        """Connect and start reading.

        Raises
        ------
        OSError
            The connection was refused or failed (without ``connect_timeout``).
        TimeoutError
            No connection within ``connect_timeout``.
        SelfConnectionError
            Without ``connect_timeout``: `MAX_SELF_CONNECTIONS` attempts in a row
            reached the client's own socket.
        """
        self._changed = asyncio.Event()
        self._link = await self._connect()
        self._task = asyncio.create_task(self._read_loop(self._link))

    async def _connect(self) -> Link:
        loop = asyncio.get_running_loop()
        delays = self._retry.delays()
        deadline = None if self.connect_timeout is None else loop.time() + self.connect_timeout
        in_a_row = 0
        error: OSError | None = None
        while True:
            try:
                return await self._attempt(deadline)
            except SelfConnectionError as e:
                self._self_connected(e, host=self.host)
                in_a_row += 1
                if deadline is None and in_a_row >= MAX_SELF_CONNECTIONS:
                    raise
                error = e
            except OSError as e:  # refused, unreachable, timed out (TimeoutError)…
                if deadline is None:
                    raise
                if loop.time() >= deadline:
                    raise self._timeout_error(error) from None
                in_a_row = 0
                error = e
            delay = next(delays)
            if deadline is not None and loop.time() + delay >= deadline:
                raise self._timeout_error(error) from error
            self.log.debug("telemetry_connect_retry", error=str(error), delay=round(delay, 3))
            await asyncio.sleep(delay)

    async def _attempt(self, deadline: float | None) -> Link:
        async with asyncio.timeout_at(deadline):
            return await open_link(
                self.host,
                self.port,
                limit=MAX_LINE_BYTES,
                keepalive=self._keepalive,
                user_timeout=None,
            )

    def _timeout_error(self, error: OSError | None) -> TimeoutError:
        reason = ""
        if error is not None:
            text = os.strerror(error.errno) if error.errno else str(error)
            reason = f" (last attempt: {text})"
        return TimeoutError(
            f"no telemetry server at {self.host}:{self.port} within "
            f"{self.connect_timeout} s{reason}"
        )

    @property
    def self_connections(self) -> int:
        """Connect attempts that reached the client's own socket (each closed and retried)."""
        return self._self_connected.count

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
                self._add(sample)
        except (asyncio.IncompleteReadError, OSError) as e:
            self._closed_error = ConnectionClosedError(f"telemetry stream closed: {e!r}")
        finally:
            if self._closed_error is None:
                self._closed_error = ConnectionClosedError("telemetry client closed")
            self._notify(None)

    def _add(self, sample: Sample) -> None:
        topic: int = sample["topicID"]
        self.count += 1
        self.latest[topic] = sample
        if self.keep_backlog:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(sample)
        else:
            if self._pending.pop(topic, None) is not None:
                self.dropped += 1
            self._pending[topic] = sample  # now the newest entry
        for callback in list(self._callbacks):
            try:
                callback(sample)
            except Exception:
                self.log.exception("telemetry_callback_failed", callback=repr(callback))
        self._notify(sample)

    def _notify(self, sample: Sample | None) -> None:
        if self._changed is not None:
            self._changed.set()
        waiting: list[tuple[int | None, asyncio.Future[Sample]]] = []
        for topic, future in self._waiters:
            if future.done():
                continue
            if sample is None:
                future.set_exception(self._closed_error or ConnectionClosedError("closed"))
            elif topic is None or sample["topicID"] == topic:
                future.set_result(sample)
            else:
                waiting.append((topic, future))
        self._waiters = waiting

    def _pop(self) -> Sample | None:
        if self._queue:
            return self._queue.popleft()
        if self._pending:
            return self._pending.pop(next(iter(self._pending)))
        return None

    async def next_sample(self, topic: int | None = None) -> Sample:
        """Wait for the next sample (of ``topic`` if given) that arrives after this call.

        Independent of the async iterator. Cancel-safe.

        Raises
        ------
        ConnectionClosedError
            The stream is closed.
        RuntimeError
            `start` was not called.
        """
        if self._closed_error is not None:
            raise self._closed_error
        if self._changed is None:
            raise RuntimeError("TelemetryClient.next_sample: call start() first")
        future: asyncio.Future[Sample] = asyncio.get_running_loop().create_future()
        self._waiters.append((None if topic is None else int(topic), future))
        return await future

    def get(self, topic: int) -> Sample | None:
        """The most recent sample of ``topic``, or `None`."""
        return self.latest.get(int(topic))

    async def __aiter__(self) -> AsyncGenerator[Sample, None]:
        """Yield samples until the stream closes (see ``keep_backlog``).

        Samples still buffered when the stream closes are yielded first.
        Cancel-safe.

        Raises
        ------
        RuntimeError
            `start` was not called.
        """
        if self._changed is None:
            raise RuntimeError("TelemetryClient: call start() before iterating")
        while True:
            sample = self._pop()
            if sample is not None:
                yield sample
                continue
            if self._closed_error is not None:
                return
            self._changed.clear()
            await self._changed.wait()

    async def close(self) -> None:
        """Disconnect and stop reading. Idempotent."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._link is not None:
            await self._link.wait_closed()
        if self._closed_error is None:
            self._closed_error = ConnectionClosedError("telemetry client closed")
            self._notify(None)
