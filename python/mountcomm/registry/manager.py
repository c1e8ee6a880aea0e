"""Synchronous client with the API of the NSCL port manager's Python bindings.

Code written for ``PortManager(host).getPort(service)`` runs unchanged against
a mountcomm registry; it speaks the NSCL dialect (``GIMME`` / ``LIST``).
"""

from __future__ import annotations

__all__ = ["PortInfo", "PortManager"]

import socket
import time
from collections.abc import Callable
from typing import TypedDict, TypeVar

from .. import log as mlog
from .._lifecycle import Closing
from ..exceptions import ConnectionClosedError, ProtocolError, SelfConnectionError
from ..sockets import SelfConnectionLog, connect_checked
from . import nscl
from .entries import Query
from .peer import current_user

_MAX_LINE_BYTES = 64 * 1024
_CRITERIA = ("service", "beginswith", "user")
E = TypeVar("E", bound=Exception)
T = TypeVar("T")


class PortInfo(TypedDict):
    """An entry as `PortManager.listPorts` returns it (the NSCL bindings' dict)."""

    port: int
    service: str
    user: str


class PortManager(Closing):
    """Blocking client of a port registry, NSCL-bindings compatible.

    Connects in the constructor and keeps the connection: ports obtained with
    `getPort` stay allocated while it is open and are released when it closes
    (`close`, the ``with`` block ends, or the process exits).

    Parameters
    ----------
    host : `str`
        Host of the registry.
    port : `int`
        The registry's TCP port.
    autostart : `bool`
        If nothing answers and ``host`` is this host, start a registry daemon
        (detached; it outlives this object) and connect to it.
    daemon_args : sequence of `str`
        Extra ``mountcomm registry`` options for an auto-started daemon.
    timeout : `float`
        Socket timeout of the connection and of every reply [s].

    Raises
    ------
    OSError
        If the registry cannot be reached (``ConnectionRefusedError`` if nothing
        listens and ``autostart`` is off).

    Notes
    -----
    As with the NSCL bindings, a refusal (``FAIL``) raises `RuntimeError` with
    the registry's message; as with NSCL's server, the connection and every
    port it holds are kept, and the object stays usable. A lost connection or
    a timeout leaves it unusable (they raise `ConnectionClosedError` and
    `TimeoutError`; every later call raises `RuntimeError`). A TCP connection
    that reaches its own socket (nobody listens on a port of the ephemeral
    range) is closed, logged once and retried with backoff within ``timeout``.
    Not thread-safe.
    """

    def __init__(
        self,
        host: str = "localhost",
        port: int = 30000,
        *,
        autostart: bool = False,
        daemon_args: tuple[str, ...] | list[str] = (),
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._failure: str | None = None
        self.log = mlog.get_logger(None, "PortManager", port=port)
        self._self_connected = SelfConnectionLog(self.log, "registry_self_connection")
        try:
            self._sock = self._connect()
        except ConnectionRefusedError:
            from . import autostart as start

            if not autostart or not start.is_local_host(host):
                raise
            start.start_daemon(host, port, extra_args=daemon_args, timeout=timeout)
            self._sock = self._connect()
        self._file = self._sock.makefile("rb")

    def _connect(self) -> socket.socket:
        """Connect, retrying a self-connection with backoff within ``timeout``.

        The package's checked connect (`mountcomm.sockets.connect_checked`),
        its self-connection log policy, and the registry clients' retry policy
        (`mountcomm.registry.resume.RECONNECT_POLICY`), slept in this thread.
        """
        from .resume import RECONNECT_POLICY

        deadline = time.monotonic() + self.timeout
        delays = RECONNECT_POLICY.delays()
        while True:
            try:
                return connect_checked((self.host, self.port), self.timeout)
            except SelfConnectionError as e:
                self._self_connected(e)
                delay = next(delays)
                if time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)

    # ---- NSCL API ---------------------------------------------------------------

    def getPort(self, service: str) -> int:
        """Allocate a port for ``service``, held until this object closes.

        If this user already holds ``service``, the registry appends ``_1``,
        ``_2``... to the name (see `listPorts`).

        Raises
        ------
        RuntimeError
            With the registry's message if it refuses (pool exhausted, not on
            the registry's host...); the object and its ports stay.
        ValueError
            If ``service`` is empty or holds white space.
        """
        return self._number(nscl.gimme(service, current_user()))

    def listPorts(self) -> list[PortInfo]:
        """Return every allocated port as ``{"port": int, "service": str, "user": str}``."""
        return self._infos(Query())

    def find(self, **criteria: str) -> list[PortInfo]:
        """Return the entries of `listPorts` that match the criteria.

        Criteria, applied in this order: ``service`` (exact name),
        ``beginswith`` (name prefix: ``"a"`` matches ``"a_1"``), ``user``.

        Raises
        ------
        RuntimeError
            If a criterion is not one of those three (as the NSCL bindings do).
        """
        unknown = sorted(set(criteria) - set(_CRITERIA))
        if unknown:
            raise RuntimeError(f"unknown search key(s) {unknown}; expected some of {_CRITERIA}")
        get = criteria.get
        return self._infos(Query(get("service"), get("beginswith"), get("user")))

    # ---- life cycle -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by `close` or by a failure)."""
        return self._file.closed

    def close(self) -> None:
        """Close the connection, releasing every port it holds (idempotent)."""
        self._file.close()
        self._sock.close()

    # ---- internals --------------------------------------------------------------

    def _fail(self, error: E) -> E:
        """Close for good, keeping the first failure as the reason; return ``error``."""
        if self._failure is None:
            self._failure = str(error)
        self.close()
        return error

    def _readline(self) -> bytes:
        try:
            line = self._file.readline(_MAX_LINE_BYTES)
        except TimeoutError:
            error = TimeoutError(f"the registry did not reply within {self.timeout} s")
            raise self._fail(error) from None
        except OSError as e:
            raise self._fail(ConnectionClosedError(f"connection to the registry lost: {e}")) from e
        if not line.endswith(b"\n"):
            if len(line) >= _MAX_LINE_BYTES:
                raise self._fail(ProtocolError(f"a reply line over {_MAX_LINE_BYTES} bytes"))
            raise self._fail(ConnectionClosedError("the registry closed the connection"))
        return line

    def _parsed(self, parse: Callable[[bytes], T]) -> T:
        """``parse`` the next line; a line it cannot read makes this object unusable."""
        try:
            return parse(self._readline())
        except ProtocolError as e:
            raise self._fail(e) from None

    def _exchange(self, request: bytes) -> str:
        """Send ``request``; return the value of its ``OK`` reply (`RuntimeError` if refused)."""
        if self._failure is not None:
            raise RuntimeError(f"PortManager is unusable after an earlier failure: {self._failure}")
        if self.closed:
            raise RuntimeError("PortManager is closed")
        try:
            self._sock.sendall(request)
        except OSError as e:
            raise self._fail(ConnectionClosedError(f"connection to the registry lost: {e}")) from e
        ok, value = self._parsed(nscl.parse_reply)
        if not ok:  # the registry keeps the connection and its ports, as NSCL's does
            raise RuntimeError(value)
        return value

    def _number(self, request: bytes) -> int:
        """The number of the ``OK <number>`` reply to ``request`` (a port, a count)."""
        value = self._exchange(request)
        if not value.isdigit():
            raise self._fail(ProtocolError(f"expected 'OK <number>', got 'OK {value}'"))
        return int(value)

    def _infos(self, query: Query) -> list[PortInfo]:
        """The entries of a ``LIST`` that match ``query``, as `PortInfo`."""
        entries = [self._parsed(nscl.parse_entry) for _ in range(self._number(nscl.LIST_REQUEST))]
        return [
            PortInfo(port=e.port, service=e.service, user=e.user)
            for e in entries
            if query.matches(e)
        ]
