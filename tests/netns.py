"""Network namespaces for partition tests: two hosts joined by a cable you can pull.

Needs root (``CAP_SYS_ADMIN``) and the ``ip`` command (iproute2); `require_root`
skips the calling test with a reason otherwise. Everything is created with a name
unique to this process and removed in ``finally``, whatever happens.

Typical use::

    from tests.netns import require_root, veth_network

    async def test_partition():
        require_root()
        with veth_network() as net:                      # namespaces a and b, veth between
            async with net.a.loop() as a, net.b.loop() as b:
                server = await a.run(start_server, net.a.address)   # runs inside namespace a
                client = await b.run(connect, net.a.address, port)  # runs inside namespace b
                net.set_link(up=False)                   # pull the cable (both directions)
                ...
                net.set_link(up=True)                    # plug it back

The API:

`veth_network()`
    Context manager yielding a `VethNetwork`: namespaces ``a`` and ``b``, each
    with loopback up and one end of a veth pair, addressed ``10.X.Y.1/24`` (a) and
    ``10.X.Y.2/24`` (b) with X, Y random (private addresses inside private
    namespaces: nothing outside them is touched).
`namespace()`
    Context manager yielding one `Namespace` with only loopback up.
`Namespace`
    ``name``, ``address`` (its veth address, or ``127.0.0.1``), ``exec(*argv)``
    (run a command inside, e.g. ``sysctl``), ``loop()`` (an async context manager
    yielding a `NamespaceLoop`).
`NamespaceLoop`
    An event loop running in a thread that has entered the namespace: every
    socket created by code it runs lives in that namespace (a socket keeps its
    namespace for life). ``await ns_loop.run(coro_fn, *args, **kwargs)``
    runs ``coro_fn(*args, **kwargs)`` there and returns its result (cancelling the caller cancels
    it). Objects created there must only be used through ``run`` (they belong to
    that loop). On exit the loop cancels what is still running, and closes.
`VethNetwork.set_link(up)`
    Take namespace a's end of the veth down or up: with it down, nothing passes
    in either direction (the peer end loses its carrier), as when a cable is
    pulled; established TCP connections are not told.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import secrets
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from tests.timing import UNIT

__all__ = [
    "Namespace",
    "NamespaceLoop",
    "VethNetwork",
    "namespace",
    "require_root",
    "veth_network",
]

_T = TypeVar("_T")
_CLONE_NEWNET = 0x40000000
_COMMAND_TIMEOUT = 10 * UNIT
"""Bound on each ``ip`` / ``sysctl`` command [s]."""
_LOOP_CLOSE_TIMEOUT = 5 * UNIT
"""Bound on stopping a namespace's loop thread [s]."""


def require_root() -> None:
    """Skip the calling test (with the reason) unless namespaces can be made here."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CI runs as root)")
    if shutil.which("ip") is None:
        pytest.skip("network namespaces need the ip command (iproute2)")


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=_COMMAND_TIMEOUT)


def _unique(prefix: str) -> str:
    return f"{prefix}{os.getpid() % 100000}{secrets.token_hex(2)}"


def _enter(name: str) -> None:
    """Move the calling thread into namespace ``name``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({name}): {os.strerror(errno)}")
    finally:
        os.close(fd)


class NamespaceLoop:
    """An asyncio event loop in a thread inside a network namespace (see the module doc)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name=f"netns-{name}", daemon=True)

    def _main(self) -> None:
        try:
            _enter(self.name)
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
        except BaseException as e:
            self._started.set_exception(e)
            return
        self._loop = loop
        self._started.set_result(None)
        try:
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    async def start(self) -> None:
        """Start the thread and wait until its loop runs inside the namespace."""
        self._thread.start()
        await asyncio.wrap_future(self._started)

    async def run(self, fn: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any) -> _T:
        """Run ``await fn(*args, **kwargs)`` on this loop (inside the namespace).

        Returns its result or raises its exception; cancelling the caller
        cancels it.
        """
        if self._loop is None:
            raise RuntimeError(f"the loop of namespace {self.name} is not running")

        async def call() -> _T:
            return await fn(*args, **kwargs)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), self._loop))

    async def close(self) -> None:
        """Stop the loop (cancelling what still runs there) and wait for its thread."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.ident is not None:
            await asyncio.to_thread(self._thread.join, _LOOP_CLOSE_TIMEOUT)


@dataclass
class Namespace:
    """One network namespace (see the module doc)."""

    name: str
    address: str = "127.0.0.1"
    interface: str | None = None

    def exec(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        """Run a command inside the namespace (checked, bounded)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            check=True,
            capture_output=True,
            timeout=_COMMAND_TIMEOUT,
        )

    @contextlib.asynccontextmanager
    async def loop(self) -> AsyncIterator[NamespaceLoop]:
        """An event loop whose sockets live in this namespace, stopped on exit."""
        ns_loop = NamespaceLoop(self.name)
        try:
            await ns_loop.start()
            yield ns_loop
        finally:
            await ns_loop.close()


@dataclass
class VethNetwork:
    """Two namespaces joined by a veth pair (see the module doc)."""

    a: Namespace
    b: Namespace

    def set_link(self, up: bool) -> None:
        """Plug (``up=True``) or pull (``up=False``) the cable between a and b."""
        if self.a.interface is None:
            raise RuntimeError("namespace a has no veth end")
        _run("ip", "-n", self.a.name, "link", "set", self.a.interface, "up" if up else "down")


@contextlib.contextmanager
def namespace() -> Iterator[Namespace]:
    """A fresh namespace with loopback up; removed on exit."""
    ns = Namespace(_unique("mcns"))
    _run("ip", "netns", "add", ns.name)
    try:
        _run("ip", "-n", ns.name, "link", "set", "lo", "up")
        yield ns
    finally:
        _run("ip", "netns", "delete", ns.name)


@contextlib.contextmanager
def veth_network() -> Iterator[VethNetwork]:
    """Namespaces a and b joined by a veth pair with fresh private addresses."""
    subnet = f"10.{secrets.randbelow(254) + 1}.{secrets.randbelow(254) + 1}"
    with namespace() as a, namespace() as b:
        a.interface, b.interface = _unique("va"), _unique("vb")
        a.address, b.address = f"{subnet}.1", f"{subnet}.2"
        # Created inside a, its peer moved into b: nothing is left in the root
        # namespace, and deleting the namespaces deletes the pair.
        _run("ip", "-n", a.name, "link", "add", a.interface, "type", "veth", "peer", "name",
             b.interface, "netns", b.name)  # fmt: skip
        for ns in (a, b):
            _run("ip", "-n", ns.name, "addr", "add", f"{ns.address}/24", "dev", ns.interface)
            _run("ip", "-n", ns.name, "link", "set", ns.interface, "up")
        yield VethNetwork(a, b)
