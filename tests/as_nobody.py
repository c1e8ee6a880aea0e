"""A registry client running as user ``nobody``, for the trust tests (root only)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

import pytest

needs_root = pytest.mark.skipif(
    not (hasattr(os, "getuid") and os.getuid() == 0 and shutil.which("setpriv")),
    reason="needs root and setpriv (to run a registry client as user nobody)",
)
"""Mark for a module whose tests run a client as user nobody."""

SERVICE = "mount.csc.command"
"""The name the client registers: the one a console looks up to connect."""

_SCRIPT = f"""
import asyncio, sys
from mountcomm.registry import PortRegistry

async def main():
    async with PortRegistry(sys.argv[1], int(sys.argv[2]), timeout=5) as registry:
        for port in sys.argv[3:]:
            await registry.register({SERVICE!r}, int(port))
        print("registered", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


async def register_as_nobody(
    host: str, port: int, *service_ports: int, timeout: float
) -> asyncio.subprocess.Process:
    """Start a client as user nobody that registers ``service_ports`` and holds them.

    Returns once they are registered; `release` ends the client.
    """
    proc = await asyncio.create_subprocess_exec(
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        sys.executable,
        "-c",
        _SCRIPT,
        host,
        str(port),
        *map(str, service_ports),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/",
    )
    assert proc.stdout is not None
    line = b"-"
    while line and line != b"registered\n":  # (its log lines may come first)
        line = await asyncio.wait_for(proc.stdout.readline(), 2 * timeout)
    if line != b"registered\n":
        proc.kill()
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
        raise AssertionError(f"the client as nobody failed: {err.decode()[-2000:]}")
    return proc


async def release(proc: asyncio.subprocess.Process, timeout: float) -> None:
    """End the client (its registrations go with its connection)."""
    assert proc.stdin is not None
    proc.stdin.close()
    await asyncio.wait_for(proc.communicate(), timeout)
