"""Two hosts for real: two network namespaces joined by a veth pair (root only)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mountcomm.testing.etcd import EtcdServer, EtcdUnavailableError
from tests.timing import UNIT

from .conftest import _LISTENING, TTL

T = 10 * UNIT

# Holds a port registered on host A until its stdin closes.
OWNER = """
import asyncio, socket, sys
from mountcomm import log
from mountcomm.registry.client import PortRegistry
log.configure(level="error", stream=sys.stderr)
async def main():
    sock = socket.socket(); sock.bind((sys.argv[1], 0))
    async with PortRegistry(sys.argv[1], int(sys.argv[2])) as reg:
        await reg.register("svc", sock.getsockname()[1])
        print("registered", sock.getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""

# On host B: wait for svc, print where it is, then print when it is removed.
WATCHER = """
import asyncio, sys
from mountcomm import log
from mountcomm.registry.client import PortRegistry
log.configure(level="error", stream=sys.stderr)
async def main():
    async with PortRegistry(sys.argv[1], int(sys.argv[2])) as reg:
        async with reg.watch(service="svc") as events:
            async for event in events:
                print(event.kind, event.host, event.port, flush=True)
                if event.kind == "removed":
                    return
asyncio.run(main())
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=T)


@contextlib.contextmanager
def two_namespaces():
    """Namespaces A and B (unique names) joined by a veth pair; removed afterwards."""
    tag = secrets.token_hex(3)
    ns_a, ns_b, veth_a, veth_b = f"mcA{tag}", f"mcB{tag}", f"vA{tag}", f"vB{tag}"
    subnet = f"10.{secrets.randbelow(200) + 20}.{secrets.randbelow(250)}"
    addr_a, addr_b = f"{subnet}.1", f"{subnet}.2"
    try:
        ip("netns", "add", ns_a)
        ip("netns", "add", ns_b)
        ip("link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        ip("link", "set", veth_a, "netns", ns_a)
        ip("link", "set", veth_b, "netns", ns_b)
        for ns, dev, addr in ((ns_a, veth_a, addr_a), (ns_b, veth_b, addr_b)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield (ns_a, addr_a), (ns_b, addr_b)
    finally:
        for ns in (ns_a, ns_b):  # deleting a namespace deletes its end of the veth pair
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)


async def spawn(ns: str, *argv: str, stdin: int | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, *argv,
        stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def start_daemon(
    ns: str, host: str, etcd: EtcdServer
) -> tuple[asyncio.subprocess.Process, int]:
    proc = await spawn(
        ns, "-m", "mountcomm.cli", "registry", "--host", host, "--port", "0",
        "--pool", "ephemeral", "--cluster", etcd.url, "--lease-ttl", str(TTL),
    )  # fmt: skip
    assert proc.stdout is not None
    match = _LISTENING.search(await asyncio.wait_for(proc.stdout.readline(), T))
    assert match is not None, "daemon did not start"
    return proc, int(match.group(1))


async def readline(proc: asyncio.subprocess.Process) -> list[str]:
    assert proc.stdout is not None
    return (await asyncio.wait_for(proc.stdout.readline(), T)).decode().split()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="network namespaces need root")
async def test_two_namespaces_find_each_other_and_see_a_host_die(tmp_path):
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    procs: list[asyncio.subprocess.Process] = []
    with two_namespaces() as ((ns_a, addr_a), (ns_b, addr_b)):
        etcd = EtcdServer(tmp_path, host=addr_a, netns=ns_a)
        try:
            await etcd.start()
        except EtcdUnavailableError as e:
            pytest.skip(f"etcd cannot run here: {e}")
        try:
            daemon_a, port_a = await start_daemon(ns_a, addr_a, etcd)
            procs.append(daemon_a)
            daemon_b, port_b = await start_daemon(ns_b, addr_b, etcd)
            procs.append(daemon_b)
            owner = await spawn(
                ns_a, "-c", OWNER, addr_a, str(port_a), stdin=asyncio.subprocess.PIPE
            )
            procs.append(owner)
            watcher = await spawn(ns_b, "-c", WATCHER, addr_b, str(port_b))
            procs.append(watcher)
            registered = await readline(owner)
            assert registered[0] == "registered"
            # B, in its own namespace, sees A's entry with A's address
            assert await readline(watcher) == ["added", addr_a, registered[1]]
            daemon_a.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            assert await readline(watcher) == ["removed", addr_a, registered[1]]
            assert time.monotonic() - killed <= TTL + 1
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
            await etcd.close()
