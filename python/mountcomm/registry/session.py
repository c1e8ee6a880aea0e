"""One registry connection as a pure state machine: bytes in, replies and changes out.

The daemon creates a `Session` per accepted connection, feeds it what arrives
and carries out the `Output`: write ``data``, push ``events`` to the watches of
the other sessions (`Session.push`), watch ``watch_pids``, close, terminate. No I/O here:
what the session needs to know about the OS (the peer's credentials, whether a
pid may hold a port) comes in as callables, so that tests run without sockets.

Policy (the same for every dialect):

* The first line chooses the dialect (`wire.detect_dialect`).
* Allocating, registering, releasing and terminating need a peer on this host.
* The user is the one the peer's credentials name; a claimed user that
  contradicts them is refused. Where the OS cannot tell, the claim is taken
  as is; where it could but the peer vanished first (`Credentials.gone`),
  anything that needs the peer's identity is refused.
* Entries of native and NSCL connections are held by the connection's lease
  and end with `close`; portpicker entries are held by the pid's lease.
* Native refusals keep the connection; an NSCL ``FAIL`` ends it (as the NSCL
  port manager does, releasing its ports); a portpicker connection ends after
  its one reply. A line over the length limit gets an error reply and ends
  the connection in every dialect.
"""

from __future__ import annotations

__all__ = ["Output", "Session", "default_check_pid"]

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import log as mlog
from ..exceptions import RegistryError, RegistryPermissionError, RegistryRequestError
from . import wire
from .peer import Credentials
from .store import Change, Lease, PortEntry, PortEvent, PortStore, Query
from .wire import Dialect

UNKNOWN_USER = "unknown"
"""User name of entries whose owner neither the OS nor the request names."""


def default_check_pid(pid: int, credentials: Credentials) -> str | None:
    """Accept any pid above 1 (the daemon checks liveness and ownership too)."""
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
    info : mapping
        Extra fields of the ``ping`` reply (version, daemon pid...).
    lookup : callable (`Query` or `None`) -> `list` [`PortEntry`], optional
        What native ``list``, ``find`` and ``watch`` answer from (default: the
        store's entries; a cluster member passes its merged view). NSCL
        ``LIST`` always lists the store.
    status : callable () -> `dict`, optional
        Extra fields of the ``status`` reply (e.g. ``{"cluster": ...}``).
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
        info: Mapping[str, Any] | None = None,
        lookup: Callable[[Query | None], list[PortEntry]] | None = None,
        status: Callable[[], dict[str, Any]] | None = None,
        log: Any = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.local = local
        self._lookup_credentials = credentials
        self._credentials: Credentials | None = None
        self.check_pid = check_pid
        self.daemon_uid = daemon_uid
        self.info = dict(info or {})
        self.lookup = store.entries if lookup is None else lookup
        self._status_fields = status
        self.log = mlog.get_logger(log, "RegistrySession", connection=lease.ident)
        self.dialect: Dialect | None = None
        self.watches: dict[int | str, Query] = {}
        self.closed = False
        self._splitter = wire.LineSplitter(max_line_bytes)

    @property
    def credentials(self) -> Credentials:
        """The peer's credentials (looked up on first use)."""
        if self._credentials is None:
            self._credentials = self._lookup_credentials()
        return self._credentials

    # ---- input ------------------------------------------------------------------

    def feed(self, data: bytes) -> Output:
        """Handle received bytes; return what to do. Never raises for any input."""
        out = Output()
        if self.closed:
            return out
        for line in self._splitter.feed(data):
            if isinstance(line, wire.LineTooLong):
                self._too_long(line, out)
            else:
                if self.dialect is None:
                    self.dialect = wire.detect_dialect(line)
                    self.log.debug("dialect_chosen", dialect=self.dialect.value)
                self._HANDLERS[self.dialect](self, line, out)
            if out.close:
                self.closed = True
                break
        return out

    def push(self, events: Sequence[PortEvent]) -> bytes:
        """Return the watch events of this connection for ``events`` (maybe none)."""
        if not self.watches or self.closed:
            return b""
        return b"".join(
            wire.native_event(watch, event)
            for event in events
            for watch, query in self.watches.items()
            if query.matches(event)
        )

    def close(self) -> Change:
        """End the connection's lease (idempotent); return the entries' removal."""
        self.closed = True
        self.watches.clear()
        return self.store.end_lease(self.lease)

    # ---- policy -----------------------------------------------------------------

    def _require_local(self, action: str) -> None:
        if not self.local:
            raise RegistryPermissionError(f"only clients on the registry's host may {action}")

    def _require_identity(self, action: str) -> None:
        if self.credentials.gone:
            raise RegistryPermissionError(
                f"cannot {action}: the client's socket was closed before the registry "
                "could tell whose it is"
            )

    def _user(self, claimed: str | None) -> str:
        self._require_identity("tell the client's user")
        actual = self.credentials.user
        if actual is None:
            return claimed if claimed is not None else UNKNOWN_USER
        if claimed is not None and claimed != actual:
            raise RegistryPermissionError(
                f"claimed user {claimed!r} contradicts the connection's credentials "
                f"(user {actual!r})"
            )
        return actual

    def _apply(self, change: Change, out: Output, what: str) -> dict[str, Any]:
        out.events.extend(change.events)
        assert change.entry is not None
        entry = change.entry
        self.log.info(what, port=entry.port, service=entry.service, user=entry.user)
        return entry.as_dict()

    def _too_long(self, line: wire.LineTooLong, out: Output) -> None:
        dialect = self.dialect
        if dialect is None:  # judge by the start of the line: a long pid is still a pid
            digits = line.prefix.strip().isdigit()
            dialect = Dialect.PORTPICKER if digits else wire.detect_dialect(line.prefix)
        self.log.info("line_too_long", limit=line.limit, dialect=dialect.value)
        if dialect is Dialect.NATIVE:
            out.data += wire.native_error(None, RegistryRequestError.code, line.message)
        elif dialect is Dialect.PORTPICKER:
            out.data += wire.pid_reply(0)
        else:
            out.data += wire.nscl_fail(line.message)
        out.close = True

    # ---- native -----------------------------------------------------------------

    def _native_line(self, line: bytes, out: Output) -> None:
        request = wire.parse_native(line)
        if isinstance(request, wire.BadRequest):
            self.log.debug("bad_request", dialect="native", message=request.message)
            out.data += wire.native_error(request.id, RegistryRequestError.code, request.message)
            return
        handler = self._NATIVE[type(request)]
        first_event = len(out.events)
        try:
            fields = handler(self, request, out)
        except RegistryError as e:
            self.log.info("request_refused", op=type(request).__name__, error=e.code, reason=str(e))
            out.data += wire.native_error(request.id, e.code, str(e))
        else:
            out.data += wire.native_ok(request.id, **fields)
            # This connection's own watches see the change right after the reply.
            out.data += self.push(out.events[first_event:])

    def _ping(self, request: wire.Ping, out: Output) -> dict[str, Any]:
        creds = self.credentials
        return {**self.info, "local": self.local, "user": creds.user, "uid": creds.uid}

    def _allocate(self, request: wire.Allocate, out: Output) -> dict[str, Any]:
        self._require_local("allocate ports")
        change = self.store.allocate(request.service, self._user(request.user), self.lease)
        return self._apply(change, out, "port_allocated")

    def _register(self, request: wire.Register, out: Output) -> dict[str, Any]:
        self._require_local("register ports")
        user = self._user(request.user)
        change = self.store.register(
            request.service, request.port, user, self.lease, host=request.host
        )
        return self._apply(change, out, "port_registered")

    def _release(self, request: wire.Release, out: Output) -> dict[str, Any]:
        self._require_local("release ports")
        return self._apply(self.store.release(request.port, self.lease), out, "port_released")

    def _list(self, request: wire.ListPorts, out: Output) -> dict[str, Any]:
        return {"entries": [e.as_dict() for e in self.lookup(None)]}

    def _find(self, request: wire.Find, out: Output) -> dict[str, Any]:
        return {"entries": [e.as_dict() for e in self.lookup(request.query)]}

    def _status(self, request: wire.Status, out: Output) -> dict[str, Any]:
        extra = {"cluster": None} if self._status_fields is None else self._status_fields()
        return {**self.info, "entries": len(self.store), **extra}

    def _watch(self, request: wire.Watch, out: Output) -> dict[str, Any]:
        if request.id is None or request.id in self.watches:
            raise RegistryRequestError(
                "watch needs an id that no active watch of this connection uses"
            )
        self.watches[request.id] = request.query
        return {"entries": [e.as_dict() for e in self.lookup(request.query)]}

    def _unwatch(self, request: wire.Unwatch, out: Output) -> dict[str, Any]:
        if self.watches.pop(request.watch, None) is None:
            raise RegistryRequestError(f"no active watch has id {request.watch!r}")
        return {}

    def _terminate(self, request: wire.Terminate, out: Output) -> dict[str, Any]:
        self._require_local("terminate the registry")
        self._require_identity("terminate the registry")
        uid = self.credentials.uid
        if None not in (uid, self.daemon_uid) and uid not in (0, self.daemon_uid):
            raise RegistryPermissionError(
                f"only the registry's own user (uid {self.daemon_uid}) or root may terminate it"
            )
        self.log.info("terminate_requested", user=self.credentials.user)
        out.terminate = True
        return {}

    _NATIVE: dict[type, Callable[[Session, Any, Output], dict[str, Any]]] = {
        wire.Ping: _ping,
        wire.Allocate: _allocate,
        wire.Register: _register,
        wire.Release: _release,
        wire.ListPorts: _list,
        wire.Find: _find,
        wire.Watch: _watch,
        wire.Unwatch: _unwatch,
        wire.Status: _status,
        wire.Terminate: _terminate,
    }

    # ---- NSCL -------------------------------------------------------------------

    def _nscl_line(self, line: bytes, out: Output) -> None:
        request = wire.parse_nscl(line)
        if isinstance(request, wire.BadRequest):
            self.log.debug("bad_request", dialect="nscl", message=request.message)
            out.data += wire.nscl_fail(request.message)
            out.close = True
        elif isinstance(request, wire.ListPorts):
            out.data += wire.nscl_list(self.store.entries())
        else:
            try:
                self._require_local("allocate ports")
                user = self._user(request.user)
                change = self.store.allocate(request.service, user, self.lease)
            except RegistryError as e:
                self.log.info("request_refused", op="GIMME", error=e.code, reason=str(e))
                out.data += wire.nscl_fail(str(e))
                out.close = True
            else:
                port = self._apply(change, out, "port_allocated")["port"]
                out.data += wire.nscl_ok(port)

    # ---- portpicker ---------------------------------------------------------------

    def _pid_line(self, line: bytes, out: Output) -> None:
        out.close = True
        request = wire.parse_pid(line)
        try:
            if isinstance(request, wire.BadRequest):
                raise RegistryRequestError(request.message)
            self._require_local("reserve ports")
            self._require_identity("reserve ports")
            reason = self.check_pid(request.pid, self.credentials)
            if reason is not None:
                raise RegistryPermissionError(reason)
            user = self._user(None)
            change = self.store.allocate(
                f"portpicker.{request.pid}", user, Lease("pid", request.pid)
            )
        except RegistryError as e:
            self.log.info("request_refused", op="pid", error=e.code, reason=str(e))
            out.data += wire.pid_reply(0)
            return
        port = self._apply(change, out, "port_reserved")["port"]
        out.watch_pids.append(request.pid)
        out.data += wire.pid_reply(port)

    _HANDLERS: dict[Dialect, Callable[[Session, bytes, Output], None]] = {
        Dialect.NATIVE: _native_line,
        Dialect.NSCL: _nscl_line,
        Dialect.PORTPICKER: _pid_line,
    }
