"""Line codecs of the registry's three dialects. Pure: bytes in, values out.

Every dialect is line based (``"\\n"``, an optional ``"\\r"`` before it is
dropped). The first line of a connection picks the dialect (`detect_dialect`):

native
    One JSON object per line. Request ``{"op": OP, "id": ID, ...}``; reply
    ``{"id": ID, "ok": true, ...}`` or ``{"id": ID, "ok": false, "error": CODE,
    "message": TEXT}``; watch events ``{"watch": ID, "event": "added"|"removed",
    "port": P, "service": S, "user": U}``. See `NATIVE_OPS` for the fields.
NSCL port manager
    ``GIMME <service> <user>`` → ``OK <port>`` or ``FAIL <reason>``;
    ``LIST`` → ``OK <n>`` then n lines ``<port> <service> <user>``. Its
    codec is `mountcomm.registry.nscl`; this module holds the request types.
portpicker port server
    ``<pid>`` → ``<port>``; a refusal gets no answer (the daemon closes the
    connection, as portserver does, and the client sees no port).

The request parsers never raise: a malformed line gives a `BadRequest` that
carries what was expected and what arrived (and the request id when it could be
read), so that every bad request gets an error reply. Lines are split by
`mountcomm.protocol.lines.LineSplitter` (``b"\\n"``, a ``"\\r"`` before it
dropped), which bounds the length of a line, hence the memory one connection
may hold, to `DEFAULT_MAX_LINE_BYTES` by default.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "NATIVE_OPS",
    "Allocate",
    "BadRequest",
    "Dialect",
    "Find",
    "ListPorts",
    "NativeRequest",
    "PidRequest",
    "Ping",
    "Register",
    "Release",
    "Request",
    "RequestId",
    "Status",
    "Terminate",
    "Unwatch",
    "Watch",
    "detect_dialect",
    "entry_from_wire",
    "event_from_wire",
    "native_error",
    "native_event",
    "native_ok",
    "native_request",
    "parse_native",
    "parse_native_message",
    "parse_pid",
    "pid_reply",
]

import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from ..exceptions import ProtocolError
from .entries import PortEntry, PortEvent, Query

DEFAULT_MAX_LINE_BYTES = 4096
"""Longest request line the daemon accepts, terminator excluded [bytes]."""

_SAMPLE_BYTES = 80
_MAX_ID_LENGTH = 128
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
class Ping:
    """Is the daemon there, and who does it think I am?"""

    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Allocate:
    """Hand out a port of the pool (native ``allocate``, NSCL ``GIMME``)."""

    service: str
    user: str | None = None
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Register:
    """Advertise a port the client has already bound."""

    service: str
    port: int
    user: str | None = None
    id: RequestId = None
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """Give back a port this connection holds."""

    port: int
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class ListPorts:
    """List every entry (native ``list``, NSCL ``LIST``)."""

    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Find:
    """List the entries matching every given criterion."""

    service: str | None = None
    beginswith: str | None = None
    user: str | None = None
    id: RequestId = None

    @property
    def query(self) -> Query:
        """The criteria as a `Query`."""
        return Query(self.service, self.beginswith, self.user)


@dataclass(frozen=True, slots=True)
class Watch:
    """Reply with the matching entries, then push every matching change.

    The request id names the watch in the events and in `Unwatch`. With
    ``trusted_users`` (a tuple, maybe empty) only entries whose verified owner
    is the watcher's own user, root, or one of those users match: the trust
    model of lookups made in order to connect. `None`: entries of every owner.
    """

    service: str | None = None
    beginswith: str | None = None
    user: str | None = None
    id: RequestId = None
    trusted_users: tuple[str, ...] | None = None

    @property
    def query(self) -> Query:
        """The criteria as a `Query`."""
        return Query(self.service, self.beginswith, self.user)


@dataclass(frozen=True, slots=True)
class Unwatch:
    """Stop the watch whose request id was ``watch``."""

    watch: int | str
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Status:
    """Report the daemon's state, including its cluster view's (stale or not)."""

    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Terminate:
    """Shut the daemon down."""

    id: RequestId = None


@dataclass(frozen=True, slots=True)
class PidRequest:
    """portpicker: a port for process ``pid``, held until that process dies."""

    pid: int


NativeRequest = (
    Ping | Allocate | Register | Release | ListPorts | Find | Watch | Unwatch | Status | Terminate
)
"""A request of the native dialect (each has an ``id``)."""

Request = NativeRequest | PidRequest
"""Any parsed request."""


@dataclass(frozen=True, slots=True)
class BadRequest:
    """A line that is not a valid request.

    Attributes
    ----------
    message : `str`
        What was expected and what arrived.
    id : `int`, `str` or `None`
        The request id, if the line was a JSON object with a usable one.
    """

    message: str
    id: RequestId = None


# ---- native dialect ---------------------------------------------------------------

_ID_TYPES = (int, str)
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "service": (str,),
    "beginswith": (str,),
    "user": (str,),
    "host": (str,),
    "port": (int,),
    "watch": _ID_TYPES,
    "trusted_users": (list,),
}
_MAX_TRUSTED_USERS = 64

NATIVE_OPS: dict[str, tuple[Callable[..., NativeRequest], tuple[str, ...], tuple[str, ...]]] = {
    "ping": (Ping, (), ()),
    "allocate": (Allocate, ("service",), ("user",)),
    "register": (Register, ("service", "port"), ("user", "host")),
    "release": (Release, ("port",), ()),
    "list": (ListPorts, (), ()),
    "find": (Find, (), ("service", "beginswith", "user")),
    "watch": (Watch, (), ("service", "beginswith", "user", "trusted_users")),
    "unwatch": (Unwatch, ("watch",), ()),
    "status": (Status, (), ()),
    "terminate": (Terminate, (), ()),
}
"""Native operations: op → (request class, required fields, optional fields)."""


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, _ID_TYPES):
        return False
    return not (isinstance(value, str) and len(value) > _MAX_ID_LENGTH)


def _type_name(types: tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", list: "a list of user names"}
    return " or ".join(names[t] for t in types)


def parse_native(line: bytes) -> NativeRequest | BadRequest:
    """Parse one native request line; never raises."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        return BadRequest(f"request is not valid UTF-8 ({e.reason} at byte {e.start})")
    except (ValueError, RecursionError) as e:
        return BadRequest(f"request is not valid JSON: {e}")
    if not isinstance(obj, dict):
        return BadRequest(f"expected a JSON object, got {type(obj).__name__}")
    rid = obj.pop("id", None)
    if rid is not None and not _valid_id(rid):
        return BadRequest(
            f"id must be an integer or a string of at most {_MAX_ID_LENGTH} characters"
        )
    op = obj.pop("op", None)
    spec = NATIVE_OPS.get(op) if isinstance(op, str) else None
    if spec is None:
        shown = op if not isinstance(op, str) else op[:_SAMPLE_BYTES]
        return BadRequest(f"unknown op {shown!r}; expected one of {sorted(NATIVE_OPS)}", rid)
    cls, required, optional = spec
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        return BadRequest(
            f"{op}: unknown field(s) {unknown}; expected {[*required, *optional]}", rid
        )
    missing = [name for name in required if name not in obj]
    if missing:
        return BadRequest(f"{op}: missing field(s) {missing}", rid)
    for name, value in obj.items():
        types = _FIELD_TYPES[name]
        if isinstance(value, bool) or not isinstance(value, types):
            return BadRequest(f"{op}: {name} must be {_type_name(types)}, got {value!r}", rid)
        if name == "port" and not 0 <= cast(int, value) <= 65535:
            return BadRequest(f"{op}: port must be in 0…65535, got {value}", rid)
        if name == "watch" and not _valid_id(value):
            return BadRequest(f"{op}: watch must be a request id", rid)
        if name == "trusted_users":
            users = cast(list[Any], value)
            if len(users) > _MAX_TRUSTED_USERS or not all(
                isinstance(u, str) and 0 < len(u) <= _MAX_ID_LENGTH for u in users
            ):
                return BadRequest(
                    f"{op}: trusted_users must be a list of at most {_MAX_TRUSTED_USERS} "
                    f"user names of 1…{_MAX_ID_LENGTH} characters",
                    rid,
                )
            obj[name] = tuple(users)
    return cls(id=rid, **obj)


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def native_request(op: str, rid: RequestId, **fields: Any) -> bytes:
    """Encode a native request; fields that are `None` are left out."""
    obj = {"op": op, "id": rid}
    obj.update((k, v) for k, v in fields.items() if v is not None)
    return _dump(obj)


def native_ok(rid: RequestId, **fields: Any) -> bytes:
    """Encode a success reply to request ``rid`` with extra ``fields``."""
    return _dump({"id": rid, "ok": True, **fields})


def native_error(rid: RequestId, code: str, message: str) -> bytes:
    """Encode a refusal of request ``rid`` (``code``: a `RegistryError` code)."""
    return _dump({"id": rid, "ok": False, "error": code, "message": message})


def native_event(watch: RequestId, event: PortEvent) -> bytes:
    """Encode an event of the watch started by request ``watch``."""
    return _dump(
        {
            "watch": watch,
            "event": event.kind,
            "port": event.port,
            "service": event.service,
            "user": event.user,
            **({"host": event.host} if event.host else {}),
        }
    )


def parse_native_message(line: bytes) -> dict[str, Any]:
    """Parse a line the daemon sent to a native client (a reply or an event).

    Raises
    ------
    ProtocolError
        If it is not a JSON object.
    """
    try:
        obj = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"registry sent a line that is not JSON: {e}", line[:80]) from None
    if not isinstance(obj, dict):
        raise ProtocolError("registry sent JSON that is not an object", line[:80])
    return obj


def entry_from_wire(obj: Any) -> PortEntry:
    """Build a `PortEntry` from its JSON form.

    Raises
    ------
    ProtocolError
        If a field is missing or of the wrong type.
    """
    try:
        port, service, user = obj["port"], obj["service"], obj["user"]
    except (KeyError, TypeError):
        raise ProtocolError(f"expected an entry with port, service and user, got {obj!r}") from None
    if isinstance(port, bool) or not isinstance(port, int):
        raise ProtocolError(f"entry port must be an integer, got {port!r}")
    if not isinstance(service, str) or not isinstance(user, str):
        raise ProtocolError(f"entry service and user must be strings, got {obj!r}")
    host = obj.get("host", "")
    if not isinstance(host, str):
        raise ProtocolError(f"entry host must be a string, got {host!r}")
    return PortEntry(port, service, user, host)


def event_from_wire(obj: dict[str, Any]) -> PortEvent:
    """Build a `PortEvent` from a watch event line's JSON object.

    Raises
    ------
    ProtocolError
        If it is not a valid event.
    """
    kind = obj.get("event")
    if kind not in ("added", "removed"):
        raise ProtocolError(f"expected event 'added' or 'removed', got {kind!r}")
    entry = entry_from_wire(obj)
    return PortEvent(kind, entry.port, entry.service, entry.user, host=entry.host)


# ---- portpicker dialect -----------------------------------------------------------


def parse_pid(line: bytes) -> PidRequest | BadRequest:
    """Parse a portpicker request: a pid in ASCII decimal; never raises."""
    if not _PID_LINE.fullmatch(line):
        return BadRequest(f"expected a pid in decimal, got {line[:_SAMPLE_BYTES]!r}")
    return PidRequest(int(line))


def pid_reply(port: int) -> bytes:
    """Encode a portpicker reply: the port (the daemon never answers ``0``)."""
    return f"{port}\n".encode()
