"""Line codecs of the registry's three dialects. Pure: bytes in, values out.

Every dialect is line based (``"\\n"``, an optional ``"\\r"`` before it is
dropped). The first line of a connection picks the dialect (`detect_dialect`):

native
    One JSON object per line; its typed codec, shared by the daemon and
    its clients, is `mountcomm.registry.native`.
NSCL port manager
    ``GIMME <service> <user>`` → ``OK <port>`` or ``FAIL <reason>``;
    ``LIST`` → ``OK <n>`` then n lines ``<port> <service> <user>``. Its
    codec is `mountcomm.registry.nscl`.
portpicker port server
    ``<pid>`` → ``<port>``; a refusal gets no answer (the daemon closes the
    connection, as portserver does, and the client sees no port).

The request parsers of every dialect never raise: a malformed line gives a
`BadRequest` that carries what was expected and what arrived (and the request
id when it could be read), so that every bad request gets an error reply.
`LineSplitter` bounds the length of a line, hence the memory one connection
may hold.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "BadRequest",
    "Dialect",
    "LineSplitter",
    "LineTooLong",
    "PidRequest",
    "RequestId",
    "detect_dialect",
    "parse_pid",
    "pid_reply",
]

import enum
import re
from dataclasses import dataclass

from ..protocol import lines

DEFAULT_MAX_LINE_BYTES = 4096
"""Longest request line the daemon accepts, terminator excluded [bytes]."""

_SAMPLE_BYTES = 80
_PID_LINE = re.compile(rb"\s*[-+]?[0-9]{1,20}\s*")

RequestId = int | str | None
"""The ``id`` of a native request, echoed in its reply (`None` if absent)."""


class Dialect(enum.Enum):
    """The language of one connection, chosen by its first line."""

    NATIVE = "native"
    NSCL = "nscl"
    PORTPICKER = "portpicker"


def detect_dialect(line: bytes) -> Dialect:
    """Choose the dialect from the first line of a connection.

    A line starting with ``{`` is native; a line holding only an integer is a
    portpicker pid; anything else is read as NSCL text (whose parser answers
    ``FAIL`` to what it does not know).
    """
    if line.lstrip().startswith(b"{"):
        return Dialect.NATIVE
    if _PID_LINE.fullmatch(line):
        return Dialect.PORTPICKER
    return Dialect.NSCL


# ---- framing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineTooLong:
    """A line exceeded the limit; returned by `LineSplitter.feed` in its place.

    Attributes
    ----------
    prefix : `bytes`
        The first bytes of the line (at most 80), to log and to pick a dialect.
    limit : `int`
        The limit it exceeded [bytes].
    """

    prefix: bytes
    limit: int

    @property
    def message(self) -> str:
        """Human-readable description."""
        return f"request line longer than {self.limit} bytes"


class LineSplitter:
    """Split a byte stream into lines, holding at most ``max_line_bytes`` + 1 bytes.

    A line longer than the limit comes out as a `LineTooLong` in its place and
    the splitter skips to the next newline. Built on
    `mountcomm.protocol.lines.LineSplitter`: linear in the bytes fed, however
    they are chunked.

    Parameters
    ----------
    max_line_bytes : `int`
        Longest line accepted, terminator excluded [bytes].
    """

    __slots__ = ("_lines", "max_line_bytes")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.max_line_bytes = max_line_bytes
        # + 1: room for a "\r" before the newline.
        self._lines = lines.LineSplitter(b"\n", max_line_bytes + 1)

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete line."""
        return self._lines.buffered

    @property
    def scanned_bytes(self) -> int:
        """Bytes searched for a newline so far (see `mountcomm.protocol.lines`)."""
        return self._lines.scanned_bytes

    def feed(self, data: bytes) -> list[bytes | LineTooLong]:
        """Add received bytes; return the lines they complete, in order.

        Lines are returned without ``"\\n"`` and without a ``"\\r"`` before it.
        """
        limit = self.max_line_bytes
        out: list[bytes | LineTooLong] = []
        for item in self._lines.feed(data):
            if isinstance(item, lines.LineOverflow):
                out.append(LineTooLong(item.prefix, limit))
                continue
            line = bytes(item[:-1] if item.endswith(b"\r") else item)
            out.append(line if len(line) <= limit else LineTooLong(line[:_SAMPLE_BYTES], limit))
        return out


# ---- requests ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PidRequest:
    """portpicker: a port for process ``pid``, held until that process dies."""

    pid: int


@dataclass(frozen=True, slots=True)
class BadRequest:
    """A line that is not a valid request (of any dialect).

    Attributes
    ----------
    message : `str`
        What was expected and what arrived.
    id : `int`, `str` or `None`
        The request id, if the line was a native JSON object with a usable one.
    """

    message: str
    id: RequestId = None


# ---- portpicker dialect -----------------------------------------------------------


def parse_pid(line: bytes) -> PidRequest | BadRequest:
    """Parse a portpicker request: a pid in ASCII decimal; never raises."""
    if not _PID_LINE.fullmatch(line):
        return BadRequest(f"expected a pid in decimal, got {line[:_SAMPLE_BYTES]!r}")
    return PidRequest(int(line))


def pid_reply(port: int) -> bytes:
    """Encode a portpicker reply: the port (the daemon never answers ``0``)."""
    return f"{port}\n".encode()
