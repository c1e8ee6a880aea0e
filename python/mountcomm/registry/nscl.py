"""The NSCL port manager dialect of the registry: line codecs. Pure: bytes in, values out.

``GIMME <service> <user>`` → ``OK <port>`` or ``FAIL <reason>``; ``LIST`` →
``OK <n>`` then n lines ``<port> <service> <user>``, ordered by user, then
name. A reason with spaces is sent as one Tcl list element (``FAIL {no free
port}``), which is what the NSCL bindings parse. Replies end in ``"\r\n"``,
as the NSCL server's do. The request parser never raises (see
`mountcomm.registry.wire`).
"""

from __future__ import annotations

__all__ = [
    "LIST_REQUEST",
    "fail",
    "gimme",
    "list_reply",
    "ok",
    "parse_entry",
    "parse_reply",
    "parse_request",
]

from collections.abc import Iterable

from ..exceptions import ProtocolError
from .entries import PortEntry, validate_name
from .native import Allocate, ListPorts
from .wire import BadRequest

_TCL_SPECIAL = set(' \t"[]$;')

LIST_REQUEST = b"LIST\n"
"""The NSCL list request."""

_USAGE = "expected GIMME <service> <user> or LIST"


def parse_request(line: bytes) -> Allocate | ListPorts | BadRequest:
    """Parse one NSCL request line; never raises. Command words are case-insensitive."""
    try:
        words = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return BadRequest(f"request is not valid UTF-8; {_USAGE}")
    if not words:
        return BadRequest(f"empty request; {_USAGE}")
    command = words[0].upper()
    if command == "GIMME":
        if len(words) != 3:
            return BadRequest(f"GIMME takes a service and a user, got {len(words) - 1} word(s)")
        return Allocate(words[1], words[2])
    if command == "LIST":
        if len(words) != 1:
            return BadRequest("LIST takes no arguments")
        return ListPorts()
    return BadRequest(f"unknown request {words[0][:40]!r}; {_USAGE}")


def _tcl_element(text: str) -> str:
    """Quote ``text`` as one Tcl list element (braces if it needs them)."""
    text = " ".join(text.split())  # no newlines, single spaces
    text = text.replace("{", "(").replace("}", ")").replace("\\", "/")
    if not text or any(c in _TCL_SPECIAL for c in text):
        return "{" + text + "}"
    return text


def gimme(service: str, user: str) -> bytes:
    """Encode an NSCL allocation request.

    Raises
    ------
    RegistryRequestError
        If ``service`` or ``user`` is not a valid name (`validate_name`); a
        `ValueError`.
    """
    return f"GIMME {validate_name(service)} {validate_name(user, 'user')}\n".encode()


def ok(value: int) -> bytes:
    """Encode ``OK <value>\\r\\n`` (a port, or the count that starts a list)."""
    return f"OK {value}\r\n".encode()


def fail(reason: str) -> bytes:
    """Encode ``FAIL <reason>\\r\\n``, the reason as one Tcl list element."""
    return f"FAIL {_tcl_element(reason)}\r\n".encode()


def list_reply(entries: Iterable[PortEntry]) -> bytes:
    """Encode the reply to ``LIST``: ``OK <n>`` then one line per entry, in order.

    The caller orders the entries (the daemon: by user, then name).
    """
    items = list(entries)
    lines = [f"OK {len(items)}\r\n"]
    lines.extend(f"{e.port} {e.service} {e.user}\r\n" for e in items)
    return "".join(lines).encode()


def parse_reply(line: bytes) -> tuple[bool, str]:
    """Parse an ``OK <value>`` or ``FAIL <reason>`` line (client side).

    Returns
    -------
    ok : `bool`
        True for ``OK``.
    value : `str`
        The value after ``OK``, or the reason (braces removed) after ``FAIL``.

    Raises
    ------
    ProtocolError
        If the line is neither.
    """
    text = line.decode("utf-8", "replace").strip()
    status, _, rest = text.partition(" ")
    rest = rest.strip()
    if status == "OK" and rest:
        return True, rest
    if status == "FAIL":
        if rest.startswith("{") and rest.endswith("}"):
            rest = rest[1:-1]
        return False, rest
    raise ProtocolError(f"expected 'OK <value>' or 'FAIL <reason>', got {text[:80]!r}", line[:80])


def parse_entry(line: bytes) -> PortEntry:
    """Parse one ``<port> <service> <user>`` line of a ``LIST`` reply (client side).

    Raises
    ------
    ProtocolError
        If the line is not of that form.
    """
    words = line.decode("utf-8", "replace").split()
    if len(words) != 3 or not words[0].isdigit():
        raise ProtocolError(f"expected '<port> <service> <user>', got {line[:80]!r}", line[:80])
    return PortEntry(int(words[0]), words[1], words[2])
