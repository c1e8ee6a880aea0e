"""HTTP/1.1, as much as etcd's JSON gateway needs, with no I/O.

`encode_request` builds one ``POST`` with a JSON body; `ResponseReader` is
fed the bytes of a connection and returns the responses' events in order:
`Head` (status and headers), `BodyPart` (a chunk of a ``chunked`` body, or a
whole ``Content-Length`` body) and `End`. Responses to pipelined requests
follow one another on the same stream, so one reader serves a connection
for its life.

Limits: a head (status line and headers) is at most `MAX_HEAD` bytes and
`MAX_HEADERS` header lines, a chunk-size or trailer line at most `MAX_LINE`
bytes, a body or a chunk at most ``max_body`` bytes. Anything
else the reader cannot follow raises `HttpProtocolError`, after which the
reader stays in error (the connection must be closed): among them a
``Content-Length`` that is not ASCII digits (``+5``, ``²``, ``5 x``) and two
``Content-Length`` headers that differ (a request-smuggling pattern; the same
value twice is accepted, as RFC 9112 allows).
"""

from __future__ import annotations

__all__ = [
    "MAX_HEAD",
    "MAX_HEADERS",
    "MAX_LINE",
    "BodyPart",
    "End",
    "Head",
    "HttpProtocolError",
    "ResponseEvent",
    "ResponseReader",
    "authority",
    "encode_request",
]

import re
from dataclasses import dataclass
from enum import Enum, auto

from ...exceptions import ProtocolError
from ...protocol.lines import LineOverflow, LineReader

MAX_LINE = 8192
"""Longest chunk-size or trailer line [bytes]."""
MAX_HEADERS = 100
"""Most header lines in one response head."""
MAX_HEAD = 65536
"""Longest response head: status line and headers [bytes]."""
DEFAULT_MAX_BODY = 256 * 1024 * 1024
"""Default longest body or chunk [bytes] (a full snapshot of a large cluster fits)."""

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_MAX_LENGTH_DIGITS = 18  # more cannot be a body this reader takes (and int() is cheap)


class HttpProtocolError(ProtocolError):
    """The peer sent something that is not an HTTP/1.1 response we can follow.

    A `ProtocolError` (so a `ValueError`), but unlike the mount protocol's the
    stream does not stay in sync: the reader stays in error and the
    connection must be closed. ``frame`` holds the offending line (its first
    bytes) when there is one, else `None`.
    """


@dataclass(frozen=True, slots=True)
class Head:
    """A response's status line and headers (names in lower case)."""

    status: int
    reason: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class BodyPart:
    """Part of a response body: one chunk, or the whole of a sized body."""

    data: bytes


@dataclass(frozen=True, slots=True)
class End:
    """The end of a response."""


ResponseEvent = Head | BodyPart | End


def authority(host: str, port: int) -> str:
    """``host:port`` as a URL or a ``Host`` header spells it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def encode_request(
    path: str, body: bytes, host: str, extra_headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """One ``POST path`` with a JSON ``body``, kept alive (HTTP/1.1's default)."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in extra_headers),
    ]
    for line in lines:
        if "\r" in line or "\n" in line:
            raise ValueError(f"line break in an HTTP request line: {line!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _status_line(line: bytes) -> tuple[int, str]:
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HttpProtocolError(f"expected an HTTP/1.x status line, got {line[:80]!r}", line[:80])
    return int(parts[1]), parts[2].decode("latin-1") if len(parts) > 2 else ""


def _headers(lines: list[bytes]) -> dict[str, str]:
    """The header lines as a dict; two different ``Content-Length`` values are an error."""
    headers: dict[str, str] = {}
    for line in lines:
        raw_name, sep, raw_value = line.partition(b":")
        if not sep or not raw_name or raw_name != raw_name.strip():
            raise HttpProtocolError(f"malformed header line {line[:80]!r}", line[:80])
        name, value = raw_name.decode("latin-1").lower(), raw_value.strip().decode("latin-1")
        if name == "content-length" and headers.get(name, value) != value:
            raise HttpProtocolError(
                f"two different Content-Length headers: {headers[name]!r} and {value!r}"
            )
        headers[name] = value
    return headers


def _content_length(text: str) -> int:
    """The value of a ``Content-Length`` header: ASCII digits only (no sign, no space)."""
    if not _DIGITS.fullmatch(text):
        raise HttpProtocolError(f"bad Content-Length {text[:40]!r}: expected ASCII digits")
    if len(text) > _MAX_LENGTH_DIGITS:
        raise HttpProtocolError(f"bad Content-Length {text[:40]!r}: too many digits")
    return int(text)


class _State(Enum):
    HEAD = auto()
    SIZED_BODY = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    CHUNK_END = auto()
    TRAILERS = auto()
    ERROR = auto()


class ResponseReader:
    """Split a connection's bytes into response events.

    Parameters
    ----------
    max_body : `int`
        Longest body (``Content-Length``) or chunk [bytes].

    Notes
    -----
    Bodies without a length (read until the connection closes) are not
    supported: etcd sends every response either sized or chunked. ``1xx``
    responses are skipped. Lines are split by `mountcomm.protocol.lines.LineReader`:
    each byte of a head is searched at most four times, of a chunk-size or
    trailer line twice, however it arrives; bodies are not searched. After an
    error every `feed` raises again.
    """

    def __init__(self, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.max_body = max_body
        self._lines = LineReader(b"\r\n")
        self._state = _State.HEAD
        self._remaining = 0
        self._error: HttpProtocolError | None = None

    @property
    def idle(self) -> bool:
        """True between responses with nothing buffered."""
        return self._state is _State.HEAD and not self._lines.buffered

    @property
    def scanned_bytes(self) -> int:
        """Bytes searched for a line end so far (see `LineReader.scanned_bytes`)."""
        return self._lines.scanned_bytes

    def feed(self, data: bytes) -> list[ResponseEvent]:
        """Add ``data``; return every event it completes, in order.

        Raises
        ------
        HttpProtocolError
            If the bytes are not a response this reader follows (sticky).
        """
        if self._error is not None:
            raise self._error
        self._lines.feed(data)
        events: list[ResponseEvent] = []
        try:
            while self._step(events):
                pass
        except HttpProtocolError as e:
            self._state = _State.ERROR
            self._error = e
            raise
        return events

    # ---- the states ----------------------------------------------------------------

    def _step(self, events: list[ResponseEvent]) -> bool:
        """Advance once; return False when more bytes are needed."""
        state = self._state
        if state is _State.HEAD:
            return self._head(events)
        if state is _State.SIZED_BODY or state is _State.CHUNK_DATA:
            return self._take_body(events)
        line = self._lines.line(MAX_LINE)
        if line is None:
            return False
        if isinstance(line, LineOverflow):
            raise HttpProtocolError(f"a line longer than {MAX_LINE} bytes", line.prefix)
        if state is _State.CHUNK_SIZE:
            self._chunk_size(line)
        elif state is _State.CHUNK_END:
            if line:
                raise HttpProtocolError(
                    f"expected CRLF after a chunk, got {line[:40]!r}", line[:80]
                )
            self._state = _State.CHUNK_SIZE
        elif not line:  # TRAILERS: an empty line ends them
            self._finish(events)
        return True

    def _head(self, events: list[ResponseEvent]) -> bool:
        """Read a whole head (status line and headers), once it has all arrived."""
        lines = self._lines.block(MAX_HEAD - 2)  # (its final empty line: 2 bytes)
        if lines is None:
            return False
        if isinstance(lines, LineOverflow):
            raise HttpProtocolError(f"a response head longer than {MAX_HEAD} bytes", lines.prefix)
        if len(lines) > MAX_HEADERS + 1:
            raise HttpProtocolError(f"more than {MAX_HEADERS} header lines")
        status, reason = _status_line(lines[0])
        if 100 <= status < 200:  # informational: the real response follows
            return True
        headers = _headers(lines[1:])
        events.append(Head(status, reason, headers))
        self._body_framing(status, headers, events)
        return True

    def _body_framing(
        self, status: int, headers: dict[str, str], events: list[ResponseEvent]
    ) -> None:
        encoding = headers.get("transfer-encoding")
        if encoding is not None:
            if encoding.lower() != "chunked":
                raise HttpProtocolError(f"unsupported transfer-encoding {encoding!r}")
            self._state = _State.CHUNK_SIZE
            return
        length = headers.get("content-length")
        if status in (204, 304):
            self._finish(events)
            return
        if length is None:
            raise HttpProtocolError("a response with neither Content-Length nor chunks")
        if length == "0":
            self._finish(events)
            return
        self._remaining = self._check_size(_content_length(length))
        self._state = _State.SIZED_BODY

    def _chunk_size(self, line: bytes) -> None:
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise HttpProtocolError(f"bad chunk size line {line[:40]!r}", line[:80])
        size = int(size_text, 16)
        if size == 0:
            self._state = _State.TRAILERS
            return
        self._remaining = self._check_size(size)
        self._state = _State.CHUNK_DATA

    def _take_body(self, events: list[ResponseEvent]) -> bool:
        data = self._lines.take(self._remaining)
        if data is None:
            return False
        events.append(BodyPart(data))
        if self._state is _State.SIZED_BODY:
            self._finish(events)
        else:
            self._state = _State.CHUNK_END
        return True

    def _check_size(self, size: int) -> int:
        if size > self.max_body:
            raise HttpProtocolError(f"a body or chunk of {size} bytes (limit {self.max_body})")
        return size

    def _finish(self, events: list[ResponseEvent]) -> None:
        events.append(End())
        self._state = _State.HEAD
