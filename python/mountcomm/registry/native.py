"""The registry's native dialect, typed on both ends. Pure: values in, bytes out, and back.

One JSON object per line. The daemon parses a request line with
`parse_request` and answers with `encode_reply` or `encode_refusal`, and
pushes watch events with `encode_event`; a client sends a request with
`encode_request` and reads each line the daemon sends with `read_message`.
Both ends use the same classes:

requests
    `Ping`, `Allocate`, `Register`, `Release`, `ListPorts`, `Find`, `Watch`,
    `Unwatch`, `Status`, `Terminate`; on the wire ``{"op": OP, "id": ID,
    FIELD: VALUE...}`` (fields that are `None` left out). Each class names its
    ``op`` and the class of its reply.
replies
    `PingReply`, `StatusReply` (with a `ClusterStatus`), `EntryReply`,
    `EntriesReply`, `Done`; on the wire ``{"id": ID, "ok": true, FIELD:
    VALUE...}``. A refusal is ``{"id": ID, "ok": false, "error": CODE,
    "message": TEXT}`` (`Refusal`), ``CODE`` naming a `RegistryError` subclass.
events
    ``{"watch": ID, "event": "added"|"removed", "port": P, "service": S,
    "user": U}`` (and ``"host"`` if set), read as a `WatchEvent`.

``dict[str, Any]`` stays inside this module: what leaves it is a request, a
reply, an event or an exception. The request parser never raises: a
malformed line gives a `BadRequest` that says what was expected and what
arrived (with the request id when it could be read), so that every bad
request gets a refusal.
"""

from __future__ import annotations

__all__ = [
    "REQUESTS",
    "Allocate",
    "ClusterStatus",
    "Done",
    "EntriesReply",
    "EntryReply",
    "Find",
    "ListPorts",
    "Message",
    "NativeRequest",
    "Ping",
    "PingReply",
    "Refusal",
    "Register",
    "Release",
    "Reply",
    "Request",
    "Status",
    "StatusReply",
    "Success",
    "Terminate",
    "Unwatch",
    "Watch",
    "WatchEvent",
    "encode_event",
    "encode_refusal",
    "encode_reply",
    "encode_request",
    "parse_request",
    "read_message",
]

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

from ..exceptions import (
    PoolExhaustedError,
    PortInUseError,
    ProtocolError,
    RegistryError,
    RegistryPermissionError,
    RegistryRequestError,
    UnknownPortError,
)
from .entries import EventKind, PortEntry, PortEvent, Query
from .wire import BadRequest, RequestId

_SAMPLE_BYTES = 80
_MAX_ID_LENGTH = 128
_MAX_TRUSTED_USERS = 64


def _dump(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _get(obj: Mapping[str, Any], name: str, *types: type) -> Any:
    """``obj[name]`` if it is of one of ``types`` (not a bool posing as an int), or `None`."""
    value = obj.get(name)
    if value is None:
        return None
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise ProtocolError(f"registry sent {name}={value!r}: expected {types[0].__name__}")
    return value


# ---- replies ----------------------------------------------------------------------


class Reply:
    """A success reply's body: ``fields`` to encode it, ``decode`` to read it."""

    __slots__ = ()

    def fields(self) -> dict[str, Any]:
        """The reply's JSON fields, after ``id`` and ``ok``."""
        raise NotImplementedError

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> Reply:
        """Read the reply from its JSON object.

        Raises
        ------
        ProtocolError
            If a field is missing or of the wrong type.
        """
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Done(Reply):
    """The reply of a request that returns nothing (``unwatch``, ``terminate``)."""

    def fields(self) -> dict[str, Any]:
        return {}

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> Done:
        return cls()


@dataclass(frozen=True, slots=True)
class PingReply(Reply):
    """What the daemon says about itself and the caller.

    Attributes
    ----------
    version : `str` or `None`
        The daemon's mountcomm version.
    pid : `int` or `None`
        The daemon's process id.
    local : `bool` or `None`
        True if the caller is on the daemon's host.
    user : `str` or `None`
        Who the daemon thinks the caller is (`None`: it cannot tell).
    uid : `int` or `None`
        The caller's verified uid (`None`: unknown).
    """

    version: str | None = None
    pid: int | None = None
    local: bool | None = None
    user: str | None = None
    uid: int | None = None

    def fields(self) -> dict[str, Any]:
        # version and pid describe the daemon: left out when it does not say
        daemon = {"version": self.version, "pid": self.pid}
        fields = {k: v for k, v in daemon.items() if v is not None}
        return {**fields, "local": self.local, "user": self.user, "uid": self.uid}

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> PingReply:
        return cls(
            _get(obj, "version", str),
            _get(obj, "pid", int),
            _get(obj, "local", bool),
            _get(obj, "user", str),
            _get(obj, "uid", int),
        )


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """The state of a daemon's link to its etcd cluster.

    Attributes
    ----------
    endpoints : `str`
        The etcd endpoints (``etcd://…`` as given).
    endpoint : `str`
        The endpoint in use (or last tried), ``host:port``.
    stale : `bool`
        True while no etcd session runs: the cluster view may be out of date.
    stale_since : `float` or `None`
        When the view went stale [s since the epoch].
    error : `str` or `None`
        Why the last session ended (or none started yet).
    daemon : `str`
        This daemon's id in its records.
    advertise_host : `str`
        The host written in this daemon's records.
    lease : `str` or `None`
        The current lease id, hexadecimal.
    ttl : `float`
        The lease's time to live [s].
    revision : `int`
        etcd revision the cluster view is at.
    published : `int`
        Local entries the daemon wants in etcd.
    unpublished : `int`
        Changes not yet acknowledged by etcd.
    remote_entries : `int`
        Entries of other daemons in the view.
    sessions : `int`
        etcd sessions started so far.
    resyncs : `int`
        Full resynchronisations of the view so far.
    """

    endpoints: str
    endpoint: str
    stale: bool
    stale_since: float | None
    error: str | None
    daemon: str
    advertise_host: str
    lease: str | None
    ttl: float
    revision: int
    published: int
    unpublished: int
    remote_entries: int
    sessions: int
    resyncs: int

    def fields(self) -> dict[str, Any]:
        """The JSON form (every field, in order)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def decode(cls, obj: object) -> ClusterStatus:
        """Read it from its JSON form (a missing field reads as `None`).

        Raises
        ------
        ProtocolError
            If ``obj`` is not a JSON object.
        """
        if not isinstance(obj, dict):
            raise ProtocolError(f"registry sent cluster={obj!r}: expected an object")
        values: dict[str, Any] = {f.name: obj.get(f.name) for f in dataclasses.fields(cls)}
        return cls(**values)


@dataclass(frozen=True, slots=True)
class StatusReply(Reply):
    """The daemon's state.

    Attributes
    ----------
    version : `str` or `None`
        The daemon's mountcomm version.
    pid : `int` or `None`
        The daemon's process id.
    entries : `int` or `None`
        How many entries the daemon holds itself.
    cluster : `ClusterStatus` or `None`
        Its link to the cluster; `None` if the daemon is not in a cluster.
    """

    version: str | None = None
    pid: int | None = None
    entries: int | None = None
    cluster: ClusterStatus | None = None

    def fields(self) -> dict[str, Any]:
        daemon = {"version": self.version, "pid": self.pid}
        fields = {k: v for k, v in daemon.items() if v is not None}
        cluster = None if self.cluster is None else self.cluster.fields()
        return {**fields, "entries": self.entries, "cluster": cluster}

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> StatusReply:
        cluster = obj.get("cluster")
        return cls(
            _get(obj, "version", str),
            _get(obj, "pid", int),
            _get(obj, "entries", int),
            None if cluster is None else ClusterStatus.decode(cluster),
        )


def _entry_fields(entry: PortEntry, claimed_user: str | None) -> dict[str, Any]:
    fields = entry.as_dict()
    if claimed_user is not None:
        fields["claimed_user"] = claimed_user
    return fields


def _entry(obj: object) -> tuple[PortEntry, str | None]:
    """An entry and its claimed user from their JSON form."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected an entry with port, service and user, got {obj!r}")
    try:
        port, service, user = obj["port"], obj["service"], obj["user"]
    except KeyError:
        raise ProtocolError(f"expected an entry with port, service and user, got {obj!r}") from None
    if isinstance(port, bool) or not isinstance(port, int):
        raise ProtocolError(f"entry port must be an integer, got {port!r}")
    if not isinstance(service, str) or not isinstance(user, str):
        raise ProtocolError(f"entry service and user must be strings, got {obj!r}")
    host = obj.get("host", "")
    if not isinstance(host, str):
        raise ProtocolError(f"entry host must be a string, got {host!r}")
    return PortEntry(port, service, user, host), _get(obj, "claimed_user", str)


@dataclass(frozen=True, slots=True)
class EntryReply(Reply):
    """The entry an ``allocate``, ``register`` or ``release`` concerned.

    Attributes
    ----------
    entry : `PortEntry`
        The entry (the service with the suffix the daemon gave it).
    claimed_user : `str` or `None`
        The user the request claimed, where it differs from the verified owner.
    """

    entry: PortEntry
    claimed_user: str | None = None

    def fields(self) -> dict[str, Any]:
        return _entry_fields(self.entry, self.claimed_user)

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> EntryReply:
        return cls(*_entry(obj))


@dataclass(frozen=True, slots=True)
class EntriesReply(Reply):
    """The entries a ``list``, ``find`` or ``watch`` answers with, sorted by port.

    Attributes
    ----------
    entries : `tuple` [`PortEntry`, ...]
        The entries.
    claimed_users : `tuple` [`str` or `None`, ...]
        For each entry, the user its request claimed where that differs from
        the verified owner (`None` otherwise); empty: none differs.
    """

    entries: tuple[PortEntry, ...] = ()
    claimed_users: tuple[str | None, ...] = ()

    def fields(self) -> dict[str, Any]:
        claimed = self.claimed_users or (None,) * len(self.entries)
        return {
            "entries": [_entry_fields(e, c) for e, c in zip(self.entries, claimed, strict=True)]
        }

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> EntriesReply:
        items = obj.get("entries", ())
        if not isinstance(items, (list, tuple)):
            raise ProtocolError(f"registry sent entries={items!r}: expected a list")
        pairs = [_entry(item) for item in items]
        claimed = tuple(c for _, c in pairs)
        return cls(tuple(e for e, _ in pairs), claimed if any(claimed) else ())


# ---- requests ---------------------------------------------------------------------

R = TypeVar("R", bound=Reply)


class Request(Generic[R]):
    """A native request whose success reply is an ``R``.

    Subclasses are frozen dataclasses whose fields are the request's JSON
    fields (``id`` excluded from the fields a request may carry); fields
    without a default are required.
    """

    __slots__ = ()

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    OP: ClassVar[str]
    """The request's ``op``."""
    REPLY: ClassVar[type[Reply]]
    """The class of its success reply (``R``)."""

    id: RequestId

    def read_reply(self, reply: Success) -> R:
        """The typed body of ``reply``, a success reply to this request.

        Raises
        ------
        ProtocolError
            If it is not a valid reply of this request's kind.
        """
        return cast(R, self.REPLY.decode(reply.body))


@dataclass(frozen=True, slots=True)
class Ping(Request[PingReply]):
    """Is the daemon there, and who does it think I am?"""

    OP = "ping"
    REPLY = PingReply
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Allocate(Request[EntryReply]):
    """Hand out a port of the pool (native ``allocate``, NSCL ``GIMME``)."""

    OP = "allocate"
    REPLY = EntryReply
    service: str
    user: str | None = None
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Register(Request[EntryReply]):
    """Advertise a port the client has already bound."""

    OP = "register"
    REPLY = EntryReply
    service: str
    port: int
    user: str | None = None
    id: RequestId = None
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Release(Request[EntryReply]):
    """Give back a port this connection holds."""

    OP = "release"
    REPLY = EntryReply
    port: int
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class ListPorts(Request[EntriesReply]):
    """List every entry (native ``list``, NSCL ``LIST``)."""

    OP = "list"
    REPLY = EntriesReply
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Find(Request[EntriesReply]):
    """List the entries matching every given criterion."""

    OP = "find"
    REPLY = EntriesReply
    service: str | None = None
    beginswith: str | None = None
    user: str | None = None
    id: RequestId = None

    @property
    def query(self) -> Query:
        """The criteria as a `Query`."""
        return Query(self.service, self.beginswith, self.user)


@dataclass(frozen=True, slots=True)
class Watch(Request[EntriesReply]):
    """Reply with the matching entries, then push every matching change.

    The request id names the watch in the events and in `Unwatch`. With
    ``trusted_users`` (a tuple, maybe empty) only entries whose verified owner
    is the watcher's own user, root, or one of those users match: the trust
    model of lookups made in order to connect. `None`: entries of every owner.
    """

    OP = "watch"
    REPLY = EntriesReply
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
class Unwatch(Request[Done]):
    """Stop the watch whose request id was ``watch``."""

    OP = "unwatch"
    REPLY = Done
    watch: int | str
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Status(Request[StatusReply]):
    """Report the daemon's state, including its cluster view's (stale or not)."""

    OP = "status"
    REPLY = StatusReply
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Terminate(Request[Done]):
    """Shut the daemon down."""

    OP = "terminate"
    REPLY = Done
    id: RequestId = None


NativeRequest = (
    Ping | Allocate | Register | Release | ListPorts | Find | Watch | Unwatch | Status | Terminate
)
"""A request of the native dialect (each has an ``id``)."""

REQUESTS: dict[str, type[NativeRequest]] = {
    cls.OP: cls
    for cls in (
        Ping,
        Allocate,
        Register,
        Release,
        ListPorts,
        Find,
        Watch,
        Unwatch,
        Status,
        Terminate,
    )
}
"""Native operations: op → request class (its fields: the op's fields, id aside)."""


def _field_names(cls: type[NativeRequest]) -> tuple[list[str], list[str]]:
    """The required and the optional fields of a request class, ``id`` aside."""
    required: list[str] = []
    optional: list[str] = []
    for f in dataclasses.fields(cls):
        if f.name != "id":
            has_default = f.default is not dataclasses.MISSING
            (optional if has_default else required).append(f.name)
    return required, optional


_FIELDS = {op: _field_names(cls) for op, cls in REQUESTS.items()}
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


def encode_request(request: Request[Any]) -> bytes:
    """The request line of ``request``: op, id, then its fields that are not `None`."""
    obj: dict[str, Any] = {"op": request.OP, "id": request.id}
    for f in dataclasses.fields(request):
        value = getattr(request, f.name)
        if f.name != "id" and value is not None:
            obj[f.name] = list(value) if isinstance(value, tuple) else value
    return _dump(obj)


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, _ID_TYPES):
        return False
    return not (isinstance(value, str) and len(value) > _MAX_ID_LENGTH)


def _type_name(types: tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", list: "a list of user names"}
    return " or ".join(names[t] for t in types)


def _check_field(op: str, name: str, value: Any) -> str | None:
    """Why ``value`` is not a valid ``name`` of ``op``, or `None` if it is."""
    types = _FIELD_TYPES[name]
    if isinstance(value, bool) or not isinstance(value, types):
        return f"{op}: {name} must be {_type_name(types)}, got {value!r}"
    if name == "port" and not 0 <= cast(int, value) <= 65535:
        return f"{op}: port must be in 0…65535, got {value}"
    if name == "watch" and not _valid_id(value):
        return f"{op}: watch must be a request id"
    users = cast(list[Any], value)
    if name == "trusted_users" and (
        len(users) > _MAX_TRUSTED_USERS
        or not all(isinstance(u, str) and 0 < len(u) <= _MAX_ID_LENGTH for u in users)
    ):
        return (
            f"{op}: trusted_users must be a list of at most {_MAX_TRUSTED_USERS} "
            f"user names of 1…{_MAX_ID_LENGTH} characters"
        )
    return None


def parse_request(line: bytes) -> NativeRequest | BadRequest:
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
    if not isinstance(op, str) or op not in REQUESTS:
        shown = op if not isinstance(op, str) else op[:_SAMPLE_BYTES]
        return BadRequest(f"unknown op {shown!r}; expected one of {sorted(REQUESTS)}", rid)
    required, optional = _FIELDS[op]
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        return BadRequest(
            f"{op}: unknown field(s) {unknown}; expected {[*required, *optional]}", rid
        )
    missing = [name for name in required if name not in obj]
    if missing:
        return BadRequest(f"{op}: missing field(s) {missing}", rid)
    for name, value in obj.items():
        problem = _check_field(op, name, value)
        if problem is not None:
            return BadRequest(problem, rid)
    if "trusted_users" in obj:
        obj["trusted_users"] = tuple(obj["trusted_users"])
    return REQUESTS[op](id=rid, **obj)


# ---- the daemon's answers ---------------------------------------------------------


def encode_reply(rid: RequestId, reply: Reply) -> bytes:
    """The success reply line of request ``rid``."""
    return _dump({"id": rid, "ok": True, **reply.fields()})


def encode_refusal(rid: RequestId, code: str, message: str) -> bytes:
    """The refusal line of request ``rid`` (``code``: a `RegistryError` code)."""
    return _dump({"id": rid, "ok": False, "error": code, "message": message})


def encode_event(watch: RequestId, event: PortEvent) -> bytes:
    """The line of an event of the watch started by request ``watch``."""
    obj = {
        "watch": watch,
        "event": event.kind.value,
        "port": event.port,
        "service": event.service,
        "user": event.user,
    }
    if event.host:
        obj["host"] = event.host
    return _dump(obj)


# ---- what a client reads ----------------------------------------------------------

_ERRORS: dict[str, type[RegistryError]] = {
    cls.code: cls
    for cls in (
        RegistryRequestError,
        RegistryPermissionError,
        PoolExhaustedError,
        PortInUseError,
        UnknownPortError,
    )
}


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A line that reports a change to a watch.

    Attributes
    ----------
    watch : `int`, `str` or `None`
        The id of the request that started the watch.
    event : `PortEvent`
        The change.
    """

    watch: RequestId
    event: PortEvent


@dataclass(frozen=True, slots=True)
class Success:
    """A success reply, before the request it answers reads it (`read_reply`).

    Attributes
    ----------
    id : `int`, `str` or `None`
        The id of the request it answers.
    body : mapping
        The reply's JSON object, for `read_reply` (the codec's own business).
    """

    id: RequestId
    body: Mapping[str, Any] = dataclasses.field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal: the daemon did not do what was asked.

    Attributes
    ----------
    id : `int`, `str` or `None`
        The id of the request it answers.
    code : `str`
        The error code (a `RegistryError` subclass's ``code``).
    message : `str`
        Why.
    """

    id: RequestId
    code: str
    message: str

    def exception(self) -> RegistryError:
        """The `RegistryError` subclass its code names (the base class if unknown)."""
        return _ERRORS.get(self.code, RegistryError)(self.message)


Message = WatchEvent | Success | Refusal
"""A line the daemon sends a native client."""


def _event(obj: Mapping[str, Any]) -> PortEvent:
    kind = obj.get("event")
    if kind not in ("added", "removed"):
        raise ProtocolError(f"expected event 'added' or 'removed', got {kind!r}")
    entry, _ = _entry(obj)
    return PortEvent.of(EventKind(kind), entry)


def read_message(line: bytes) -> Message:
    """Read a line the daemon sent to a native client: a reply or an event.

    Raises
    ------
    ProtocolError
        If it is not a JSON object, or not a valid event.
    """
    try:
        obj = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"registry sent a line that is not JSON: {e}", line[:80]) from None
    if not isinstance(obj, dict):
        raise ProtocolError("registry sent JSON that is not an object", line[:80])
    if "event" in obj:
        return WatchEvent(obj.get("watch"), _event(obj))
    rid = obj.get("id")
    if not obj.get("ok"):
        code = str(obj.get("error", RegistryError.code))
        return Refusal(rid, code, str(obj.get("message", code)))
    return Success(rid, obj)
