"""What the registry's three dialects share, and the portpicker dialect. Pure.

The first line of a connection picks its dialect (`detect_dialect`): native
(one JSON object per line: `mountcomm.registry.native`), the NSCL port
manager's (``GIMME`` and ``LIST`` text lines: `mountcomm.registry.nscl`) or the
portpicker port server's (``<pid>`` → ``<port>``; a refusal gets no answer: the
daemon closes the connection, as portserver does, and the client sees no port).

Lines are split by `mountcomm.protocol.lines.LineSplitter` (``b"\\n"``, a
``"\\r"`` before it dropped), which bounds a line, hence the memory one
connection may hold, to `DEFAULT_MAX_LINE_BYTES` by default. The request
parsers of every dialect never raise: a malformed line gives a `BadRequest`
that carries what was expected and what arrived (and the request id when it
could be read), so that every bad request gets an error reply.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "BadRequest",
    "Dialect",
    "PidRequest",
    "RequestId",
    "detect_dialect",
    "parse_pid",
    "pid_reply",
]

import enum
import re
from dataclasses import dataclass

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
