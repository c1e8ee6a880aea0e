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

Each message is a dataclass whose field declarations are its wire form; its
encoder and decoder are generated from them on first use (`_compile`, as
`dataclasses` generates ``__init__``). A field's type says which JSON values it
takes (a port is in 0…65535, an id or user name at most 128 characters; one
that admits `None` may be ``null``); a field without a default is required,
one with a default is left out while at it (unless declared sent as ``null``).
The daemon refuses fields a request does not declare; a client ignores fields
it does not know. A bad field is a `ProtocolError` that names it.

``dict[str, Any]`` stays inside this module: what leaves it is a request, a
reply, an event or an exception. The request parser never raises (see
`mountcomm.registry.wire`): every bad request gets a refusal.
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
import functools
import json
import reprlib
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    NamedTuple,
    Self,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
)

from ..exceptions import (
    PoolExhaustedError,
    PortInUseError,
    ProtocolError,
    RegistryError,
    RegistryPermissionError,
    RegistryRequestError,
    UnknownPortError,
)
from .entries import MAX_NAME_LENGTH, EventKind, PortEntry, PortEvent, Query
from .wire import BadRequest, RequestId

_MAX_ID_LENGTH = 128
_MAX_TRUSTED_USERS = 64

T = TypeVar("T")


def _dump(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# ---- field declarations, and the one encoder and decoder they drive ----------------


@dataclass(frozen=True, slots=True)
class _Kind:
    """The JSON values a field takes: of ``types`` (``what``), passing ``ok`` (``rule``)."""

    what: str
    types: tuple[type, ...]  # exact: the types json gives (so a bool is no int)
    rule: str = ""
    ok: Callable[[Any], bool] | None = None
    read: Callable[[Any], Any] | None = None  # the field's value from the JSON one


_BASIC = {
    str: _Kind("a string", (str,)),
    int: _Kind("an integer", (int,)),
    bool: _Kind("a boolean", (bool,)),
    float: _Kind("a number", (float, int)),
}
_ID = _Kind(
    "an integer or a string",
    (int, str),
    f"a string of at most {_MAX_ID_LENGTH} characters",
    lambda rid: not isinstance(rid, str) or len(rid) <= _MAX_ID_LENGTH,
)
_SENT = "sent"
_INLINE = "inline"

_Port = Annotated[int, _Kind("an integer", (int,), "in 0…65535", lambda p: 0 <= p <= 65535)]
_WatchId = Annotated[int | str, _ID]
_UserNames = Annotated[
    tuple[str, ...],
    _Kind(
        "a list of user names",
        (list,),
        f"a list of at most {_MAX_TRUSTED_USERS} user names of 1…{MAX_NAME_LENGTH} characters",
        lambda users: (
            len(users) <= _MAX_TRUSTED_USERS
            and all(isinstance(u, str) and 0 < len(u) <= MAX_NAME_LENGTH for u in users)
        ),
        tuple,
    ),
]
_Sent = Annotated[T | None, _SENT]
"""Sent as ``null`` while `None` (a field at its default is otherwise left out)."""
_Inline = Annotated[T, _INLINE]
"""A message whose fields are sent among those of the message holding it."""


class _Field(NamedTuple):
    """How one field of a message travels, from its declaration (`_fields_of`)."""

    name: str
    kind: _Kind
    required: bool  # no default: always sent, and a message without it is refused
    nullable: bool  # its type admits None, sent as null
    default: Any
    sent: bool  # sent even while at its default
    message: type | None  # the class of a message sent as an object, else None
    inline: bool  # a message whose fields are sent among its holder's


def _declared(field: dataclasses.Field[Any], hint: Any) -> _Field:
    """How ``field`` travels; ``hint``: ``K`` or ``K | None``, `Annotated` or not."""
    marks: list[Any] = []
    nullable = False
    while True:
        if get_origin(hint) is Annotated:
            hint, *more = get_args(hint)
            marks += more
        elif get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint):
            (hint,) = (t for t in get_args(hint) if t is not type(None))
            nullable = True
        else:
            break
    kinds = [m for m in marks if isinstance(m, _Kind)]
    message = hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None
    if kinds:
        kind = kinds[0]
    elif message is not None:
        kind = _Kind("an object", (dict,), read=functools.partial(_decode, hint))
    else:
        kind = _BASIC[hint]
    required = field.default is dataclasses.MISSING
    sent, inline = _SENT in marks, _INLINE in marks
    return _Field(field.name, kind, required, nullable, field.default, sent, message, inline)


_FIELDS: dict[type, tuple[_Field, ...]] = {}


def _fields_of(cls: type) -> tuple[_Field, ...]:
    """The JSON fields of ``cls``, in order: not ``id`` (the envelope's) nor ``"wire": False``."""
    if cls not in _FIELDS:
        hints = get_type_hints(cls, include_extras=True)
        _FIELDS[cls] = tuple(
            _declared(f, hints[f.name])
            for f in dataclasses.fields(cls)
            if f.name != "id" and f.metadata.get("wire", True)
        )
    return _FIELDS[cls]


def _read(kind: _Kind, name: str, value: Any) -> Any:
    """JSON ``value`` read as a ``name`` of ``kind``, or `ProtocolError` (value shortened)."""
    if type(value) not in kind.types:
        raise ProtocolError(f"{name} must be {kind.what}, got {reprlib.repr(value)}")
    if kind.ok is not None and not kind.ok(value):
        raise ProtocolError(f"{name} must be {kind.rule}, got {reprlib.repr(value)}")
    return value if kind.read is None else kind.read(value)


class _Codec(NamedTuple):
    """The encoder and decoder of one message class, generated from its declarations."""

    encode: Callable[[Any], dict[str, Any]]
    decode: Callable[[Mapping[str, Any], dict[str, Any]], Any]


_CODECS: dict[type, _Codec] = {}
_ABSENT = object()


def _compile(cls: type) -> _Codec:
    """Straight-line ``encode`` and ``decode`` functions of ``cls`` (as dataclasses
    generate ``__init__``): what `_encode` and `_decode` run, field by field."""
    fields = _fields_of(cls)
    env: dict[str, Any] = {
        "cls": cls,
        "ABSENT": _ABSENT,
        "ProtocolError": ProtocolError,
        "read": _read,
        "required": frozenset(f.name for f in fields if f.required and not f.inline),
        "order": [f.name for f in fields if f.required and not f.inline],
    }
    enc = ["def encode_message(m):", "    obj = {}"]
    dec = [
        "def decode_message(obj, given):",
        "    if not required <= obj.keys():",
        "        raise ProtocolError(f'missing field(s) {[n for n in order if n not in obj]}')",
    ]
    for i, f in enumerate(fields):
        name, kind = f.name, f.kind
        env[f"default{i}"], env[f"kind{i}"], env[f"types{i}"] = f.default, kind, kind.types
        env[f"ok{i}"], env[f"read{i}"] = kind.ok, kind.read
        if f.message is not None:  # a message: its own generated functions
            env[f"encode{i}"], env[f"decode{i}"] = _codec(f.message)
        # encode: the field's JSON value, left out while at its default
        if f.inline:
            enc.append(f"    obj.update(encode{i}(m.{name}))")
        else:
            value = f"v if v is None else encode{i}(v)" if f.message else "v"
            enc.append(f"    v = m.{name}")
            if f.required or f.sent:
                enc.append(f"    obj[{name!r}] = {value}")
            else:
                enc += [f"    if v != default{i}:", f"        obj[{name!r}] = {value}"]
        # decode: a valid value is taken as it is; anything else goes to read() to be refused
        if f.inline:
            dec.append(f"    given[{name!r}] = decode{i}(obj, {{}})")
            continue
        valid = f"type(v) in types{i}" + (f" and ok{i}(v)" if kind.ok is not None else "")
        taken = f"decode{i}(v, {{}})" if f.message else "v" if kind.read is None else f"read{i}(v)"
        if f.nullable:
            taken, valid = f"None if v is None else {taken}", f"v is None or {valid}"
        dec += [f"    v = obj.get({name!r}, ABSENT)", "    if v is not ABSENT:"]
        dec.append(f"        given[{name!r}] = {taken} if {valid} else read(kind{i}, {name!r}, v)")
    enc.append("    return obj")
    dec.append("    return cls(**given)")
    exec("\n".join(enc + dec), env)  # built above from the declarations only
    return _Codec(env["encode_message"], env["decode_message"])


def _codec(cls: type) -> _Codec:
    """The generated functions of message class ``cls`` (made on first use)."""
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = _compile(cls)
    return codec


def _encode(message: Any) -> dict[str, Any]:
    """The JSON fields of ``message``: each in order, left out while at its default."""
    return _codec(type(message)).encode(message)


def _decode(cls: type[T], obj: Mapping[str, Any], **given: Any) -> T:
    """Message ``cls`` read from its JSON object ``obj``, or `ProtocolError` (see the module)."""
    return cast(T, _codec(cls).decode(obj, given))


class _Wire:
    """A message: a dataclass whose fields are its JSON fields (see the module docstring)."""

    __slots__ = ()

    def fields(self) -> dict[str, Any]:
        """The message's JSON fields, in order."""
        return _encode(self)

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> Self:
        """Read the message from its JSON object (other keys are ignored).

        Raises
        ------
        ProtocolError
            If a field is missing or not a valid value.
        """
        return _decode(cls, obj)


# ---- replies ----------------------------------------------------------------------


class Reply(_Wire):
    """A success reply's body: ``fields`` to encode it, ``decode`` to read it."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Done(Reply):
    """The reply of a request that returns nothing (``unwatch``, ``terminate``)."""


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
    local: _Sent[bool] = None
    user: _Sent[str] = None
    uid: _Sent[int] = None


@dataclass(frozen=True, slots=True)
class ClusterStatus(_Wire):
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
    entries: _Sent[int] = None
    cluster: _Sent[ClusterStatus] = None


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

    entry: _Inline[PortEntry]
    claimed_user: str | None = None


_ENTRY = _Kind("an entry (an object)", (dict,), read=EntryReply.decode)
_ENTRIES = _Kind("a list of entries", (list,))


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
        """The JSON fields: ``entries``, each an `EntryReply`'s."""
        claimed = self.claimed_users or (None,) * len(self.entries)
        pairs = zip(self.entries, claimed, strict=True)
        return {"entries": [EntryReply(e, c).fields() for e, c in pairs]}

    @classmethod
    def decode(cls, obj: Mapping[str, Any]) -> Self:
        """Read the reply from its JSON object (see `Reply.decode`)."""
        items = _read(_ENTRIES, "entries", obj.get("entries", []))
        entry = _codec(EntryReply).decode  # (anything but an object: refused by _read)
        replies = [
            entry(item, {}) if type(item) is dict else _read(_ENTRY, "entry", item)
            for item in items
        ]
        claimed = tuple(r.claimed_user for r in replies)
        return cls(tuple(r.entry for r in replies), claimed if any(claimed) else ())


# ---- requests ---------------------------------------------------------------------

R = TypeVar("R", bound=Reply)


class Request(_Wire, Generic[R]):
    """A native request whose success reply is an ``R``.

    Subclasses are frozen dataclasses whose fields are the request's JSON
    fields (``id`` aside: it is sent after ``op``); fields without a default
    are required. The base names the reply class: ``Allocate(Request[EntryReply])``.
    """

    __slots__ = ()

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    OP: ClassVar[str]
    """The request's ``op``."""
    REPLY: ClassVar[type[Reply]]
    """The class of its success reply (``R``, read from the class's base)."""

    id: RequestId

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            if get_origin(base) is Request:
                (cls.REPLY,) = get_args(base)

    def read_reply(self, reply: Success) -> R:
        """The typed body of ``reply``, a success reply to this request.

        Raises
        ------
        ProtocolError
            If it is not a valid reply of this request's kind.
        """
        try:
            return cast(R, self.REPLY.decode(reply.body))
        except ProtocolError as e:
            raise ProtocolError(f"registry sent a bad {self.OP} reply: {e}") from e


@dataclass(frozen=True, slots=True)
class Ping(Request[PingReply]):
    """Is the daemon there, and who does it think I am?"""

    OP = "ping"
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Allocate(Request[EntryReply]):
    """Hand out a port of the pool (native ``allocate``, NSCL ``GIMME``)."""

    OP = "allocate"
    service: str
    user: str | None = None
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Register(Request[EntryReply]):
    """Advertise a port the client has already bound."""

    OP = "register"
    service: str
    port: _Port
    user: str | None = None
    id: RequestId = None
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Release(Request[EntryReply]):
    """Give back a port this connection holds."""

    OP = "release"
    port: _Port
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class ListPorts(Request[EntriesReply]):
    """List every entry (native ``list``, NSCL ``LIST``)."""

    OP = "list"
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class _Lookup(Request[EntriesReply]):
    """The criteria of `Find` and `Watch`."""

    service: str | None = None
    beginswith: str | None = None
    user: str | None = None
    id: RequestId = None

    @property
    def query(self) -> Query:
        """The criteria as a `Query`."""
        return Query(self.service, self.beginswith, self.user)


@dataclass(frozen=True, slots=True)
class Find(_Lookup):
    """List the entries matching every given criterion."""

    OP = "find"


@dataclass(frozen=True, slots=True)
class Watch(_Lookup):
    """Reply with the matching entries, then push every matching change.

    The request id names the watch in the events and in `Unwatch`. With
    ``trusted_users`` (a tuple, maybe empty) only entries whose verified owner
    is the watcher's own user, root, or one of those users match: the trust
    model of lookups made in order to connect. `None`: entries of every owner.
    """

    OP = "watch"
    trusted_users: _UserNames | None = None


@dataclass(frozen=True, slots=True)
class Unwatch(Request[Done]):
    """Stop the watch whose request id was ``watch``."""

    OP = "unwatch"
    watch: _WatchId
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Status(Request[StatusReply]):
    """Report the daemon's state, including its cluster view's (stale or not)."""

    OP = "status"
    id: RequestId = None


@dataclass(frozen=True, slots=True)
class Terminate(Request[Done]):
    """Shut the daemon down."""

    OP = "terminate"
    id: RequestId = None


NativeRequest = (
    Ping | Allocate | Register | Release | ListPorts | Find | Watch | Unwatch | Status | Terminate
)
"""A request of the native dialect (each has an ``id``)."""

REQUESTS: dict[str, type[NativeRequest]] = {cls.OP: cls for cls in get_args(NativeRequest)}
"""Native operations: op → request class (its fields: the op's fields, id aside)."""


def encode_request(request: Request[Any]) -> bytes:
    """The request line of ``request``: op, id, then its fields that are not `None`."""
    return _dump({"op": request.OP, "id": request.id, **request.fields()})


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
    try:
        rid = None if rid is None else _read(_ID, "id", rid)
    except ProtocolError as e:
        return BadRequest(str(e))
    op = obj.pop("op", None)
    if not isinstance(op, str) or op not in REQUESTS:
        return BadRequest(f"unknown op {reprlib.repr(op)}; expected one of {sorted(REQUESTS)}", rid)
    names = [f.name for f in _fields_of(REQUESTS[op])]
    unknown = sorted(set(obj) - set(names))
    if unknown:
        return BadRequest(f"{op}: unknown field(s) {unknown}; expected {names}", rid)
    try:
        return _decode(REQUESTS[op], obj, id=rid)
    except ProtocolError as e:
        return BadRequest(f"{op}: {e}", rid)


# ---- the daemon's answers ---------------------------------------------------------


def encode_reply(rid: RequestId, reply: Reply) -> bytes:
    """The success reply line of request ``rid``."""
    return _dump({"id": rid, "ok": True, **reply.fields()})


def encode_refusal(rid: RequestId, code: str, message: str) -> bytes:
    """The refusal line of request ``rid`` (``code``: a `RegistryError` code)."""
    return _dump({"id": rid, "ok": False, "error": code, "message": message})


def encode_event(watch: RequestId, event: PortEvent) -> bytes:
    """The line of an event of the watch started by request ``watch``."""
    return _dump({"watch": watch, "event": event.kind.value, **_encode(event.entry)})


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


_KINDS = [kind.value for kind in EventKind]
_EVENT = _Kind("a string", (str,), f"one of {_KINDS}", _KINDS.__contains__, EventKind)


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
        try:
            kind = _read(_EVENT, "event", obj["event"])
            return WatchEvent(obj.get("watch"), PortEvent.of(kind, _decode(PortEntry, obj)))
        except ProtocolError as e:
            raise ProtocolError(f"registry sent a bad event: {e}", line[:80]) from e
    rid = obj.get("id")
    if not obj.get("ok"):
        code = str(obj.get("error", RegistryError.code))
        return Refusal(rid, code, str(obj.get("message", code)))
    return Success(rid, obj)
