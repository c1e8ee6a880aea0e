"""One HTTP/1.1 connection to etcd's JSON gateway: pipelined requests, or one stream.

etcd serves its v3 API as JSON over HTTP/1.1 on its client port (the gRPC
gateway). A `GatewayConnection` carries either (its `Mode`)

* **requests**, pipelined: `request` writes at once and returns a future for
  the answer. etcd (Go's HTTP server) handles the requests of one connection
  one after the other, in the order sent, so changes written on one
  connection are applied in that order without waiting for each answer; or
* **one stream** (`stream`): a watch, whose response is an endless chunked
  body of JSON lines.

The bytes are parsed by the pure `ResponseReader`. Every way the connection
ends (peer close, protocol error, an answer not coming within the timeout,
`close`) goes through one teardown that fails every pending future and the
stream with `GatewayClosed`, chained to the first cause.
"""

from __future__ import annotations

__all__ = ["GatewayClosed", "GatewayConnection", "GatewayReply", "GatewayStream", "Mode"]

import asyncio
import collections
import enum
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ...exceptions import SelfConnectionError
from ...protocol.lines import LineOverflow, LineSplitter
from ...sockets import refuse_self_connection
from .errors import EtcdUnavailable
from .http import BodyPart, End, Head, HttpProtocolError, ResponseReader, authority, encode_request

T = TypeVar("T")

STREAM_HIGH_WATER = 1024
"""Stream messages buffered before reading from the socket pauses."""


class GatewayClosed(EtcdUnavailable):
    """The connection to etcd ended (the message and ``__cause__`` say why).

    An `EtcdUnavailable`, so a `mountcomm.exceptions.ConnectionClosedError`.
    """


class Mode(enum.Enum):
    """What a `GatewayConnection` carries."""

    REQUESTS = "requests"
    """Pipelined requests (`GatewayConnection.request`): every connection starts so."""
    STREAM = "stream"
    """One streamed response (`GatewayConnection.stream`), its last use."""


@dataclass(frozen=True, slots=True)
class GatewayReply:
    """A complete answer: HTTP status and body."""

    status: int
    body: bytes


@dataclass(slots=True)
class _Request(Generic[T]):
    future: asyncio.Future[T]
    decode: Callable[[GatewayReply], T]
    deadline: float
    status: int = 0
    parts: list[bytes] = field(default_factory=list)


class GatewayStream:
    """The JSON lines of one streamed response, as dicts, in order.

    ``async for message in stream`` ends when the response ends, and raises
    `GatewayClosed` if the connection ends first. Cancelling the iteration
    is safe (nothing is lost; the connection stays as it was).

    The connection feeds it (`feed`, `finish`); it asks the connection to
    pause and resume reading through the two callables it was given, when
    `STREAM_HIGH_WATER` messages are buffered and when half of them are read.
    """

    def __init__(
        self, max_line: int, pause: Callable[[], None], resume: Callable[[], None]
    ) -> None:
        self.status = 0
        self._pause = pause
        self._resume = resume
        self._lines = LineSplitter(b"\n", max_line)
        self._messages: collections.deque[dict[str, Any]] = collections.deque()
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def __aiter__(self) -> GatewayStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        while not self._messages:
            if self._error is not None:
                raise self._error
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = self._messages.popleft()
        if len(self._messages) == STREAM_HIGH_WATER // 2:
            self._resume()
        return message

    # ---- fed by the connection ----------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Add bytes of the response body (the connection's call).

        Raises
        ------
        HttpProtocolError
            If a message is not a JSON object or is too long.
        """
        for line in self._lines.feed(data):
            if isinstance(line, LineOverflow):
                limit = self._lines.max_line_bytes
                raise HttpProtocolError(
                    f"a streamed message longer than {limit} bytes", line.prefix
                )
            if line and not line.isspace():
                self._push(line)

    def _push(self, line: bytes | bytearray) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise HttpProtocolError(
                f"a streamed message that is not an object of JSON: {line[:80]!r}",
                bytes(line[:80]),
            )
        self._messages.append(message)
        if len(self._messages) == STREAM_HIGH_WATER:
            self._pause()
        self._wake()

    def finish(self, error: BaseException | None) -> None:
        """The response ended (``error`` `None`) or the connection did (the connection's call)."""
        if self._ended or self._error is not None:
            return
        if error is None:
            rest = self._lines.held()
            if rest.strip():
                self._push(rest)
            self._ended = True
        else:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class GatewayConnection(asyncio.Protocol):
    """One connection to etcd's gateway (see the module docstring).

    Use `open` to make one. Not thread-safe: use it from its event loop only.

    Parameters
    ----------
    authority : `str`
        ``host:port``, for the ``Host`` header.
    timeout : `float`
        Longest wait for each answer, counted from its request [s]. An
        answer that does not come in time ends the connection.
    headers : `tuple` of (`str`, `str`)
        Sent with every request (e.g. etcd's ``Authorization`` token).
    max_body : `int`
        Longest response body or chunk [bytes].
    """

    def __init__(
        self,
        authority: str,
        timeout: float,
        headers: tuple[tuple[str, str], ...] = (),
        max_body: int = 256 * 1024 * 1024,
    ) -> None:
        self.authority = authority
        self.timeout = timeout
        self.headers = headers
        self._reader = ResponseReader(max_body)
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._pending: collections.deque[_Request[Any]] = collections.deque()
        self.mode = Mode.REQUESTS
        self._stream: GatewayStream | None = None  # in Mode.STREAM
        self._timer: asyncio.TimerHandle | None = None
        self._error: GatewayClosed | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> GatewayConnection:
        """Connect to ``host:port`` within ``timeout`` [s].

        Raises
        ------
        OSError, TimeoutError
            If the connection cannot be made, or reached its own socket
            (`mountcomm.sockets.refuse_self_connection`).
        """
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            transport, protocol = await loop.create_connection(
                lambda: cls(authority(host, port), timeout, headers),
                host,
                port,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
            )
        try:  # the package's check of a new connection (see mountcomm.sockets)
            refuse_self_connection(transport.get_extra_info("socket"))
        except SelfConnectionError:
            transport.abort()
            raise
        return protocol

    @property
    def closed(self) -> bool:
        """True once the connection has ended."""
        return self._error is not None

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def request(
        self, path: str, payload: dict[str, Any], decode: Callable[[GatewayReply], T]
    ) -> asyncio.Future[T]:
        """Send ``POST path`` with ``payload`` now; the future gets ``decode(reply)``.

        The future fails with `GatewayClosed` if the connection ends first,
        or with what ``decode`` raises. Cancelling the future does not take
        the request back (it has been sent).

        Raises
        ------
        GatewayClosed
            If the connection has ended.
        RuntimeError
            If the connection carries a stream.
        """
        if self.mode is not Mode.REQUESTS:
            raise RuntimeError("this connection carries a stream")
        future: asyncio.Future[T] = self._loop.create_future()
        self._send(path, payload)
        self._pending.append(_Request(future, decode, time.monotonic() + self.timeout))
        if self._timer is None:
            self._arm_timer()
        return future

    async def stream(self, path: str, payload: dict[str, Any]) -> GatewayStream:
        """Send ``POST path`` and return its streamed response (this connection's last use).

        Raises
        ------
        GatewayClosed
            If the connection ends before the response starts, or the
            response is not ``200 OK`` (the body is in the message).
        """
        if self.mode is not Mode.REQUESTS or self._pending:
            raise RuntimeError("a stream needs a connection of its own")
        self._send(path, payload)
        assert self._transport is not None  # (pausing and resuming are idempotent)
        transport = self._transport
        stream = GatewayStream(
            self._reader.max_body, transport.pause_reading, transport.resume_reading
        )
        self.mode, self._stream = Mode.STREAM, stream
        head: asyncio.Future[None] = self._loop.create_future()
        self._pending.append(_Request(head, _stream_started, time.monotonic() + self.timeout))
        self._arm_timer()
        await head
        return stream

    def close(self) -> None:
        """End the connection; pending requests and the stream fail (idempotent)."""
        self._teardown(GatewayClosed("the etcd connection was closed"))

    # ---- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            for event in self._reader.feed(data):
                self._on_event(event)
        except (HttpProtocolError, ValueError) as e:
            self._teardown(GatewayClosed(f"etcd sent a response we cannot follow: {e}"), e)

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost tears down

    def connection_lost(self, exc: Exception | None) -> None:
        self._teardown(GatewayClosed("etcd closed the connection"), exc)

    # ---- internals -----------------------------------------------------------------

    def _send(self, path: str, payload: dict[str, Any]) -> None:
        if self._error is not None:
            raise self._error
        assert self._transport is not None
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._transport.write(encode_request(path, body, self.authority, self.headers))

    def _on_event(self, event: Head | BodyPart | End) -> None:
        stream = self._stream if self.mode is Mode.STREAM else None
        if isinstance(event, Head):
            if not self._pending:
                raise HttpProtocolError(f"an unrequested response ({event.status})")
            request = self._pending[0]
            request.status = event.status
            if stream is not None and event.status == 200:
                stream.status = 200
                self._answered(GatewayReply(200, b""))
        elif isinstance(event, BodyPart):
            if stream is not None and stream.status == 200:
                stream.feed(event.data)
            elif self._pending:
                self._pending[0].parts.append(event.data)
        elif stream is not None and stream.status == 200:
            stream.finish(None)
        elif self._pending:
            request = self._pending[0]
            self._answered(GatewayReply(request.status, b"".join(request.parts)))

    def _answered(self, reply: GatewayReply) -> None:
        request = self._pending.popleft()
        if not request.future.done():
            try:
                request.future.set_result(request.decode(reply))
            except Exception as e:
                request.future.set_exception(e)
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending and self._error is None:
            delay = max(0.0, self._pending[0].deadline - time.monotonic())
            self._timer = self._loop.call_later(delay, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        if self._pending and self._pending[0].deadline <= time.monotonic():
            self._teardown(GatewayClosed(f"etcd did not answer within {self.timeout:g} s"))
        else:
            self._arm_timer()

    def _teardown(self, error: GatewayClosed, cause: BaseException | None = None) -> None:
        if self._error is not None:
            return
        if cause is not None:
            error.__cause__ = cause
        self._error = error
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, collections.deque()
        for request in pending:
            if not request.future.done():
                request.future.set_exception(error)
                request.future.exception()  # retrieved: a caller may have given up on it
        if self._stream is not None:
            self._stream.finish(error)
        if self._transport is not None:
            self._transport.abort()


def _stream_started(reply: GatewayReply) -> None:
    if reply.status != 200:
        raise GatewayClosed(f"etcd refused the stream: HTTP {reply.status} {reply.body[:200]!r}")
