"""The port registry daemon: asyncio glue around `PortStore` and `Session`."""

from __future__ import annotations

__all__ = ["DEFAULT_POOL", "RegistryServer"]

import asyncio
import contextlib
import errno
import functools
import itertools
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from .. import __version__
from .. import log as mlog
from .._lifecycle import AsyncResource
from . import peer, pidwatch, probe, wire
from .cluster import ClusterLink, ClusterSettings
from .entries import Lease, PortEntry, PortEvent, Query
from .native import ClusterStatus
from .peer import Credentials, unix_address
from .session import MAX_WATCHES, Session
from .store import PortStore, format_pool
from .watchindex import WatchIndex

DEFAULT_POOL: tuple[tuple[int, int], ...] = ((30001, 30999),)
"""The pool of the shipped configuration."""

_READ_BYTES = 64 * 1024
_BACKLOG = 1024


@dataclass(eq=False, slots=True)
class _Connection:
    writer: asyncio.StreamWriter
    task: asyncio.Task[Any]


class RegistryServer(AsyncResource):
    """The port registry daemon: a TCP port and a Unix socket, either optional.

    Each connection speaks the dialect of its first line (native JSON lines,
    NSCL ``GIMME``/``LIST`` text, or a portpicker pid line; see
    `mountcomm.registry.wire`). Allocations and registrations end the moment
    their owner's connection closes (the pid dies, for portpicker).

    Parameters
    ----------
    host : `str` or `None`
        Interface of the TCP port; `None`: every interface. Use a numeric
        address with ``port=0`` so that a single socket (one port) is made.
    port : `int` or `None`
        TCP port; 0 lets the OS choose (read `port` after `start`); `None`:
        no TCP listener (then ``unix_socket`` is required).
    pool : sequence of (`int`, `int`) or `None`
        Inclusive port ranges to allocate from; `None`: ports the OS picks.
    unix_socket : `str` or `None`
        Also listen on this Unix socket path, or ``@name`` for the abstract
        namespace. A stale socket file left by a dead daemon is replaced.
    max_line_bytes : `int`
        Longest request line; a longer one is refused and its connection
        closed [bytes].
    shutdown_timeout : `float`
        How long `close` waits for connections to finish [s].
    max_write_buffer : `int`
        A watcher that lets more than this pile up unread is disconnected [bytes].
    line_timeout : `float`
        A connection that has sent part of a line but not its end for this
        long is closed (e.g. a portpicker pid line that never completes) [s].
    max_watches : `int`
        Most watches one connection may hold.
    cluster : `ClusterSettings`, optional
        Join this etcd cluster: publish every entry, and answer native
        ``list``, ``find`` and ``watch`` from every daemon's entries (see
        `mountcomm.registry.cluster`). `None`: this host only.
    advertise_host : `str`, optional
        Where this host's ports are reachable, written in every entry of a
        cluster member; default: ``host`` (or this host's name if ``host``
        is a wildcard).
    log : logger, optional
        `logging.Logger`, structlog logger or `None`.

    Attributes
    ----------
    store : `PortStore`
        The table of entries.
    cluster : `ClusterLink` or `None`
        The link to etcd, once started with ``cluster`` settings.
    port : `int` or `None`
        The TCP port, once started (`None`: no TCP listener).
    done_task : `asyncio.Future`
        Done when the daemon has shut down (by `close` or a ``terminate``
        request); exists once `start` was called.

    Notes
    -----
    Shutdown (`close`, or a ``terminate`` request) runs these steps in order,
    each bounded in time; an error in one step is logged and the next steps
    still run:

    1. Stop accepting: close the listening sockets and remove the Unix socket
       file (only if it is still ours).
    2. Close every connection: replies already written are flushed, then the
       peers see EOF (watchers' iterators end with a connection error).
    3. Wait up to ``shutdown_timeout`` for the connection handlers to finish.
    4. Abort the connections still open (a peer that does not read) and cancel
       their handlers, then wait for them.
    5. Stop watching pids, leave the cluster (its lease is revoked, so other
       hosts drop this one's entries at once) and drop every remaining entry.
    6. Set ``done_task``.

    `close` is idempotent and safe to call concurrently; every caller waits for
    the same shutdown. Cancelling a caller of `close` does not stop the shutdown.
    The daemon installs no signal handlers: programs do (``mountcomm registry``
    closes on SIGINT and SIGTERM).
    """

    def __init__(
        self,
        host: str | None = "127.0.0.1",
        port: int | None = 30000,
        *,
        pool: Sequence[tuple[int, int]] | None = DEFAULT_POOL,
        unix_socket: str | None = None,
        max_line_bytes: int = wire.DEFAULT_MAX_LINE_BYTES,
        shutdown_timeout: float = 2.0,
        max_write_buffer: int = 1024 * 1024,
        line_timeout: float = 10.0,
        max_watches: int = MAX_WATCHES,
        cluster: ClusterSettings | None = None,
        advertise_host: str | None = None,
        log: Any = None,
    ) -> None:
        if not line_timeout > 0:
            raise ValueError(f"line_timeout must be positive, got {line_timeout!r}")
        if port is None and not unix_socket:
            raise ValueError("a registry without a TCP port needs a Unix socket")
        self.host = host
        self.port = port
        self.unix_socket = unix_socket
        self.max_line_bytes = max_line_bytes
        self.shutdown_timeout = shutdown_timeout
        self.max_write_buffer = max_write_buffer
        self.line_timeout = line_timeout
        self.max_watches = max_watches
        self.log = mlog.get_logger(log, "RegistryServer")
        self._raw_log = log
        self.cluster_settings = cluster
        if cluster is not None and advertise_host is None:
            wildcard = host in (None, "", "0.0.0.0", "::")
            advertise_host = socket.gethostname() if wildcard or host is None else host
        self.advertise_host = advertise_host
        self.cluster: ClusterLink | None = None
        self.store = PortStore(
            pool,
            is_free=probe.port_is_free,
            pick_ephemeral=probe.pick_ephemeral_port,
            host=advertise_host or "",
        )
        self._ids = itertools.count(1)
        self._connections: dict[Session, _Connection] = {}
        self.index = WatchIndex()
        self._counts = {"connections_total": 0, "line_timeouts": 0, "watchers_dropped": 0}
        self._started_at = time.monotonic()
        self._servers: list[asyncio.Server] = []
        self._unix_inode: tuple[int, int] | None = None
        self._pidwatch: pidwatch.PidWatcher | None = None
        self._started = False
        self._closing: asyncio.Task[None] | None = None
        self._uid = os.getuid() if hasattr(os, "getuid") else None

    # ---- life cycle -------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        """Number of open connections."""
        return len(self._connections)

    @property
    def tcp_port(self) -> int:
        """The TCP port (0 until started), for a daemon that listens on one.

        Raises
        ------
        RuntimeError
            If it listens on no TCP port (``port=None``).
        """
        if self.port is None:
            raise RuntimeError("this registry daemon listens on no TCP port")
        return self.port

    @property
    def closed(self) -> bool:
        """True once shutdown has begun."""
        return self._closing is not None

    def statistics(self) -> dict[str, Any]:
        """Figures for an operator (``mountcomm registry`` logs them on SIGUSR1).

        Returns
        -------
        stats : `dict`
            ``entries``, ``leases``, ``connections`` (open), ``watches``,
            ``pids_watched``, ``connections_total``, ``line_timeouts``,
            ``watchers_dropped``, ``uptime`` [s].
        """
        return {
            "entries": len(self.store),
            "leases": len(self.store.leases()),
            "connections": len(self._connections),
            "watches": len(self.index),
            "pids_watched": 0 if self._pidwatch is None else len(self._pidwatch),
            **self._counts,
            "uptime": round(time.monotonic() - self._started_at, 3),
        }

    async def start(self) -> None:
        """Start listening (idempotent).

        Raises
        ------
        OSError
            If the TCP port or the Unix socket cannot be bound (nothing is left
            open then).
        """
        if self._started:
            return
        self._started = True
        self.done_task: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pidwatch = pidwatch.PidWatcher(self._pid_exited, log=self._raw_log)
        try:
            if self.port is not None:
                tcp = await asyncio.start_server(
                    self._serve, self.host, self.port, backlog=_BACKLOG, reuse_address=True
                )
                self._servers.append(tcp)
                self.port = tcp.sockets[0].getsockname()[1]
            if self.unix_socket:
                address = unix_address(self.unix_socket)
                self._remove_stale_socket(address)
                unix = await asyncio.start_unix_server(self._serve, address, backlog=_BACKLOG)
                self._servers.append(unix)
                if not address.startswith("\0"):
                    os.chmod(address, 0o666)  # other local users may ask; creds tell who
                    st = os.stat(address)
                    self._unix_inode = (st.st_dev, st.st_ino)
            if self.cluster_settings is not None:
                self.cluster = ClusterLink(
                    self.cluster_settings,
                    self.advertise_host or "",
                    local_entries=self.store.entries,
                    on_events=self._push,
                    log=self._raw_log,
                )
                await self.cluster.start()
        except BaseException:
            await self.close()
            raise
        self.log.info(
            "registry_listening",
            host=self.host,
            port=self.port,
            unix_socket=self.unix_socket,
            pool=format_pool(self.store.pool),
        )

    async def close(self) -> None:
        """Shut down in the documented order (idempotent; see the class notes)."""
        if not self._started:
            self._started = True
            self.done_task = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._terminate())

    async def wait_closed(self) -> None:
        """Wait until the daemon has shut down."""
        await asyncio.shield(self.done_task)

    def _remove_stale_socket(self, address: str) -> None:
        if address.startswith("\0"):
            return
        try:
            mode = os.stat(address).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise OSError(errno.EEXIST, f"{address} exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe_sock:
            try:
                probe_sock.connect(address)
            except (ConnectionRefusedError, FileNotFoundError):
                os.unlink(address)
                self.log.info("stale_unix_socket_removed", path=address)
                return
        raise OSError(errno.EADDRINUSE, f"another server listens on {address}")

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[None]:
        """Log a failed shutdown step and go on with the next (never cancellations)."""
        try:
            yield
        except Exception:
            self.log.exception("shutdown_step_failed", step=name)

    async def _shutdown(self) -> None:
        self.log.info("registry_closing", connections=len(self._connections))
        connections = list(self._connections.values())
        pending: set[asyncio.Task[Any]] = set()
        dropped: tuple[PortEvent, ...] = ()
        with self._step("1 stop accepting"):
            for server in self._servers:
                server.close()
            self._remove_own_socket_file()
        with self._step("2 close connections"):
            for conn in connections:
                conn.writer.close()  # flushes what was written, then the peer sees EOF
        with self._step("3 wait for handlers"):
            tasks = {conn.task for conn in connections}
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=self.shutdown_timeout)
        with self._step("4 abort stragglers"):
            if pending:
                self.log.warning("connections_aborted", count=len(pending))
                for conn in connections:
                    if conn.task in pending:
                        conn.writer.transport.abort()
                        conn.task.cancel()
                await asyncio.wait(pending)
        with self._step("5 drop pids and entries"):
            if self._pidwatch is not None:
                await self._pidwatch.close()
            if self.cluster is not None:
                await self.cluster.close()
            dropped = self.store.clear().events
            for server in self._servers:
                try:
                    await asyncio.wait_for(server.wait_closed(), self.shutdown_timeout)
                except TimeoutError:
                    self.log.warning("server_wait_closed_timeout")
        self.log.info("registry_closed", entries_dropped=len(dropped))
        if not self.done_task.done():  # 6.
            self.done_task.set_result(None)

    def _remove_own_socket_file(self) -> None:
        if self._unix_inode is None or self.unix_socket is None:
            return
        path = unix_address(self.unix_socket)
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) == self._unix_inode:
                os.unlink(path)
        except OSError as e:
            self.log.warning("unix_socket_not_removed", path=path, error=str(e))
        self._unix_inode = None

    def _terminate(self) -> asyncio.Task[None]:
        """Begin the shutdown, once; return its task."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._shutdown(), name="RegistryServer.close")
        return self._closing

    # ---- connections ------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection, TCP or Unix, until it ends."""
        sock = writer.get_extra_info("socket")
        unix = sock is not None and sock.family == socket.AF_UNIX
        peername = writer.get_extra_info("peername")
        sockname = writer.get_extra_info("sockname")
        if self.closed or (not unix and not (peername and sockname)):
            await self._close_writer(writer)  # (TCP: reset before we could ask who it was)
            return
        credentials: Callable[[], Credentials]
        if unix:
            local, address = True, "unix"
            credentials = functools.partial(peer.unix_peer_credentials, sock)
        else:
            local = peer.is_local_address(peername[0], sockname[0])
            address = f"{peername[0]}:{peername[1]}"
            credentials = Credentials  # unknown: a remote peer may do nothing that needs it
            if local:
                credentials = functools.partial(peer.tcp_peer_credentials, peername, sockname)
        ident = next(self._ids)
        session = Session(
            self.store,
            Lease("connection", ident),
            local=local,
            credentials=credentials,
            check_pid=pidwatch.check_pid_request,
            daemon_uid=self._uid,
            max_line_bytes=self.max_line_bytes,
            version=__version__,
            pid=os.getpid(),
            lookup=self._lookup if self.cluster is not None else None,
            cluster_status=self._cluster_status,
            index=self.index,
            max_watches=self.max_watches,
            unix_socket=unix,
            log=self._raw_log,
        )
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio runs handlers as tasks
            raise RuntimeError("a connection handler must run in a task")
        conn = self._connections[session] = _Connection(writer, task)
        self._counts["connections_total"] += 1
        self.log.debug("connection_opened", connection=ident, peer=address, local=local)
        try:
            await self._converse(session, conn, reader)
        except (ConnectionError, OSError) as e:
            self.log.debug("connection_lost", connection=ident, error=str(e))
        except Exception:
            self.log.exception("connection_failed", connection=ident)
        finally:
            del self._connections[session]
            self._publish(session.close().events)
            self.log.debug(
                "connection_closed",
                connection=ident,
                dialect=session.dialect and session.dialect.value,
            )
            await self._close_writer(writer)

    async def _converse(
        self, session: Session, conn: _Connection, reader: asyncio.StreamReader
    ) -> None:
        """Feed what arrives to ``session`` and carry out its outputs, until it ends.

        Part of a line that waits longer than ``line_timeout`` for its end
        ends the connection.
        """
        loop = asyncio.get_running_loop()
        line_started = 0.0  # loop time when the incomplete line began
        while not session.closed:
            deadline = line_started + self.line_timeout if session.buffered else None
            try:
                async with asyncio.timeout_at(deadline) as timeout:
                    data = await reader.read(_READ_BYTES)
            except TimeoutError:
                if not timeout.expired():
                    raise  # the socket's own (an OSError)
                self._counts["line_timeouts"] += 1
                self.log.info(
                    "line_timeout", connection=session.lease.ident, timeout=self.line_timeout
                )
                return
            if not data:
                return
            before = session.buffered
            out = session.feed(data)
            if session.buffered and (not before or session.buffered < before + len(data)):
                line_started = loop.time()  # a new incomplete line began: its time runs from now
            self._publish(out.events, conn, reply=out.data)
            for pid in out.watch_pids:
                if self._pidwatch is not None:
                    self._pidwatch.watch(pid)
            if out.terminate:
                self._terminate()
            await conn.writer.drain()

    async def _close_writer(self, writer: asyncio.StreamWriter) -> None:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), self.shutdown_timeout)
        except BaseException as e:  # (TimeoutError and ConnectionError are OSErrors)
            writer.transport.abort()
            if not isinstance(e, OSError):
                raise

    def _lookup(self, query: Query | None) -> list[PortEntry]:
        """The entries native list/find/watch answer with: local and cluster."""
        local = self.store.entries(query)
        return local if self.cluster is None else self.cluster.entries(local, query)

    def _cluster_status(self) -> ClusterStatus | None:
        return None if self.cluster is None else self.cluster.status()

    def _publish(
        self,
        events: Sequence[PortEvent],
        origin: _Connection | None = None,
        reply: bytes | bytearray = b"",
    ) -> None:
        """Local ``events``: publish them to the cluster, push them to the watchers.

        The cluster goes first (its way to other hosts is the longest), then
        ``reply`` to ``origin`` (whose session made the events), then the
        other watchers.
        """
        if events and self.cluster is not None:
            self.cluster.local_changed(events)
        if reply and origin is not None:
            origin.writer.write(reply)
        self._push(events, origin)

    def _push(self, events: Sequence[PortEvent], origin: _Connection | None = None) -> None:
        """Push ``events`` to the watchers, except ``origin`` (its session already did).

        Only the watches of the events' services and the general ones are
        visited (`WatchIndex`), not every watch.
        """
        if not events:
            return
        for owner, routed in self.index.route(events).items():
            session = cast(Session, owner)
            conn = self._connections.get(session)
            if conn is None or conn is origin or session.closed:
                continue
            writer = conn.writer
            if writer.is_closing():
                continue
            writer.write(Session.encode_events(routed))
            if writer.transport.get_write_buffer_size() > self.max_write_buffer:
                self._counts["watchers_dropped"] += 1
                self.log.warning("watcher_too_slow", connection=session.lease.ident)
                writer.transport.abort()

    def _pid_exited(self, pid: int) -> None:
        events = self.store.end_lease(Lease("pid", pid)).events
        if events:
            self.log.info("pid_lease_ended", pid=pid, ports=[e.port for e in events])
        self._publish(events)
