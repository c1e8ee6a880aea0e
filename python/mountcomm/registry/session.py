"""One registry connection as a pure state machine: bytes in, replies and changes out.

The daemon creates a `Session` per accepted connection, feeds it what arrives
and carries out the `Output`: write ``data``, push ``events`` to the watches of
the other sessions (`Session.push`), watch ``watch_pids``, close, terminate. No I/O here:
what the session needs to know about the OS (the peer's credentials, whether a
pid may hold a port) comes in as callables, so that tests run without sockets.

Policy (the same for every dialect):

* The first line chooses the dialect (`wire.detect_dialect`). On the Unix
  socket, which portpicker's clients use, a connection whose first bytes are
  not a native JSON object speaks portpicker's dialect, and its first chunk
  of bytes (at most `PORTSERVER_READ_BYTES`) is the whole request, newline or
  not, as portpicker's ``portserver.py`` reads it: a pid is answered, anything
  else is closed without a byte.
* Allocating, registering, releasing and terminating need a peer on this host.
* The owner is the user the peer's credentials name. A claimed user that
  differs is accepted and recorded (NSCL clients send ``$USER``, which differs
  under su, sudo or in containers): the native dialect shows it as
  ``claimed_user``; the owner, what ``LIST`` shows and what trust is judged
  by, stays the verified user. Where the OS cannot tell, the claim is taken
  as is (unverified: no uid); where it could but the peer vanished first
  (`Credentials.gone`), anything that needs the peer's identity is refused.
* A watch with ``trusted_users`` matches only entries whose verified owner is
  the watcher's own user, root, or one of those users (the trust model of
  lookups made in order to connect). A connection holds at most
  `MAX_WATCHES` watches.
* Entries of native and NSCL connections are held by the connection's lease
  and end with `close`; portpicker entries are held by the pid's lease.
* Refusals keep the connection in the native and NSCL dialects (an NSCL
  ``FAIL`` keeps the client's earlier ports, as the NSCL port manager does).
  A portpicker connection ends after its one reply; a refused pid gets no
  reply at all (the connection is closed, as portpicker's own port server
  does, so the client sees no port rather than port ``0``). A line over the
  length limit ends the connection in every dialect (with an error reply in
  the native and NSCL dialects).
"""

from __future__ import annotations

__all__ = ["MAX_WATCHES", "PORTSERVER_READ_BYTES", "Output", "Session", "default_check_pid"]

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import log as mlog
from ..exceptions import RegistryError, RegistryPermissionError, RegistryRequestError
from ..protocol.lines import LineOverflow, LineSplitter
from . import native, nscl, wire
from .entries import Change, Lease, PortEntry, PortEvent, Query
from .peer import Credentials, user_uid
from .store import PortStore
from .watchindex import WatchIndex
from .wire import Dialect, RequestId

UNKNOWN_USER = "unknown"
"""User name of entries whose owner neither the OS nor the request names."""

MAX_WATCHES = 1000
"""Most watches one connection may hold at once."""

PORTSERVER_READ_BYTES = 100
"""What ``portserver.py`` reads of a request, in one read [bytes]; so does a
Unix socket connection's first portpicker request."""


def default_check_pid(pid: int, credentials: Credentials) -> str | None:
    """Accept any pid above 1 (the daemon checks liveness, kernel threads, ownership)."""
    if pid <= 1:
        return f"pid must be greater than 1, got {pid}"
    return None


@dataclass(slots=True)
class Output:
    """What the daemon must do after `Session.feed`.

    Attributes
    ----------
    data : `bytearray`
        Bytes to write to this connection, in order.
    events : `list` [`PortEvent`]
        Changes of the table, to push to the watches of every *other*
        connection (this one's are already in ``data``, after their replies).
    watch_pids : `list` [`int`]
        Processes whose death must end their pid lease.
    close : `bool`
        Close the connection after writing ``data``.
    terminate : `bool`
        Shut the daemon down (after writing ``data``).
    """

    data: bytearray = field(default_factory=bytearray)
    events: list[PortEvent] = field(default_factory=list)
    watch_pids: list[int] = field(default_factory=list)
    close: bool = False
    terminate: bool = False


class Session:
    """The protocol state of one connection to the registry.

    Parameters
    ----------
    store : `PortStore`
        The daemon's table (shared by every session).
    lease : `Lease`
        The lease of this connection.
    local : `bool`
        True if the peer is on the registry's host.
    credentials : callable () -> `Credentials`
        Look up the peer's credentials; called at most once, when first needed.
    check_pid : callable (`int`, `Credentials`) -> `str` or `None`
        Why a pid may not hold a port, or `None` if it may.
    daemon_uid : `int` or `None`
        The daemon's uid: only that user or root may terminate it.
    max_line_bytes : `int`
        Longest request line [bytes].
    version : `str` or `None`
        The daemon's version, for the ``ping`` and ``status`` replies.
    pid : `int` or `None`
        The daemon's process id, for the ``ping`` and ``status`` replies.
    index : `WatchIndex`, optional
        The daemon's index of every connection's watches (shared by every
        session); a private one by default.
    resolve_user : callable (`str`) -> `int` or `None`
        The uid of a user name (for ``trusted_users``), or `None` if unknown.
    max_watches : `int`
        Most watches this connection may hold.
    lookup : callable (`Query` or `None`) -> `list` [`PortEntry`], optional
        What native ``list``, ``find`` and ``watch`` answer from (default: the
        store's entries; a cluster member passes its merged view). NSCL
        ``LIST`` always lists the store.
    cluster_status : callable () -> `ClusterStatus` or `None`, optional
        The daemon's cluster link's state for the ``status`` reply (default:
        `None`, not in a cluster).
    unix_socket : `bool`
        True if the connection came through the daemon's Unix socket: a first
        request that is not native is then portpicker's, read from the first
        chunk fed (see the module notes).
    log : logger, optional
        `logging.Logger`, structlog logger or `None`.

    Attributes
    ----------
    dialect : `Dialect` or `None`
        Chosen by the first line.
    watches : `dict`
        Active watches of this connection: request id → `Query`.
    closed : `bool`
        True once the session asked for the connection to close, or `close`
        was called; it ignores any further input.
    """

    def __init__(
        self,
        store: PortStore,
        lease: Lease,
        *,
        local: bool,
        credentials: Callable[[], Credentials],
        check_pid: Callable[[int, Credentials], str | None] = default_check_pid,
        daemon_uid: int | None = None,
        max_line_bytes: int = wire.DEFAULT_MAX_LINE_BYTES,
        version: str | None = None,
        pid: int | None = None,
        index: WatchIndex | None = None,
        resolve_user: Callable[[str], int | None] = user_uid,
        max_watches: int = MAX_WATCHES,
        lookup: Callable[[Query | None], list[PortEntry]] | None = None,
        cluster_status: Callable[[], native.ClusterStatus | None] | None = None,
        unix_socket: bool = False,
        log: Any = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.local = local
        self._lookup_credentials = credentials
        self.check_pid = check_pid
        self.daemon_uid = daemon_uid
        self.version = version
        self.pid = pid
        self.lookup = store.entries if lookup is None else lookup
        self.cluster_status = cluster_status
        self.log = mlog.get_logger(log, "RegistrySession", connection=lease.ident)
        self.dialect: Dialect | None = None
        self.watches: dict[int | str, Query] = {}
        self.closed = False
        self.index = WatchIndex() if index is None else index
        self.resolve_user = resolve_user
        self.max_watches = max_watches
        self._splitter = LineSplitter(b"\n", max_line_bytes, strip_cr=True)
        self.unix_socket = unix_socket
        self._fed = False

    @functools.cached_property
    def credentials(self) -> Credentials:
        """The peer's credentials (looked up on first use)."""
        return self._lookup_credentials()

    @property
    def buffered(self) -> int:
        """Bytes held of an incomplete line."""
        return self._splitter.buffered

    # ---- input ------------------------------------------------------------------

    def feed(self, data: bytes) -> Output:
        """Handle received bytes; return what to do. Never raises for any input.

        Feed the bytes as they were received: on a Unix socket, the first
        chunk may be a whole portpicker request without its newline.
        """
        out = Output()
        if self.closed:
            return out
        first, self._fed = not self._fed, True
        lines: list[bytes | LineOverflow]
        if first and self.unix_socket and data and not data.lstrip().startswith(b"{"):
            self.dialect = Dialect.PORTPICKER  # the first chunk is the request (portserver.py)
            self.log.debug("dialect_chosen", dialect=self.dialect.value)
            lines = [bytes(data[:PORTSERVER_READ_BYTES])]
        else:
            lines = self._splitter.feed(data)
        for line in lines:
            if isinstance(line, LineOverflow):
                self._too_long(line, out)
            else:
                if self.dialect is None:
                    self.dialect = wire.detect_dialect(line)
                    self.log.debug("dialect_chosen", dialect=self.dialect.value)
                self._handle(self.dialect, line, out)
            if out.close:
                self.closed = True
                break
        return out

    def push(self, events: Sequence[PortEvent]) -> bytes:
        """Return the watch events of this connection for ``events`` (maybe none)."""
        if not self.watches or self.closed:
            return b""
        routed = self.index.route(events, only=self).get(self, ())
        return self.encode_events(routed)

    @staticmethod
    def encode_events(routed: Sequence[tuple[Any, PortEvent]]) -> bytes:
        """Encode (watch id, event) pairs (from `WatchIndex.route`) as event lines."""
        return b"".join(native.encode_event(watch, event) for watch, event in routed)

    def close(self) -> Change:
        """End the connection's lease (idempotent); return the entries' removal."""
        self.closed = True
        for watch_id, query in self.watches.items():
            self.index.remove(self, watch_id, query)
        self.watches.clear()
        return self.store.end_lease(self.lease)

    # ---- every dialect: parse, one handler per operation, encode ------------------

    def _handle(self, dialect: Dialect, line: bytes, out: Output) -> None:
        """Answer one line; a failure of ours stays with that line.

        An unexpected exception is logged with the line and answered as an
        internal error in the line's dialect (portpicker: closed unanswered,
        as for any refusal); the connection goes on with the next line.
        """
        out.close = out.close or dialect is Dialect.PORTPICKER  # one request, one reply
        data = len(out.data)  # (changes already made to the store keep their events)
        try:
            self._answer(dialect, line, out)
        except Exception:
            self.log.exception("request_failed", dialect=dialect.value, line=line[:80])
            del out.data[data:]
            message = "internal error of the registry (logged)"
            out.data += _refusal(dialect, None, "internal_error", message)

    def _answer(self, dialect: Dialect, line: bytes, out: Output) -> None:
        """Parse ``line``, run its operation, encode the reply or the refusal."""
        request = _PARSERS[dialect](line)
        if isinstance(request, wire.BadRequest):
            self.log.debug("bad_request", dialect=dialect.value, message=request.message)
            out.data += _refusal(dialect, request.id, RegistryRequestError.code, request.message)
            return
        first_event = len(out.events)
        try:
            reply = self._OPS[type(request)](self, request, out)
        except RegistryError as e:
            op = "pid" if dialect is Dialect.PORTPICKER else type(request).__name__
            self.log.info(
                "request_refused", dialect=dialect.value, op=op, error=e.code, reason=str(e)
            )
            out.data += _refusal(dialect, getattr(request, "id", None), e.code, str(e))
        else:
            out.data += _encode(dialect, request, reply)
            # This connection's own watches see the change right after the reply.
            out.data += self.push(out.events[first_event:])

    def _too_long(self, line: LineOverflow, out: Output) -> None:
        dialect = self.dialect
        if dialect is None:  # judge by the start of the line: a long pid is still a pid
            digits = line.prefix.strip().isdigit()
            dialect = Dialect.PORTPICKER if digits else wire.detect_dialect(line.prefix)
        self.log.info("line_too_long", limit=line.limit, dialect=dialect.value)
        message = f"request line longer than {line.limit} bytes"
        out.data += _refusal(dialect, None, RegistryRequestError.code, message)
        out.close = True

    # ---- policy -----------------------------------------------------------------

    def _require_local(self, action: str, *, identity: bool = False) -> None:
        """Refuse ``action`` to a remote peer (and, with ``identity``, to one that is gone)."""
        if not self.local:
            raise RegistryPermissionError(f"only clients on the registry's host may {action}")
        if identity and self.credentials.gone:
            raise RegistryPermissionError(
                f"cannot {action}: the client's socket was closed before the registry "
                "could tell whose it is"
            )

    def _owner(self, claimed: str | None) -> dict[str, Any]:
        """The owner of a new entry: ``user``, ``uid`` and ``claimed`` (store keywords)."""
        self._require_local("tell the client's user", identity=True)
        creds = self.credentials
        if creds.user is None:  # the OS cannot tell: the claim, unverified
            return {"user": claimed if claimed is not None else UNKNOWN_USER}
        if claimed is not None and claimed != creds.user:
            self.log.info("claimed_user_differs", claimed=claimed, user=creds.user)
        return {"user": creds.user, "uid": creds.uid, "claimed": claimed}

    def _claimed(self, entry: PortEntry) -> str | None:
        """The user the request of ``entry`` claimed, where it differs from the owner."""
        if self.store.get(entry.port) != entry:  # another cluster member's entry
            return None
        return self.store.claimed_user(entry.port)

    def _entries(self, entries: list[PortEntry]) -> native.EntriesReply:
        """Entries as the native dialect shows them (with differing claimed users)."""
        claimed = tuple(self._claimed(e) for e in entries)
        return native.EntriesReply(tuple(entries), claimed if any(claimed) else ())

    def _apply(
        self, change: Change, out: Output, what: str, claimed: str | None = None
    ) -> native.EntryReply:
        """Queue the events of ``change``; its entry, with ``claimed`` or the store's."""
        out.events.extend(change.events)
        entry = change.entry
        if entry is None:
            raise RuntimeError(f"{what}: the store reported no entry")
        self.log.info(what, port=entry.port, service=entry.service, user=entry.user)
        return native.EntryReply(entry, claimed or self._claimed(entry))

    def _trust(self, users: tuple[str, ...] | None) -> frozenset[int] | None:
        """The uids a watch with ``trusted_users`` accepts (`None`: every owner)."""
        if users is None:
            return None
        creds = self.credentials
        if creds.uid is None and not creds.gone:
            return None  # this OS cannot tell whose anything is: nothing to enforce
        trusted = {0} if creds.uid is None else {0, creds.uid}
        for name in users:
            uid = self.resolve_user(name)
            if uid is None:
                raise RegistryRequestError(f"trusted_users: no user is named {name!r}")
            trusted.add(uid)
        return frozenset(trusted)

    # ---- operations (each answers its request type, in whichever dialect) ---------

    def _ping(self, request: native.Ping, out: Output) -> native.PingReply:
        creds = self.credentials
        return native.PingReply(self.version, self.pid, self.local, creds.user, creds.uid)

    def _allocate(self, request: native.Allocate, out: Output) -> native.EntryReply:
        self._require_local("allocate ports")
        owner = self._owner(request.user)
        change = self.store.allocate(request.service, lease=self.lease, **owner)
        return self._apply(change, out, "port_allocated")

    def _register(self, request: native.Register, out: Output) -> native.EntryReply:
        self._require_local("register ports")
        owner = self._owner(request.user)
        change = self.store.register(
            request.service, request.port, lease=self.lease, host=request.host, **owner
        )
        return self._apply(change, out, "port_registered")

    def _reserve(self, request: wire.PidRequest, out: Output) -> native.EntryReply:
        """portpicker: a port held until process ``request.pid`` ends."""
        self._require_local("reserve ports", identity=True)
        reason = self.check_pid(request.pid, self.credentials)
        if reason is not None:
            raise RegistryPermissionError(reason)
        owner = self._owner(None)
        name = f"portpicker.{request.pid}"
        change = self.store.allocate(name, lease=Lease("pid", request.pid), **owner)
        out.watch_pids.append(request.pid)
        return self._apply(change, out, "port_reserved")

    def _release(self, request: native.Release, out: Output) -> native.EntryReply:
        self._require_local("release ports")
        claimed = self.store.claimed_user(request.port)
        return self._apply(
            self.store.release(request.port, self.lease), out, "port_released", claimed
        )

    def _list(self, request: native.ListPorts, out: Output) -> native.EntriesReply:
        if self.dialect is Dialect.NSCL:  # this host's entries, by user, then service
            return native.EntriesReply(tuple(self.store.entries_by_user()))
        return self._entries(self.lookup(None))

    def _find(self, request: native.Find, out: Output) -> native.EntriesReply:
        return self._entries(self.lookup(request.query))

    def _status(self, request: native.Status, out: Output) -> native.StatusReply:
        cluster = None if self.cluster_status is None else self.cluster_status()
        return native.StatusReply(self.version, self.pid, len(self.store), cluster)

    def _watch(self, request: native.Watch, out: Output) -> native.EntriesReply:
        if request.id is None or request.id in self.watches:
            raise RegistryRequestError(
                "watch needs an id that no active watch of this connection uses"
            )
        if len(self.watches) >= self.max_watches:
            raise RegistryRequestError(
                f"this connection already holds {self.max_watches} watches, the limit; "
                "stop some (unwatch) or use another connection"
            )
        q = request.query
        query = Query(q.service, q.beginswith, q.user, self._trust(request.trusted_users))
        self.watches[request.id] = query
        self.index.add(self, request.id, query)
        return self._entries(self.lookup(query))

    def _unwatch(self, request: native.Unwatch, out: Output) -> native.Done:
        query = self.watches.pop(request.watch, None)
        if query is None:
            raise RegistryRequestError(f"no active watch has id {request.watch!r}")
        self.index.remove(self, request.watch, query)
        return native.Done()

    def _terminate(self, request: native.Terminate, out: Output) -> native.Done:
        self._require_local("terminate the registry", identity=True)
        uid = self.credentials.uid
        if None not in (uid, self.daemon_uid) and uid not in (0, self.daemon_uid):
            raise RegistryPermissionError(
                f"only the registry's own user (uid {self.daemon_uid}) or root may terminate it"
            )
        self.log.info("terminate_requested", user=self.credentials.user)
        out.terminate = True
        return native.Done()

    _OPS: dict[type, Callable[[Session, Any, Output], native.Reply]] = {
        native.Ping: _ping,
        native.Allocate: _allocate,
        native.Register: _register,
        wire.PidRequest: _reserve,
        native.Release: _release,
        native.ListPorts: _list,
        native.Find: _find,
        native.Watch: _watch,
        native.Unwatch: _unwatch,
        native.Status: _status,
        native.Terminate: _terminate,
    }


def _encode(dialect: Dialect, request: Any, reply: Any) -> bytes:
    """``reply`` to ``request`` in ``dialect``."""
    if dialect is Dialect.NATIVE:
        return native.encode_reply(request.id, reply)
    if isinstance(reply, native.EntriesReply):  # NSCL LIST
        return nscl.list_reply(reply.entries)
    port = reply.entry.port
    return nscl.ok(port) if dialect is Dialect.NSCL else wire.pid_reply(port)


def _refusal(dialect: Dialect, rid: RequestId, code: str, message: str) -> bytes:
    """A refusal in ``dialect`` (portpicker: none; see the module notes)."""
    if dialect is Dialect.NATIVE:
        return native.encode_refusal(rid, code, message)
    return nscl.fail(message) if dialect is Dialect.NSCL else b""


_PARSERS: dict[Dialect, Callable[[bytes], Any]] = {
    Dialect.NATIVE: native.parse_request,
    Dialect.NSCL: nscl.parse_request,
    Dialect.PORTPICKER: wire.parse_pid,
}
