"""The trust model of lookups applies to other hosts' entries: by the uid their daemon verified."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import sys

import pytest

from mountcomm.registry.client import ANY_USER, PortRegistry

from .conftest import daemon
from .test_two_hosts import HOST_A, HOST_B, T

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "getuid") and os.getuid() == 0 and shutil.which("setpriv")),
    reason="needs root and setpriv (to register as user nobody)",
)

_NOBODY_SCRIPT = """
import asyncio, sys
from mountcomm.registry import PortRegistry

async def main():
    async with PortRegistry(sys.argv[1], int(sys.argv[2]), timeout=5) as registry:
        await registry.register("mount.csc.command", int(sys.argv[3]))
        print("registered", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


async def register_as_nobody(host: str, port: int, service_port: int) -> asyncio.subprocess.Process:
    """A client running as user nobody that registers ``service_port`` and holds it."""
    proc = await asyncio.create_subprocess_exec(
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        sys.executable,
        "-c",
        _NOBODY_SCRIPT,
        host,
        str(port),
        str(service_port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/",
    )
    assert proc.stdout is not None
    line = b"-"
    while line and line != b"registered\n":  # (its log lines may come first)
        line = await asyncio.wait_for(proc.stdout.readline(), 2 * T)
    if line != b"registered\n":
        proc.kill()
        _, err = await asyncio.wait_for(proc.communicate(), T)
        raise AssertionError(f"the client as nobody failed: {err.decode()[-2000:]}")
    return proc


async def test_remote_entries_are_trusted_by_the_uid_their_daemon_verified(etcd):
    nobody = pwd.getpwnam("nobody").pw_uid
    async with daemon(etcd, HOST_A) as a, daemon(etcd, HOST_B) as b:
        await a.cluster.wait_connected(T)
        await b.cluster.wait_connected(T)
        proc = await register_as_nobody(HOST_A, a.port, 1111)
        try:
            async with (
                PortRegistry(HOST_A, a.port) as on_a,
                PortRegistry(HOST_B, b.port, timeout=T) as on_b,
            ):
                # B sees nobody's entry on A (find and list show every owner) ...
                async with on_b.watch(service="mount.csc.command", trusted_users=ANY_USER) as seen:
                    first = await asyncio.wait_for(anext(seen), T)
                assert (first.host, first.port, first.user) == (HOST_A, 1111, "nobody")
                [found] = await on_b.find(service="mount.csc.command")
                assert (found.host, found.user) == (HOST_A, "nobody")
                # ... with the uid A verified, as published
                [record] = b.cluster.view.records()
                assert (record.user, record.uid) == ("nobody", nobody)
                # but a lookup made to connect does not take it: nobody is not trusted
                with pytest.raises(TimeoutError):
                    await on_b.wait_for("mount.csc.command", timeout=0.3)
                # unless the caller trusts that user
                trusted = await on_b.wait_for(
                    "mount.csc.command", timeout=T, trusted_users=["nobody"]
                )
                assert trusted == 1111
                # root's entry on A is trusted on B (root, and the caller's own user)
                waiter = asyncio.create_task(on_b.wait_for("mount.csc.command", timeout=T))
                await on_a.register("mount.csc.command", 2222)
                assert await asyncio.wait_for(waiter, T) == 2222
                async with on_b.watch(service="mount.csc.command") as events:
                    entry = await asyncio.wait_for(anext(events), T)
                    assert (entry.host, entry.port, entry.user) == (HOST_A, 2222, "root")
                    assert [(e.host, e.port) for e in events.entries] == [(HOST_A, 2222)]
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            await asyncio.wait_for(proc.communicate(), T)
