"""Fixtures of the cluster tests: a private etcd, and registry daemons as hosts."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator

import pytest

from mountcomm.registry.cluster import ClusterSettings
from mountcomm.registry.server import RegistryServer
from mountcomm.testing.etcd import EtcdServer, EtcdUnavailableError
from tests.timing import UNIT

TTL = 2
"""Lease TTL of the test daemons [s] (short, to see a host's death quickly)."""

HOST_A = "127.0.0.2"
HOST_B = "127.0.0.3"
"""The two "hosts": loopback addresses of their own."""

T = 10 * UNIT
"""Generous bound on any wait [s]."""


@contextlib.asynccontextmanager
async def running(server: EtcdServer) -> AsyncIterator[EtcdServer]:
    """Start ``server`` (the test is skipped, saying why, if etcd cannot run here); stop it."""
    try:
        await server.start()
    except EtcdUnavailableError as e:
        await server.close()
        pytest.skip(f"etcd cannot run here: {e}")
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def etcd(tmp_path) -> AsyncIterator[EtcdServer]:
    """A private etcd on free loopback ports, with a temporary data directory."""
    async with running(EtcdServer(tmp_path)) as server:
        yield server


def cluster_settings(etcd: EtcdServer, ttl: int = TTL) -> ClusterSettings:
    """Settings of a daemon of the test cluster."""
    return ClusterSettings(etcd.endpoints, ttl=ttl, op_timeout=1.0 * UNIT)


def daemon(etcd: EtcdServer, host: str, **kwargs) -> RegistryServer:
    """A registry daemon serving (and advertised) on ``host``, in the test cluster."""
    return RegistryServer(host, 0, pool=None, cluster=cluster_settings(etcd), **kwargs)


@contextlib.asynccontextmanager
async def two_hosts(etcd: EtcdServer) -> AsyncIterator[tuple[RegistryServer, RegistryServer]]:
    """Daemons on `HOST_A` and `HOST_B`, both joined to the cluster."""
    async with daemon(etcd, HOST_A) as a, daemon(etcd, HOST_B) as b:
        await a.cluster.wait_connected(T)
        await b.cluster.wait_connected(T)
        yield a, b


class Proxy:
    """A TCP relay in front of etcd that a test can cut and restore (a partition).

    While cut, it refuses new connections and has closed the open ones.
    """

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.target = target
        self.host = host
        self.port = 0
        self.cut = False
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoints(self) -> tuple[tuple[str, int], ...]:
        return ((self.host, self.port),)

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self.sever()
        await self._server.wait_closed()

    async def sever(self) -> None:
        """Cut: close every relayed connection and refuse new ones."""
        self.cut = True
        for writer in list(self._writers):
            writer.transport.abort()
        if self._links:
            await asyncio.wait(self._links)

    def restore(self) -> None:
        """Relay new connections again."""
        self.cut = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._links.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in (writer, up_writer):
                w.transport.abort()
                self._writers.discard(w)
            await asyncio.gather(*pipes, return_exceptions=True)
            self._links.difference_update(pipes)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass


_LISTENING = re.compile(rb"listening on \S+:(\d+)")


async def start_daemon_process(
    etcd: EtcdServer, host: str, *args: str
) -> tuple[asyncio.subprocess.Process, int]:
    """Run ``mountcomm registry`` on ``host`` in the test cluster; return it and its port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mountcomm.cli",
        "registry",
        "--host",
        host,
        "--port",
        "0",
        "--pool",
        "ephemeral",
        "--cluster",
        etcd.url,
        "--lease-ttl",
        str(TTL),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), T)
    match = _LISTENING.search(line)
    if match is None:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"daemon did not start: {line!r}")
    return proc, int(match.group(1))
